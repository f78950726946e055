// Live progress of a background job (import, bulk action, export): WebSocket first, polling
// every 2 s when it fails or closes early; when the job ends the page reloads, and the server
// renders the result. Pages work without JavaScript (they show where the job was when loaded).
// Markup: an element with data-live-progress, data-poll-url and data-ws-path, holding a
// [role=progressbar] > .progress-bar, [data-progress-percent] and [data-count=<key>] elements;
// the bar's optional data-valuetext is the pattern of its aria-valuetext.
(function () {
  "use strict";

  function setUpLive(live) {
    var done = false;
    var polling = false;
    var bar = live.querySelector("[role=progressbar]");

    function show(p) {
      var percent = Math.max(0, Math.min(100, p.percent || 0));
      if (bar && bar.hasAttribute("aria-valuenow")) {  // else no total is known yet
        bar.setAttribute("aria-valuenow", String(percent));
        // The bar's data-valuetext says what the percentage counts ("{percent}% undone").
        var text = bar.getAttribute("data-valuetext") || "{percent}% ({processed} of {total} rows)";
        bar.setAttribute("aria-valuetext", text.replace("{percent}", String(percent))
          .replace("{processed}", String(p.processed_rows)).replace("{total}", String(p.total_rows)));
        bar.querySelector(".progress-bar").style.width = percent + "%";
        live.querySelector("[data-progress-percent]").textContent = String(percent);
      }
      live.querySelectorAll("[data-count]").forEach(function (el) {
        var value = p[el.getAttribute("data-count")];
        if (typeof value === "number") { el.textContent = value.toLocaleString("en-US"); }
      });
      document.querySelectorAll("[data-progress-status], [data-status-label]").forEach(function (el) {
        if (p.status_label) { el.textContent = p.status_label; }
      });
      if (!p.is_active && !done) {
        done = true;  // the server renders the result, the preview or the report
        window.location.reload();
      }
    }

    function poll() {
      if (polling || done) { return; }
      polling = true;
      (function tick() {
        fetch(live.getAttribute("data-poll-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
          .then(function (response) { return response.ok ? response.json() : null; })
          .then(function (p) { if (p) { show(p); } })
          .catch(function () { /* offline for a moment: try again */ })
          .then(function () { if (!done) { window.setTimeout(tick, 2000); } });
      })();
    }

    if (!("WebSocket" in window)) { poll(); return; }
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var socket;
    try {
      socket = new WebSocket(scheme + window.location.host + live.getAttribute("data-ws-path"));
    } catch (err) {
      poll();
      return;
    }
    socket.onmessage = function (message) {
      try { show(JSON.parse(message.data)); } catch (err) { /* not ours */ }
    };
    // Closed before a terminal state was seen (server restarted, proxy without WebSocket…).
    socket.onclose = function () { if (!done) { poll(); } };
  }

  function init() {
    document.querySelectorAll("[data-live-progress]").forEach(setUpLive);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
