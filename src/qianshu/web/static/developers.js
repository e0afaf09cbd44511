/* The developers page: after a POST that shows a one-time secret, make the address the plain page
   (a reload then shows the list, never the secret again), and offer a copy button. */
(function () {
  "use strict";
  function ready() {
    var box = document.getElementById("new-secret");
    if (box && window.history && window.history.replaceState) {
      window.history.replaceState(null, "", box.getAttribute("data-base"));
    }
    document.querySelectorAll("[data-copy]").forEach(function (button) {
      var field = document.querySelector(button.getAttribute("data-copy"));
      if (!field) return;
      button.hidden = false;
      button.addEventListener("click", function () {
        field.select();
        var done = function () { button.textContent = button.getAttribute("data-copied"); };
        if (navigator.clipboard) navigator.clipboard.writeText(field.value).then(done, function () {});
        else if (document.execCommand("copy")) done();
      });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
