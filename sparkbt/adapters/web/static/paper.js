/* Paper session page: the session's equity beside the backtest of the same candles,
   fetched from chart.json and refreshed every 5 s while the session runs. */
(function () {
  "use strict";
  var C = window.sparkbtCharts;
  var el = document.getElementById("paper-equity");
  if (!el) return;
  var chart = null;

  function draw(d) {
    if (!d.t.length) { el.textContent = "No bar traded yet."; return; }
    if (chart) { chart.setData([d.t, d.paper, d.backtest]); return; }
    el.textContent = "";
    chart = C.lineChart(el, d.t, [
      { label: "paper session", values: d.paper, color: "#2f5bd3", format: C.money, width: 2.5 },
      { label: "backtest", values: d.backtest, color: "#e08a1e", format: C.money }
    ], { height: 300 });
  }

  function load() {
    fetch(el.dataset.src, { headers: { accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(draw);
  }
  load();
  if (el.dataset.live === "1") setInterval(load, 5000);
})();
