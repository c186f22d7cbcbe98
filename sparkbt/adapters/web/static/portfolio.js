/* The portfolio report: realised weights as a stacked area chart (zoom follows the equity
   chart) and each symbol's close with its fills, or its fill prices alone. */
(function () {
  "use strict";
  var C = window.sparkbtCharts;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var w = data.weights;
  var palette = C.PALETTE.concat(["#b5651d", "#5d8aa8", "#c71585", "#6b8e23", "#708090", "#daa520"]);
  function colour(j) { return palette[j % palette.length]; }

  // ---- stacked weights: cumulative sums drawn from the outermost layer in, each filled
  // to zero and opaque, so each band shows in its symbol's colour
  function stack(sign) {
    var run = w.t.map(function () { return 0; });
    return w.values.map(function (vals) {
      run = run.map(function (acc, i) {
        var v = vals[i] == null ? 0 : vals[i];
        return acc + (sign > 0 ? Math.max(v, 0) : Math.min(v, 0));
      });
      return run.slice();
    });
  }
  function layers(sign) {
    var cum = stack(sign);
    return w.symbols.map(function (sym, j) {
      return {
        label: sign > 0 ? sym : sym + " short", values: cum[j], color: colour(j), fill: colour(j),
        width: 0.5,
        // the legend gives the symbol's own weight, not the stacked sum
        legend: function (u, v, si, idx) {
          var raw = w.values[j];
          return idx == null || raw[idx] == null ? "" : C.pct(raw[idx], 1);
        }
      };
    }).reverse();
  }
  // drawn (and listed in the legend) from the top layer down
  var series = layers(1);
  if (w.short) series = series.concat(layers(-1));
  var el = document.getElementById("weights-chart");
  if (el && w.t.length) {
    var chart = C.lineChart(el, w.t, series, {
      height: 260, sync: "report",
      yValues: function (u, vals) { return vals.map(function (v) { return C.pct(v, 0); }); }
    });
    var eq = window.sparkbtReport && window.sparkbtReport.equity, busy = false;
    if (eq) {
      C.addHook(chart, "setScale", function (u, key) {
        if (key !== "x" || busy) return;
        busy = true; eq.setScale("x", { min: u.scales.x.min, max: u.scales.x.max }); busy = false;
      });
      C.addHook(eq, "setScale", function (u, key) {
        if (key !== "x" || busy) return;
        busy = true; chart.setScale("x", { min: u.scales.x.min, max: u.scales.x.max }); busy = false;
      });
    }
  }

  // ---- one chart per symbol
  data.prices.forEach(function (p, i) {
    var box = document.getElementById("price-" + i);
    if (!box) return;
    if (p.t) { closeChart(box, p); return; }
    fillChart(box, p);
  });

  function closeChart(box, p) {
    var chart = LightweightCharts.createChart(box, {
      width: box.clientWidth || 420, height: box.clientHeight || 260,
      layout: { background: { color: "#ffffff" }, textColor: "#333" },
      grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
      // a few thousand closes in a few hundred pixels: let fitContent show them all
      timeScale: { timeVisible: true, secondsVisible: false, minBarSpacing: 0.01 },
      rightPriceScale: { borderColor: "#ccc" }
    });
    var line = chart.addLineSeries({ color: "#444", lineWidth: 1, priceLineVisible: false });
    line.setData(p.t.map(function (t, k) { return { time: t, value: p.close[k] }; }));
    line.setMarkers(p.markers);
    chart.timeScale().fitContent();
    if (window.ResizeObserver) {
      // the figure follows the page's width; the chart's own box would keep the canvas's
      new ResizeObserver(function () {
        chart.applyOptions({ width: box.parentElement.clientWidth });
      }).observe(box.parentElement);
    }
  }

  function fillChart(box, p) {
    var pts = p.fill_points || [];
    var xs = [], buy = [], sell = [];
    pts.forEach(function (f) {
      var last = xs.length - 1;
      if (last < 0 || xs[last] !== f.time) { xs.push(f.time); buy.push(null); sell.push(null); last += 1; }
      if (f.side === "buy") buy[last] = f.price; else sell[last] = f.price;
    });
    var chart = C.lineChart(box, xs, [
      { label: "buy", values: buy, color: data.fill_colours.buy, format: C.money, pointsOnly: true },
      { label: "sell", values: sell, color: data.fill_colours.sell, format: C.money, pointsOnly: true }
    ], { height: 260, sync: "fills-" + p.symbol });
    return chart;
  }
})();
