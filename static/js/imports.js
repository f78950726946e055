// Import pages: the drop zone of the upload form and the mapping form over htmx (the live
// progress of a running import is static/js/progress.js). Every page works without JavaScript (plain form posts, and
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

  function init() {
    document.querySelectorAll("[data-dropzone]").forEach(setUpDropZone);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
