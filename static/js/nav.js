/* Fairtask: on a narrow screen the main navigation folds into a "Menu" button.
 * Loaded in <head> (not deferred) so that the "js" class is set before the first paint;
 * without JavaScript the links simply stay visible. The button is a real <button> with
 * aria-expanded, so it works with the keyboard; Escape closes the menu.
 * The listeners are on the document and registered at once (not on DOMContentLoaded),
 * so the button works from the moment it is painted, even while the rest of a slow page
 * is still loading. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  function parts() {
    return [document.getElementById("nav-toggle"), document.getElementById("nav-menu")];
  }
  function set(button, menu, open) {
    button.setAttribute("aria-expanded", open ? "true" : "false");
    menu.classList.toggle("open", open);
  }
  document.addEventListener("click", function (event) {
    var p = parts();
    if (!p[0] || !p[1] || !event.target.closest || !event.target.closest("#nav-toggle")) { return; }
    set(p[0], p[1], p[0].getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    var p = parts();
    if (event.key === "Escape" && p[0] && p[1] && p[0].getAttribute("aria-expanded") === "true") {
      set(p[0], p[1], false);
      p[0].focus();
    }
  });
})();
