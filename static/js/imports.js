// Import pages: the drop zone of the upload form, the mapping form over htmx and the live
// progress of a running import. Every page works without JavaScript (plain form posts, and
// the progress page shows where the job was when it was loaded).
(function () {
  "use strict";

  function formatBytes(size) {
    var units = [["GB", 1073741824], ["MB", 1048576], ["KB", 1024]];
    for (var i = 0; i < units.length; i++) {
      if (size >= units[i][1]) { return (size / units[i][1]).toFixed(1).replace(/\.0$/, "") + " " + units[i][0]; }
    }
    return size + " bytes";
  }

  // --- drop zone: a real <input type=file> with a label; dropping a file fills that input ---
  function setUpDropZone(zone) {
    var input = zone.querySelector("input[type=file]");
    var form = zone.closest("form");
    var nameOut = zone.querySelector("[data-dropzone-file]");
    var errorOut = form.querySelector("[data-dropzone-error]");
    var submit = form.querySelector("[data-upload-submit]");
    var maxBytes = parseInt(zone.getAttribute("data-max-bytes"), 10);

    function check() {
      var file = input.files && input.files[0];
      var tooBig = file && maxBytes && file.size > maxBytes;
      nameOut.textContent = file ? "Selected: " + file.name + " (" + formatBytes(file.size) + ")" : "";
      errorOut.hidden = !tooBig;
      errorOut.textContent = tooBig ? "This file is " + formatBytes(file.size) + "; the limit is " +
        zone.getAttribute("data-max-size") + ". Split it into smaller files, or remove columns you don't need." : "";
      zone.classList.toggle("has-error", !!tooBig);
      submit.disabled = !!tooBig;
    }

    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) {
        event.preventDefault();
        zone.classList.add("dragging");
      });
    });
    ["dragleave", "dragend"].forEach(function (type) {
      zone.addEventListener(type, function () { zone.classList.remove("dragging"); });
    });
    zone.addEventListener("drop", function (event) {
      event.preventDefault();
      zone.classList.remove("dragging");
      var files = event.dataTransfer && event.dataTransfer.files;
      if (!files || !files.length) { return; }
      var transfer = new DataTransfer();  // keeps one file even when several are dropped
      transfer.items.add(files[0]);
      input.files = transfer.files;
      check();
      input.focus();
    });
    input.addEventListener("change", check);
    form.addEventListener("submit", function () {
      if (!submit.disabled) { submit.textContent = "Uploading…"; }
    });
    // A file dropped next to the zone would otherwise make the browser leave the page.
    window.addEventListener("dragover", function (event) { event.preventDefault(); });
    window.addEventListener("drop", function (event) { event.preventDefault(); });
    check();
  }

  // --- mapping page: the read settings form re-reads the file over htmx; its answer to a bad
  // value is a 400 page that must still replace the form, so the message is seen ---
  document.addEventListener("htmx:beforeSwap", function (event) {
    var elt = event.detail.elt;
    if (event.detail.xhr.status === 400 && elt && elt.closest && elt.closest("#import-map")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // --- live progress: WebSocket first, polling every 2 s when it fails or closes early ---
  function setUpLive(live) {
    var done = false;
    var polling = false;
    var bar = live.querySelector("[role=progressbar]");

    function show(p) {
      var percent = Math.max(0, Math.min(100, p.percent || 0));
      if (bar && bar.hasAttribute("aria-valuenow")) {  // else no total is known yet
        bar.setAttribute("aria-valuenow", String(percent));
        bar.setAttribute("aria-valuetext", percent + "% (" + p.processed_rows + " of " + p.total_rows + " rows)");
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
    document.querySelectorAll("[data-dropzone]").forEach(setUpDropZone);
    document.querySelectorAll("[data-import-live]").forEach(setUpLive);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
