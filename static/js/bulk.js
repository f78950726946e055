// Contact tables: row checkboxes, "select all on this page", the "select all N matching"
// banner and the bulk-actions bar (shown once something is selected). The bar is a plain form
// (rows join it with form="bulk-form"), so it also works without JavaScript and is usable with
// the keyboard alone. The table part is swapped by htmx: everything is found again on each use.
(function () {
  "use strict";
  if (window.penguinBulk) { return; }  // the script comes again with each swapped table
  window.penguinBulk = true;

  function parts() {
    var form = document.querySelector("[data-bulk-form]");
    if (!form) { return null; }
    return {
      form: form,
      rows: Array.prototype.slice.call(document.querySelectorAll("[data-bulk-row]")),
      page: document.querySelector("[data-bulk-page]"),
      all: form.querySelector("[data-bulk-all-input]"),
      banner: form.querySelector("[data-bulk-banner]"),
      bannerText: form.querySelector("[data-bulk-banner-text]"),
      allButton: form.querySelector("[data-bulk-all]"),
      clear: form.querySelector("[data-bulk-clear]"),
      actions: form.querySelector("[data-bulk-actions]"),
      count: form.querySelector("[data-bulk-count]")
    };
  }

  function fmt(n) { return Number(n).toLocaleString("en-US"); }

  function update() {
    var p = parts();
    if (!p) { return; }
    var checked = p.rows.filter(function (r) { return r.checked; }).length;
    var onPage = p.rows.length;
    var total = parseInt(p.form.getAttribute("data-total"), 10) || 0;
    var about = p.form.getAttribute("data-total-estimate") ? "about " : "";
    var everything = p.all && p.all.checked;
    if (p.page) {
      p.page.checked = onPage > 0 && checked === onPage;
      p.page.indeterminate = checked > 0 && checked < onPage;
    }
    p.all.parentNode.hidden = true;  // the banner offers it instead
    p.actions.hidden = !(checked || everything);
    p.banner.hidden = !(everything || (onPage > 0 && checked === onPage && total > onPage));
    if (everything) {
      p.bannerText.textContent = "All " + about + fmt(total) + " matching contacts are selected.";
      p.count.textContent = about + fmt(total) + " selected";
    } else {
      p.bannerText.textContent = "All " + fmt(onPage) + " on this page are selected.";
      p.count.textContent = fmt(checked) + " selected";
    }
    if (p.allButton) { p.allButton.hidden = !!everything; }
    if (p.clear) { p.clear.hidden = !everything; }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    var p = parts();
    if (!p || !target.matches) { return; }
    if (target.matches("[data-bulk-page]")) {
      p.rows.forEach(function (r) { r.checked = target.checked; });
      if (!target.checked) { p.all.checked = false; }
      update();
    } else if (target.matches("[data-bulk-row]")) {
      if (!target.checked) { p.all.checked = false; }
      update();
    }
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    var p = parts();
    if (!p || !target.closest) { return; }
    if (target.closest("[data-bulk-all]")) {
      p.all.checked = true;
      p.rows.forEach(function (r) { r.checked = true; });
      update();
      p.clear.focus();
    } else if (target.closest("[data-bulk-clear]")) {
      p.all.checked = false;
      p.rows.forEach(function (r) { r.checked = false; });
      update();
      if (p.page) { p.page.focus(); }
    }
  });

  // Picking "all matching" sends the filters, not the ids of one page.
  document.addEventListener("submit", function (event) {
    var p = parts();
    if (!p || event.target !== p.form || !p.all.checked) { return; }
    p.rows.forEach(function (r) { r.disabled = true; });
  });

  document.addEventListener("htmx:afterSwap", update);
  // Back/forward may restore checked boxes from the page cache.
  window.addEventListener("pageshow", update);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", update);
  } else {
    update();
  }
})();
