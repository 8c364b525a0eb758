// mq console: reload the page every data-refresh seconds, unless the user
// is typing in a form (no inline script: the Content-Security-Policy forbids it).
(function () {
  "use strict";
  var seconds = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (!(seconds > 0)) { return; }
  var touched = false;
  document.addEventListener("input", function () { touched = true; });
  document.addEventListener("focusin", function (e) {
    if (e.target && /^(TEXTAREA|INPUT|SELECT)$/.test(e.target.tagName)) { touched = true; }
  });
  window.setInterval(function () {
    if (!touched && !document.hidden) { window.location.reload(); }
  }, seconds * 1000);
}());
