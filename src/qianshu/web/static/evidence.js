/* Qianshu evidence pages: hash a file locally (it never leaves the browser) for hash-only preservation. */
(function () {
  "use strict";
  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }
  function ready() {
    if (!(window.crypto && window.crypto.subtle)) return;  /* needs HTTPS (or localhost) */
    var boxes = document.querySelectorAll("[data-local-hash]");
    Array.prototype.forEach.call(boxes, function (box) {
      var input = box.querySelector("input[type=file][data-hash-target]");
      var target = input && document.getElementById(input.getAttribute("data-hash-target"));
      if (!target) return;
      box.hidden = false;
      input.addEventListener("change", function () {
        var file = input.files && input.files[0];
        if (!file) return;
        file.arrayBuffer().then(function (data) {
          return window.crypto.subtle.digest("SHA-256", data);
        }).then(function (digest) {
          target.value = hex(digest);
        });
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
