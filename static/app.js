// hookrelay's small progressive enhancements. Every page works without this file.
(function () {
  "use strict";

  var rtf = window.Intl && Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(undefined, { numeric: "auto" }) : null;
  var units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60], ["second", 1]];

  function relative(date) {
    var secs = Math.round((date.getTime() - Date.now()) / 1000);
    if (!rtf) return null;
    if (Math.abs(secs) < 10) return "just now";
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(secs) >= units[i][1] || units[i][0] === "second") {
        return rtf.format(Math.round(secs / units[i][1]), units[i][0]);
      }
    }
    return null;
  }

  // Times are rendered in UTC by the server; show them in the viewer's zone, UTC on hover.
  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) return;
      if (el.hasAttribute("data-relative")) {
        var r = relative(d);
        if (r) el.textContent = r;
      } else {
        el.textContent = d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" });
      }
      el.title = d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC") + " · " + d.toLocaleString();
    });
  }

  document.addEventListener("click", function (e) {
    var dismiss = e.target.closest("[data-dismiss]");
    if (dismiss) {
      var box = dismiss.closest(".flash");
      if (box) box.remove();
      return;
    }
    var copy = e.target.closest("[data-copy]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy"));
      if (src && navigator.clipboard) {
        navigator.clipboard.writeText(src.textContent.trim()).then(function () {
          var old = copy.textContent;
          copy.textContent = "Copied";
          setTimeout(function () { copy.textContent = old; }, 1500);
        });
      }
    }
  });

  // Destructive forms say what will happen and ask first.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    var msg = form.getAttribute && form.getAttribute("data-confirm");
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
      e.stopImmediatePropagation();
    }
  }, true);

  // Course type-ahead: ticking a result makes it a chip; unticking a chip removes it.
  document.addEventListener("change", function (e) {
    var box = e.target;
    if (box.name === "event_types" && box.checked) {
      var someTypes = document.getElementById("et-some");
      if (someTypes) someTypes.checked = true;
    }
    if (!box.matches || !box.matches("input[data-chip]")) return;
    var chip = box.closest(".chip");
    var chips = document.getElementById("course-chips");
    if (!chip || !chips) return;
    if (box.checked && !chips.contains(chip)) {
      var li = chip.parentElement;
      chips.appendChild(chip);
      if (li && li.tagName === "LI") li.remove();
      var some = document.getElementById("c-some");
      if (some) some.checked = true;
    } else if (!box.checked && chips.contains(chip)) {
      chip.remove();
    }
  });

  // A form sent once is not sent twice by a second click. The method is read from the
  // attribute: a field named "method" (the webhook form has one) shadows form.method.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || form.hasAttribute("hx-post") || (form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });

  // On a phone the filter bar folds behind its "Filters" button; it is open without script.
  function foldOnPhone() {
    if (!window.matchMedia || !window.matchMedia("(max-width: 800px)").matches) return;
    document.querySelectorAll("details[data-fold-on-phone]").forEach(function (d) { d.open = false; });
  }

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); foldOnPhone(); });
  document.addEventListener("htmx:afterSwap", function (e) { localiseTimes(e.target); });
  document.addEventListener("htmx:confirm", function (e) {
    var el = e.target.closest("[data-confirm]");
    if (el && el.tagName !== "FORM") {
      e.preventDefault();
      if (window.confirm(el.getAttribute("data-confirm"))) e.detail.issueRequest(true);
    }
  });
  setInterval(function () { localiseTimes(document); }, 30000);
})();
