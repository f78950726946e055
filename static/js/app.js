// Small progressive enhancements; every page works without JavaScript.
(function () {
  "use strict";
  // Confirm dangerous buttons: <button data-confirm="Delete 3 contacts?">
  document.addEventListener("click", function (event) {
    var el = event.target.closest("[data-confirm]");
    if (el && !window.confirm(el.getAttribute("data-confirm"))) {
      event.preventDefault();
    }
  });
  // Auto-dismiss flash messages after a while (they stay readable for screen readers).
  window.setTimeout(function () {
    document.querySelectorAll(".message-success").forEach(function (m) { m.classList.add("fade"); });
  }, 6000);
})();
