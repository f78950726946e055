// Contact table: a quiet "Contacts changed — Refresh" notice when another person, an import
// or the API changes contacts while the table is open. The table never reloads by itself, so
// nobody loses their place; without JavaScript or WebSocket the page simply has no notice.
// Lead scores are the exception: a "scores" event ({"action": "scores", "scores": {id:
// [score, band]}}) updates the Score cells of the rows on screen in place.
(function () {
  "use strict";
  // Filter form over htmx: leave empty fields out of the request, so the address bar shows
  // ?q=acme rather than ?q=acme&tag=&status=&created_from=&created_to=.
  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (!form.matches || !form.matches("form.filters")) { return; }
    var params = event.detail.parameters;
    Object.keys(params).forEach(function (name) {
      if (params[name] === "") { delete params[name]; }
    });
  });
})();

(function () {
  "use strict";
  var notice = document.getElementById("live-notice");
  if (!notice || !("WebSocket" in window)) { return; }
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var url = scheme + window.location.host + notice.getAttribute("data-live-path");
  var delay = 1000;

  function refresh(event) {
    notice.hidden = true;
    if (window.htmx && document.getElementById("contact-results")) {
      event.preventDefault();
      window.htmx.ajax("GET", window.location.href, { target: "#contact-results", swap: "outerHTML" });
    }
    // Otherwise the link's empty href reloads the page.
  }

  var BANDS = { hot: "Hot", warm: "Warm", cold: "Cold" };

  function updateScores(scores) {
    var results = document.getElementById("contact-results");
    if (!results || !scores) { return; }
    var changed = false;
    Object.keys(scores).forEach(function (id) {
      var pair = scores[id];
      if (!/^\d+$/.test(id) || !pair || !BANDS.hasOwnProperty(pair[1])) { return; }
      var row = results.querySelector('tr[data-contact-id="' + id + '"]');
      var cell = row && row.querySelector("td[data-score-cell]");
      if (!cell) { return; }
      var value = cell.querySelector(".score-value");
      var badge = cell.querySelector(".badge");
      if (value) { value.textContent = String(parseInt(pair[0], 10) || 0); }
      if (badge) {
        badge.className = "badge score-" + pair[1];
        badge.textContent = BANDS[pair[1]];
      }
      cell.classList.remove("live-changed");
      void cell.offsetWidth;  // restart the highlight
      cell.classList.add("live-changed");
      changed = true;
    });
    // Sorted or filtered by score, a new score may move a row: offer the refresh as well.
    var params = new URLSearchParams(window.location.search);
    if (changed && (/^-?score$/.test(params.get("sort") || "") || params.get("score_band"))) {
      notice.hidden = false;
    }
  }

  function connect() {
    var socket = new WebSocket(url);
    socket.onopen = function () {
      delay = 1000;
      notice.setAttribute("data-live-state", "open");
    };
    socket.onmessage = function (message) {
      var event;
      try { event = JSON.parse(message.data); } catch (err) { return; }
      if (event && event.action === "scores") { updateScores(event.scores); return; }
      if (event && event.action) { notice.hidden = false; }
    };
    socket.onclose = function (closed) {
      notice.setAttribute("data-live-state", "closed");
      if (closed.code === 4403) { return; }  // signed out or no access: do not retry
      window.setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);  // back off while the server is away
    };
  }

  var link = notice.querySelector("[data-live-refresh]");
  if (link) { link.addEventListener("click", refresh); }
  connect();
})();
