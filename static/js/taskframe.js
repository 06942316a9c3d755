/* Fairtask: the parent side of the sandboxed task frame (see tasks/frame.py).
 *
 * <iframe data-taskframe data-mode="preview" data-answers="#answers-id" ...>
 *   preview: show the answers the frame collected ("this is what would be submitted").
 * <iframe data-taskframe data-mode="work" data-submit-form="#form-id" ...>
 *   work: put the answers as JSON into the form's input named "answers" and submit it,
 *   so the request carries the worker's session and CSRF token, which the frame never sees.
 *
 * Only messages whose source is the frame's own window are accepted: another frame or
 * window posting a look-alike message is ignored. Answers are shown as text, never HTML.
 */
(function () {
  "use strict";

  var MAX_HEIGHT = 4000;
  var MIN_HEIGHT = 120;

  function frames() {
    return Array.prototype.slice.call(document.querySelectorAll("iframe[data-taskframe]"));
  }

  function frameFor(source) {
    var all = frames();
    for (var i = 0; i < all.length; i++) {
      if (source !== null && all[i].contentWindow === source) { return all[i]; }
    }
    return null;
  }

  function isPlainAnswers(value) {
    if (!value || typeof value !== "object" || Array.isArray(value)) { return false; }
    return Object.keys(value).every(function (key) {
      var v = value[key];
      if (typeof v === "string") { return true; }
      return Array.isArray(v) && v.every(function (x) { return typeof x === "string"; });
    });
  }

  function showAnswers(frame, answers) {
    var out = document.querySelector(frame.getAttribute("data-answers"));
    if (!out) { return; }
    var pre = out.querySelector("pre") || out.appendChild(document.createElement("pre"));
    pre.textContent = JSON.stringify(answers, null, 2);
    out.hidden = false;
    var heading = out.querySelector("[tabindex]");
    if (heading) { heading.focus(); }
  }

  function submitAnswers(frame, answers) {
    var form = document.querySelector(frame.getAttribute("data-submit-form"));
    if (!form) { return; }
    var input = form.querySelector("input[name=answers]");
    if (!input) { return; }
    input.value = JSON.stringify(answers);
    if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
  }

  window.addEventListener("message", function (event) {
    var frame = frameFor(event.source);
    if (!frame) { return; }
    var data = event.data;
    if (!data || typeof data !== "object") { return; }
    if (data.type === "fairtask:resize" && typeof data.height === "number" && isFinite(data.height)) {
      var height = Math.max(MIN_HEIGHT, Math.min(MAX_HEIGHT, Math.ceil(data.height) + 2));
      frame.style.height = height + "px";
      return;
    }
    if (data.type === "fairtask:shortcut" && typeof data.key === "string" && /^[a-z]$/.test(data.key)) {
      frame.dispatchEvent(new CustomEvent("fairtask:shortcut", { detail: data.key, bubbles: true }));
      return;
    }
    if (data.type === "fairtask:submit" && isPlainAnswers(data.answers)) {
      var answers = data.answers;
      frame.dispatchEvent(new CustomEvent("fairtask:answers", { detail: answers, bubbles: true }));
      if (frame.getAttribute("data-mode") === "work") {
        submitAnswers(frame, answers);
      } else {
        showAnswers(frame, answers);
      }
    }
  });

  // A new document in a frame (another preview row, say) hides the answers of the old one.
  document.addEventListener("load", function (event) {
    var frame = event.target;
    if (!frame || !frame.matches || !frame.matches("iframe[data-taskframe]")) { return; }
    var out = document.querySelector(frame.getAttribute("data-answers"));
    if (out) { out.hidden = true; }
  }, true);
})();
