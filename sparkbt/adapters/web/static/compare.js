/* Compare page: every run's equity overlaid on one chart and its drawdown below,
   zoom and crosshair in sync. Runs may have different timestamps: the x axis is the
   union of their points and a run has null where it has none (gaps spanned). */
(function () {
  "use strict";
  var C = window.sparkbtCharts;
  var s = JSON.parse(document.getElementById("compare-data").textContent);

  function lines(key, format) {
    return s.runs.map(function (r) {
      return { label: r.label, values: r[key], color: r.colour, format: format };
    });
  }
  var eq = C.lineChart(document.getElementById("compare-equity"), s.t,
    lines("equity", C.money), { height: 300, sync: "compare" });
  var dd = C.lineChart(document.getElementById("compare-drawdown"), s.t,
    lines("drawdown", function (v) { return C.pct(v); }),
    { height: 170, sync: "compare", yValues: function (u, vals) { return vals.map(function (v) { return C.pct(v, 0); }); } });
  // before uPlot's first draw (a microtask away): lines bridge the points a run lacks
  [eq, dd].forEach(function (chart) {
    for (var i = 1; i < chart.series.length; i++) chart.series[i].spanGaps = true;
  });
  C.syncZoom([eq, dd]);
})();
