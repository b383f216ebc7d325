/* 佐证材料库: confirmations, and a page opened from a search hit. No inline scripts (CSP).
   The upload page and the queue have their own script (upload.js). */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // a table wider than the screen scrolls sideways: it takes focus so the keyboard can too
  function focusableScrollers() {
    document.querySelectorAll(".table").forEach(function (table) {
      if (table.scrollWidth > table.clientWidth + 1) {
        table.setAttribute("tabindex", "0");
      } else if (table.getAttribute("tabindex") === "0") {
        table.removeAttribute("tabindex");
      }
    });
  }
  document.addEventListener("DOMContentLoaded", focusableScrollers);
  window.addEventListener("resize", focusableScrollers);

  window.addEventListener("load", function () {  // a page opened from a hit, once images are in
    var first = document.querySelector("pre.page-text mark");
    if (first) first.scrollIntoView({ block: "center" });
  });
})();
