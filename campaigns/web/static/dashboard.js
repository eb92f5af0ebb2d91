/* The dashboard's behaviour: confirmations, parts of pages that update themselves while
   something runs, and the two charts of a campaign (Chart.js, shipped in the package).
   No inline script: the page's Content-Security-Policy allows only files from here. */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  function fetchPart(url) {
    return fetch(url, { credentials: "same-origin", headers: { "X-Dashboard-Fragment": "1" } })
      .then(function (response) {
        if (response.status === 401) { window.location.assign("/login?next=" + encodeURIComponent(location.pathname)); }
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response;
      });
  }

  function stillLive(element) {
    var finished = element.querySelector("[data-finished]");
    if (finished) { return finished.getAttribute("data-finished") !== "1"; }
    var rows = element.querySelectorAll("[data-live]");
    for (var i = 0; i < rows.length; i++) { if (rows[i].getAttribute("data-live") === "1") { return true; } }
    return false;
  }

  // data-every: ms between two refreshes while something on it runs; data-idle-every: ms
  // between two once nothing does (a new campaign may appear); without it, it stops then
  function keepFresh(element) {
    var every = parseInt(element.getAttribute("data-every") || "3000", 10);
    var idle = parseInt(element.getAttribute("data-idle-every") || "0", 10);
    var url = element.getAttribute("data-refresh");
    function next() {
      var delay = stillLive(element) ? every : idle;
      if (delay > 0) { window.setTimeout(tick, delay); }
    }
    function tick() {
      if (document.hidden) { next(); return; }  // a background tab asks nothing
      fetchPart(url).then(function (r) { return r.text(); }).then(function (html) {
        element.innerHTML = html;
        element.dispatchEvent(new CustomEvent("refreshed", { bubbles: true }));
      }).catch(function () { /* the next tick tries again */ }).then(next);
    }
    next();
  }

  var palette = { main: "#2563eb", delivered: "#16a34a", beside: "#dc2626", sent: "#7c3aed", undelivered: "#ea580c",
                  expired: "#a16207", rejected: "#be123c" };

  function drawCharts(section) {
    var url = section.getAttribute("data-charts");
    var funnel = null, series = null, timer = null;
    var funnelCanvas = section.querySelector("#funnel-chart");
    var seriesCanvas = section.querySelector("#series-chart");
    function render(data) {
      var labels = data.funnel.map(function (f) { return f.step; }).concat(data.beside.map(function (f) { return f.step; }));
      var values = data.funnel.map(function (f) { return f.value; }).concat(data.beside.map(function (f) { return f.value; }));
      var colours = data.funnel.map(function () { return palette.main; }).concat(data.beside.map(function () { return palette.beside; }));
      if (funnel === null) {
        funnel = new Chart(funnelCanvas, {
          type: "bar",
          data: { labels: labels, datasets: [{ label: "recipients", data: values, backgroundColor: colours }] },
          options: { indexAxis: "y", animation: false, plugins: { legend: { display: false } },
                     scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } }
        });
      } else {
        funnel.data.labels = labels; funnel.data.datasets[0].data = values; funnel.update();
      }
      funnelCanvas.setAttribute("data-drawn", "1");
      funnelCanvas.setAttribute("data-delivered", String(data.funnel[data.funnel.length - 1].value));
      var s = data.series;
      var names = ["sent", "delivered", "undelivered", "expired", "rejected"];
      var datasets = names.map(function (name) {
        return { label: name, data: s[name], borderColor: palette[name], backgroundColor: palette[name], tension: 0.2, pointRadius: 2 };
      });
      var times = s.t.map(function (t) { return t ? t.substring(11, 19) : ""; });
      var empty = section.querySelector(".series-empty");
      if (empty) { empty.hidden = s.t.length > 0; }
      if (series === null) {
        series = new Chart(seriesCanvas, {
          type: "line", data: { labels: times, datasets: datasets },
          options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
        });
      } else {
        series.data.labels = times;
        series.data.datasets.forEach(function (d, i) { d.data = datasets[i].data; });
        series.update();
      }
      seriesCanvas.setAttribute("data-drawn", "1");
      if (data.finished && timer !== null) { window.clearInterval(timer); timer = null; }
    }
    function load() {
      return fetchPart(url).then(function (r) { return r.json(); }).then(render).catch(function () {});
    }
    // redrawn each time the page's live summary refreshes (its last refresh, when the
    // campaign ends, draws the final figures); a page without one polls by itself
    var summary = document.querySelector("#campaign-live");
    load().then(function () {
      if (summary) { summary.addEventListener("refreshed", load); }
      else if (section.getAttribute("data-live") === "1") { timer = window.setInterval(load, 3000); }
    });
  }

  // once the campaign ends, the recipients table is read again: final statuses are in
  function ledgerAfterTheEnd() {
    var summary = document.querySelector("#campaign-live");
    var ledger = document.querySelector("#ledger[data-src]");
    if (!summary || !ledger) { return; }
    summary.addEventListener("refreshed", function () {
      if (stillLive(summary)) { return; }
      fetchPart(ledger.getAttribute("data-src")).then(function (r) { return r.text(); })
        .then(function (html) { ledger.innerHTML = html; ledger.setAttribute("data-final", "1"); })
        .catch(function () {});
    });
  }

  function start() {
    ledgerAfterTheEnd();
    document.querySelectorAll("[data-refresh]").forEach(keepFresh);
    if (window.Chart) { document.querySelectorAll("[data-charts]").forEach(drawCharts); }
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
