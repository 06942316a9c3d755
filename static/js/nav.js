/* Fairtask: on a narrow screen the main navigation folds into a "Menu" button.
 * Loaded in <head> (not deferred) so that the "js" class is set before the first paint;
 * without JavaScript the links simply stay visible. The button is a real <button> with
 * aria-expanded, so it works with the keyboard; Escape closes the menu. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("nav-toggle");
    var menu = document.getElementById("nav-menu");
    if (!button || !menu) { return; }
    function set(open) {
      button.setAttribute("aria-expanded", open ? "true" : "false");
      menu.classList.toggle("open", open);
    }
    button.addEventListener("click", function () {
      set(button.getAttribute("aria-expanded") !== "true");
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && button.getAttribute("aria-expanded") === "true") {
        set(false);
        button.focus();
      }
    });
  });
})();
