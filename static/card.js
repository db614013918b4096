// The card's live clock: a screenshot cannot pass for the card, because on the real one the seconds move.
// No inline script (CSP script-src 'self'); without JavaScript the clock shows the time the page was made.
(function () {
  "use strict";
  var el = document.getElementById("clock");
  if (!el) { return; }
  var tz = el.getAttribute("data-tz") || "Asia/Shanghai";
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function tick() {
    var parts = {};
    try {
      new Intl.DateTimeFormat("en-GB", {timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false})
        .formatToParts(new Date()).forEach(function (p) { parts[p.type] = p.value; });
      el.textContent = parts.year + "-" + parts.month + "-" + parts.day + " " + parts.hour + ":" + parts.minute + ":" + parts.second;
    } catch (e) {
      var d = new Date();
      el.textContent = d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
        pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
    }
  }
  tick();
  window.setInterval(tick, 1000);
}());
