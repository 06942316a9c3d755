/* Fairtask worker pages: live countdowns, keyboard shortcuts, the sprint timer.
 * No build step, no dependencies. Everything here is an enhancement: without it the
 * pages still show the time left (rendered by the server) and every action is a form.
 *
 * <time data-deadline="ISO">        counts down to the deadline; at zero the element's
 *                                   [data-expire-remove] ancestor (a queue row) goes away,
 *                                   or on the task page the work bar says time is up.
 * [data-key="r"]                    Alt+R (also pressed inside the task frame) clicks it.
 * [data-sprint-end="ISO"]           the sprint timer; at zero the stop banner shows.
 */
(function () {
  "use strict";

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function left(seconds) {
    if (seconds <= 0) { return "time is up"; }
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + ":" + pad(m) : String(m)) + ":" + pad(s);
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("time[data-deadline]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-deadline"));
      if (isNaN(end)) { return; }
      var seconds = Math.max(0, Math.round((end - now) / 1000));
      el.textContent = left(seconds);
      if (seconds > 0) { return; }
      var row = el.closest("[data-expire-remove]");
      if (row) {
        var list = row.parentNode;
        row.remove();
        if (list && !list.querySelector("[data-expire-remove]")) {
          var empty = document.querySelector("[data-queue-empty]");
          if (empty) { empty.hidden = false; }
        }
      } else {
        var bar = el.closest(".work-bar");
        if (bar && !bar.querySelector(".expired-note")) {
          var note = document.createElement("p");
          note.className = "expired-note bad";
          note.setAttribute("role", "alert");
          note.textContent = "The time allotted has run out: this task can no longer be submitted.";
          bar.appendChild(note);
        }
      }
    });
    document.querySelectorAll("[data-sprint-end]").forEach(function (el) {
      var end = Date.parse(el.getAttribute("data-sprint-end"));
      if (isNaN(end)) { return; }
      var seconds = Math.max(0, Math.round((end - now) / 1000));
      var out = el.querySelector("[data-sprint-left]");
      if (out) { out.textContent = left(seconds); }
      var over = el.querySelector("[data-sprint-over]");
      if (seconds === 0 && over && over.hidden) { over.hidden = false; }
    });
  }

  function press(key) {
    var target = document.querySelector('[data-key="' + key + '"]');
    if (!target) { return false; }
    target.click();
    return true;
  }

  document.addEventListener("keydown", function (event) {
    if (!event.altKey || event.ctrlKey || event.metaKey || !/^[a-z]$/i.test(event.key)) { return; }
    if (press(event.key.toLowerCase())) { event.preventDefault(); }
  });
  // Shortcuts pressed while the focus is inside the sandboxed task (taskframe.js checks
  // that the message came from the task frame before raising this event).
  document.addEventListener("fairtask:shortcut", function (event) { press(event.detail); });

  // A work form is sent once: a second click or Ctrl+Enter while the first is on its
  // way would only be refused by the server.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
    if (form.hasAttribute("data-sent")) { event.preventDefault(); return; }
    form.setAttribute("data-sent", "");
  });

  // Coming back to a page from the history cache: its forms may be sent again.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[data-sent]").forEach(function (f) { f.removeAttribute("data-sent"); });
  });

  tick();
  setInterval(tick, 1000);
})();
