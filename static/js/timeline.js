// Activity timeline of a contact: when the server says there is new activity (WebSocket
// /ws/contacts/<id>/activity/), fetch the newest entries (from a little before the newest one
// shown) and merge those the list lacks into their places, without reloading. The list comes
// from the timeline view (htmx on the profile); without JavaScript the timeline is a plain page
// with links.
// Markup: section[data-timeline][data-ws-path] holding ol[data-timeline-list][data-live]
// with data-rows-url (the view with fragment=rows and the filters) and data-after (a cursor).
(function () {
  "use strict";

  function setUp(section) {
    var busy = false;
    var again = false;
    var delay = 1000;

    function liveList() {
      return section.querySelector("ol[data-timeline-list][data-live]");
    }

    // Keys are "<microseconds>.<kind>.<id>" (engagement.timeline.Cursor); newest first.
    function parseKey(key) {
      var parts = key.split(".");
      return [Number(parts[0]), parts[1], Number(parts[2])];
    }
    function isNewer(a, b) {
      for (var i = 0; i < 3; i++) {
        if (a[i] !== b[i]) { return a[i] > b[i]; }
      }
      return false;
    }

    // Merge the entries the list lacks, each in its place (the answer overlaps what is shown).
    function insert(list, html) {
      var holder = document.createElement("ol");
      holder.innerHTML = html;
      var added = 0;
      Array.prototype.slice.call(holder.children).forEach(function (li) {
        var key = li.getAttribute("data-key");
        if (!key) {  // a notice (more new activity than one answer holds)
          if (!list.querySelector("[data-timeline-gap]")) { list.insertBefore(li, list.firstElementChild); }
          return;
        }
        if (list.querySelector('li[data-key="' + key + '"]')) { return; }
        var mine = parseKey(key);
        var shown = list.querySelectorAll("li[data-key]");
        var before = null;
        for (var i = 0; i < shown.length; i++) {
          if (isNewer(mine, parseKey(shown[i].getAttribute("data-key")))) { before = shown[i]; break; }
        }
        if (!before && section.querySelector("#timeline-more a")) { return; }  // on an older page
        var empty = list.querySelector("[data-timeline-empty]");
        if (empty) { empty.remove(); }
        li.classList.add("timeline-new");
        list.insertBefore(li, before);
        added += 1;
      });
      var newest = list.querySelector("li[data-key]");
      if (newest) { list.setAttribute("data-after", newest.getAttribute("data-key")); }
      var status = section.querySelector("[data-timeline-status]");
      if (added && status) {
        status.textContent = added === 1 ? "1 new activity entry." : added + " new activity entries.";
      }
      if (added) {
        section.dispatchEvent(new CustomEvent("timeline:updated", { bubbles: true, detail: { added: added } }));
      }
    }

    function refresh() {
      var list = liveList();
      if (!list) { return; }  // not loaded yet (it will come fresh), filtered to the past or paged
      if (busy) { again = true; return; }
      busy = true;
      var url = list.getAttribute("data-rows-url") + "&after=" + encodeURIComponent(list.getAttribute("data-after") || "");
      fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
        .then(function (response) { return response.ok ? response.text() : ""; })
        .then(function (html) {
          if (!list.isConnected) { again = true; return; }  // new filters swapped the list
          if (html.trim()) { insert(list, html); }
        })
        .catch(function () { /* offline for a moment: the next message or reconnect catches up */ })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }

    function connect() {
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + window.location.host + section.getAttribute("data-ws-path"));
      socket.onopen = function () {
        delay = 1000;
        section.setAttribute("data-live-state", "open");
        // What happened between loading the list and now (or while we were away): the
        // server only announces changes after the socket is open.
        refresh();
      };
      socket.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (err) { return; }
        if (event && event.action === "activity") { refresh(); }
      };
      socket.onclose = function (closed) {
        section.setAttribute("data-live-state", "closed");
        if (closed.code === 4403 || closed.code === 4404) { return; }  // no access, or no contact
        window.setTimeout(connect, delay);
        delay = Math.min(delay * 2, 30000);
      };
    }

    // A panel swapped in (first load, new filters) may have been rendered just before an
    // announcement that found no list to update: ask once more.
    section.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail && event.detail.target === section) { refresh(); }
    });
    connect();
  }

  function init() {
    if (!("WebSocket" in window) || !window.fetch) { return; }
    document.querySelectorAll("section[data-timeline][data-ws-path]").forEach(setUp);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
