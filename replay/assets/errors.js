// Runs first: every error and console.error of the page is written into #tapeflow-errors,
// so a reader sees it and a headless test (chromium --dump-dom) can read it.
(function () {
  "use strict";
  var box = document.getElementById("tapeflow-errors");
  var status = document.getElementById("tapeflow-status");
  function record(text) {
    box.hidden = false;
    box.textContent += "error: " + text + "\n";
    status.setAttribute("data-state", "error");
  }
  window.tapeflowError = record;
  window.addEventListener("error", function (event) {
    record((event.message || "error") + (event.filename ? " (" + event.filename + ":" + event.lineno + ")" : ""));
  });
  window.addEventListener("unhandledrejection", function (event) { record("unhandled rejection: " + event.reason); });
  document.addEventListener("securitypolicyviolation", function (event) {
    record("blocked loading " + event.blockedURI + " (" + event.violatedDirective + "): the page must be self-contained");
  });
  var original = console.error;
  console.error = function () {
    record(Array.prototype.map.call(arguments, String).join(" "));
    return original.apply(console, arguments);
  };
})();
