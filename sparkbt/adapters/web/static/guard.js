/* The proposal page: approved and proposed equity on one uPlot chart. */
(function () {
  "use strict";
  var node = document.getElementById("guard-chart-data");
  var el = document.getElementById("guard-equity");
  if (!node || !el || !window.sparkbtCharts) return;
  var data = JSON.parse(node.textContent);
  if (!data || !data.series || !data.series.length) return;
  var C = window.sparkbtCharts;
  var colours = { approved: "#8a8f99", proposed: "#2f5bd3" };
  var lines = data.series.map(function (s) {
    return { label: s.label, values: s.values, color: colours[s.label], format: C.money };
  });
  C.lineChart(el, data.t, lines, { height: 280, sync: "guard" });
})();
