/* Chart helpers shared by every page: uPlot line charts that follow their container's
   width, zoom and crosshair kept in sync across charts, and lightweight-charts candles. */
(function () {
  "use strict";
  var PALETTE = ["#2f5bd3", "#e08a1e", "#2e9e5b", "#8a55c9", "#d1434b", "#1b9aa6"];

  function width(el) { return Math.max(280, el.clientWidth || el.parentElement.clientWidth || 600); }

  function fmtTime(ts) {
    return new Date(ts * 1000).toISOString().slice(0, 16).replace("T", " ");
  }

  /* A uPlot chart in `el`: x in epoch seconds, series [{label, values, color, fill, format}]. */
  function lineChart(el, x, series, opts) {
    opts = opts || {};
    var data = [x].concat(series.map(function (s) { return s.values; }));
    var uopts = {
      width: width(el),
      height: opts.height || el.clientHeight || 260,
      cursor: { sync: { key: opts.sync || "sparkbt", setSeries: true }, drag: { x: true, y: false } },
      scales: { x: { time: true } },
      legend: { live: true },
      axes: [
        { stroke: "#666", grid: { stroke: "#eee" } },
        { stroke: "#666", grid: { stroke: "#eee" }, size: 70, values: opts.yValues }
      ],
      series: [{ label: "time", value: function (u, v) { return v == null ? "" : fmtTime(v); } }].concat(
        series.map(function (s, i) {
          var out = {
            label: s.label,
            stroke: s.color || PALETTE[i % PALETTE.length],
            width: s.width || 1.5,
            fill: s.fill,
            value: s.format ? function (u, v) { return v == null ? "" : s.format(v); } : undefined
          };
          // optional: a legend value of (u, v, seriesIdx, idx), points only (no line)
          if (s.legend) out.value = s.legend;
          if (s.pointsOnly) {
            out.paths = function () { return null; };
            out.points = { show: true, size: 7, fill: out.stroke };
          }
          return out;
        })
      )
    };
    var chart = new uPlot(uopts, data, el);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { chart.setSize({ width: width(el), height: uopts.height }); }).observe(el.parentElement);
    }
    return chart;
  }

  /* Zooming one chart zooms the others to the same x range. */
  function syncZoom(charts) {
    var busy = false;
    charts.forEach(function (c) {
      c.hooks.setScale = c.hooks.setScale || [];
      c.hooks.setScale.push(function (u, key) {
        if (key !== "x" || busy) return;
        busy = true;
        var min = u.scales.x.min, max = u.scales.x.max;
        charts.forEach(function (o) { if (o !== u) o.setScale("x", { min: min, max: max }); });
        busy = false;
      });
    });
  }

  /* uPlot keeps hooks given at creation; this adds them afterwards. */
  function addHook(chart, name, fn) {
    chart.hooks[name] = chart.hooks[name] || [];
    chart.hooks[name].push(fn);
  }

  function candleChart(el, c) {
    var chart = LightweightCharts.createChart(el, {
      width: width(el),
      height: el.clientHeight || 380,
      layout: { background: { color: "#ffffff" }, textColor: "#333" },
      grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
      timeScale: { timeVisible: true, secondsVisible: false },
      rightPriceScale: { borderColor: "#ccc" }
    });
    var series = chart.addCandlestickSeries({
      upColor: "#2e9e5b", downColor: "#d1434b", borderVisible: false,
      wickUpColor: "#2e9e5b", wickDownColor: "#d1434b"
    });
    var rows = c.t.map(function (t, i) {
      return { time: t, open: c.open[i], high: c.high[i], low: c.low[i], close: c.close[i] };
    });
    series.setData(rows);
    series.setMarkers((c.markers || []).map(function (m) {
      return { time: m.time, position: m.position, shape: m.shape, color: m.color };
    }));
    chart.timeScale().fitContent();
    if (window.ResizeObserver) {
      new ResizeObserver(function () {
        chart.applyOptions({ width: width(el), height: el.clientHeight || 380 });
        chart.timeScale().fitContent();
      }).observe(el.parentElement);
    }
    return chart;
  }

  function pct(v, d) { return v == null ? "—" : (v * 100).toFixed(d == null ? 2 : d) + "%"; }
  function money(v) { return v == null ? "—" : v.toLocaleString(undefined, { maximumFractionDigits: 2 }); }

  window.sparkbtCharts = {
    PALETTE: PALETTE, lineChart: lineChart, syncZoom: syncZoom, addHook: addHook,
    candleChart: candleChart, pct: pct, money: money, fmtTime: fmtTime
  };
})();
