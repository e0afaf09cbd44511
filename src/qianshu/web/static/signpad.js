/* Qianshu signing page: a handwriting pad (mouse, touch, pen). On submit, a drawing becomes a transparent
   PNG placed in the form's existing `handwriting` file input, so the server receives it like an upload. */
(function () {
  "use strict";
  function setup(pad) {
    var form = pad.closest("form");
    var canvas = pad.querySelector("canvas");
    var clear = pad.querySelector("[data-signpad-clear]");
    var status = pad.querySelector("[data-signpad-status]");
    var radio = document.getElementById(pad.getAttribute("data-radio"));
    var input = document.getElementById(pad.getAttribute("data-input"));
    if (!form || !canvas || !input || !radio || !window.DataTransfer) return;
    var ctx = canvas.getContext("2d");
    var drawn = false, last = null, active = null, sending = false;
    pad.hidden = false;

    function size() {
      var ratio = window.devicePixelRatio || 1;
      var width = Math.max(1, Math.round(canvas.clientWidth * ratio));
      var height = Math.max(1, Math.round(canvas.clientHeight * ratio));
      if (canvas.width === width && canvas.height === height) return;
      var keep = drawn ? canvas.toDataURL("image/png") : null;
      canvas.width = width;
      canvas.height = height;
      if (keep) {
        var img = new Image();
        img.onload = function () { ctx.drawImage(img, 0, 0, width, height); };
        img.src = keep;
      }
    }
    function pen() {
      var ratio = window.devicePixelRatio || 1;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      ctx.strokeStyle = "#10131a";
      ctx.fillStyle = "#10131a";
      ctx.lineWidth = 2.6 * ratio;
    }
    function at(e) {
      var rect = canvas.getBoundingClientRect();
      return { x: (e.clientX - rect.left) * canvas.width / rect.width, y: (e.clientY - rect.top) * canvas.height / rect.height };
    }
    function say(text, isError) {
      status.textContent = text;
      status.classList.toggle("error", !!isError);
    }
    canvas.addEventListener("pointerdown", function (e) {
      if (active !== null || (e.pointerType === "mouse" && e.button !== 0)) return;
      e.preventDefault();
      active = e.pointerId;
      if (canvas.setPointerCapture) canvas.setPointerCapture(e.pointerId);
      size();
      pen();
      last = at(e);
      ctx.beginPath();
      ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, 2 * Math.PI);
      ctx.fill();
      drawn = true;
      radio.checked = true;
      say("", false);
    });
    canvas.addEventListener("pointermove", function (e) {
      if (e.pointerId !== active) return;
      e.preventDefault();
      var events = e.getCoalescedEvents ? e.getCoalescedEvents() : [];
      if (!events.length) events = [e];
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      events.forEach(function (ev) { last = at(ev); ctx.lineTo(last.x, last.y); });
      ctx.stroke();
    });
    function end(e) {
      if (e.pointerId !== active) return;
      active = null;
      last = null;
    }
    canvas.addEventListener("pointerup", end);
    canvas.addEventListener("pointercancel", end);
    clear.addEventListener("click", function () {
      ctx.clearRect(0, 0, canvas.width, canvas.height);
      drawn = false;
      say(pad.getAttribute("data-msg-cleared"), false);
    });
    window.addEventListener("resize", size);
    size();

    form.addEventListener("submit", function (e) {
      if (sending) { e.preventDefault(); return; }  /* the drawing is on its way: no second submit */
      if (!radio.checked) return;
      if (!drawn) {
        if (input.files && input.files.length) return;  /* the uploaded image is the alternative */
        e.preventDefault();
        say(pad.getAttribute("data-msg-empty"), true);
        canvas.focus();
        return;
      }
      e.preventDefault();
      sending = true;
      canvas.toBlob(function (blob) {
        if (!blob) { sending = false; say(pad.getAttribute("data-msg-failed"), true); return; }
        var transfer = new DataTransfer();
        transfer.items.add(new File([blob], "handwriting.png", { type: "image/png" }));
        input.files = transfer.files;
        form.submit();
      }, "image/png");
    });
  }
  function ready() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-signpad]"), setup);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
