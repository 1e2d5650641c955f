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
        el.textContent = d.toLocaleString(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short" });
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
    var copy = e.target.closest("[data-copy], [data-copy-text]");
    if (copy) {
      var src = document.getElementById(copy.getAttribute("data-copy"));
      var value = copy.getAttribute("data-copy-text") || (src && src.textContent.trim());
      if (value && navigator.clipboard) {
        navigator.clipboard.writeText(value).then(function () {
          if (copy.hasAttribute("data-copy-text")) {
            copy.classList.add("copied");
            setTimeout(function () { copy.classList.remove("copied"); }, 1500);
            return;
          }
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

  // On a phone the filter bar folds behind its "Filters" button; it is open without script. A
  // window that widens past a phone's opens it again (the button is hidden there), and one that
  // narrows folds it.
  function foldOnPhone() {
    if (!window.matchMedia) return;
    var phone = window.matchMedia("(max-width: 800px)");
    function apply() {
      document.querySelectorAll("details[data-fold-on-phone]").forEach(function (d) { d.open = !phone.matches; });
    }
    if (phone.matches) apply();
    if (phone.addEventListener) phone.addEventListener("change", apply);
  }

  // Time filters are typed in the viewer's zone and sent in UTC, which the server reads (and
  // says it reads, for browsers without this file).
  var zone = window.Intl && Intl.DateTimeFormat ? Intl.DateTimeFormat().resolvedOptions().timeZone : "";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function utcToLocal(v) {
    var m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})(:\d{2})?$/.exec(v);
    if (!m) return null;
    var d = new Date(m[1] + "T" + m[2] + (m[3] || ":00") + "Z");
    if (isNaN(d)) return null;
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes()) + (d.getSeconds() ? ":" + pad(d.getSeconds()) : "");
  }
  function localToUTC(v) {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?$/.test(v)) return v;
    var d = new Date(v); // a date and time without a zone is read in the viewer's zone
    if (isNaN(d)) return v;
    return d.toISOString().slice(0, d.getUTCSeconds() ? 19 : 16);
  }
  function localiseTimeInputs(root) {
    if (!zone || zone === "UTC" || zone === "Etc/UTC") return;
    root.querySelectorAll("input[data-utc]").forEach(function (input) {
      if (input.hasAttribute("data-local")) return;
      var local = input.value ? utcToLocal(input.value) : "";
      if (local === null) return; // not a time we can read: leave it as the server has it
      input.value = local;
      input.setAttribute("data-local", "");
      var label = input.form && input.form.querySelector("label[for='" + input.id + "'] [data-zone-label]");
      if (label) label.textContent = "(" + zone + ")";
    });
  }
  function utcParams(form, set) {
    form.querySelectorAll("input[data-utc][data-local]").forEach(function (input) {
      set(input.name, input.value ? localToUTC(input.value) : "");
    });
  }
  // htmx forms: the request carries UTC, the fields keep showing the viewer's time.
  document.addEventListener("htmx:configRequest", function (e) {
    var form = e.detail.elt.closest ? e.detail.elt.closest("form") : null;
    if (form) utcParams(form, function (name, v) { e.detail.parameters[name] = v; });
  });
  // Plain forms: the fields are turned to UTC as the page is left.
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (e.defaultPrevented || form.hasAttribute("hx-get") || form.hasAttribute("hx-post")) return;
    utcParams(form, function (name, v) {
      var input = form.querySelector("input[data-utc][name='" + name + "']");
      input.removeAttribute("data-local");
      input.value = v;
    });
  });

  document.addEventListener("DOMContentLoaded", function () { localiseTimes(document); localiseTimeInputs(document); foldOnPhone(); });
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
