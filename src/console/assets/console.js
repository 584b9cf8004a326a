// The operator console's only script (served from /console/assets/console.js; the CSP allows no
// inline script). It shows times in the browser's zone, copies values, asks before destructive
// actions, and moves phase badges live from the server's event stream.
(function () {
  "use strict";

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var at = new Date(el.getAttribute("datetime"));
      if (isNaN(at.getTime())) { return; }
      el.textContent = at.toLocaleString();
      el.setAttribute("data-local", "1");
    });
  }

  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var source = document.getElementById(button.getAttribute("data-copy"));
        if (!source) { return; }
        var text = source.textContent;
        var done = function () {
          var label = button.textContent;
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = label; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { select(source); });
        } else {
          select(source);
        }
      });
    });
  }

  // Without the clipboard API (plain http), select the text so Ctrl+C copies it.
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) {
          event.preventDefault();
        }
      });
    });
  }

  function setPhase(change) {
    document.querySelectorAll('[data-channel-id="' + change.id + '"]').forEach(function (el) {
      el.setAttribute("data-phase", change.phase);
      if (el.getAttribute("data-testid") === "phase-badge") {
        el.textContent = change.phase;
      }
      el.querySelectorAll('[data-testid="phase-badge"]').forEach(function (badge) {
        badge.setAttribute("data-phase", change.phase);
        badge.textContent = change.phase;
      });
    });
  }

  function liveUpdates() {
    if (document.body.getAttribute("data-live") !== "1" || !window.EventSource) { return; }
    var ids = [];
    document.querySelectorAll("[data-channel-id]").forEach(function (el) {
      var id = el.getAttribute("data-channel-id");
      if (ids.indexOf(id) < 0 && ids.length < 100) { ids.push(id); }
    });
    var url = "/console/events" + (ids.length ? "?channels=" + ids.join(",") : "");
    var source = new EventSource(url);
    source.addEventListener("open", function () {
      document.body.setAttribute("data-sse", "connected");
    });
    source.addEventListener("channel", function (message) {
      try { setPhase(JSON.parse(message.data)); } catch (e) { /* a malformed event changes nothing */ }
    });
    source.addEventListener("error", function () {
      document.body.setAttribute("data-sse", "reconnecting");
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    copyButtons();
    confirmations();
    liveUpdates();
  });
})();
