/* The run report: equity and underwater charts (zoom and crosshair in sync), the candle
   chart with trade markers, and the sortable, filterable trade table. */
(function () {
  "use strict";
  var C = window.sparkbtCharts;
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var s = data.series;

  var lines = [{ label: "equity", values: s.equity, color: "#2f5bd3", format: C.money }];
  if (s.benchmark) lines.push({ label: "buy & hold", values: s.benchmark, color: "#9a9a9a", format: C.money });
  var eq = C.lineChart(document.getElementById("equity-chart"), s.t, lines, { height: 300, sync: "report" });
  var dd = C.lineChart(document.getElementById("drawdown-chart"), s.t,
    [{ label: "drawdown", values: s.drawdown, color: "#d1434b", fill: "rgba(209,67,75,0.25)", format: function (v) { return C.pct(v); } }],
    { height: 150, sync: "report", yValues: function (u, vals) { return vals.map(function (v) { return C.pct(v, 0); }); } });
  C.syncZoom([eq, dd]);
  window.sparkbtReport = { equity: eq, drawdown: dd };

  if (data.candles) {
    var price = C.candleChart(document.getElementById("price-chart"), data.candles);
    // an order run: each limit and stop level from its decision bar to the bar it left the book
    (data.levels || []).forEach(function (line) {
      var level = price.addLineSeries({
        color: line.color, lineWidth: 2, lineStyle: line.filled ? 0 : 1,
        priceLineVisible: false, lastValueVisible: false, crosshairMarkerVisible: false
      });
      // the stroke leaving a segment's last point is transparent: segments stay apart
      level.setData(line.points.map(function (p) {
        return p[2] ? { time: p[0], value: p[1], color: "rgba(0,0,0,0)" } : { time: p[0], value: p[1] };
      }));
    });
    window.sparkbtPrice = price;
  }

  // ---- trades: every row in the page up to page_size; longer lists come a page at a time,
  // from the server when it has them (sorted and filtered over every trade there)
  var cols = data.trade_columns, rows = data.trades;
  var table = document.getElementById("trade-table");
  var body = table.querySelector("tbody");
  var filter = document.getElementById("trade-filter");
  var reason = document.getElementById("trade-reason");
  var count = document.getElementById("trade-count");
  var pager = document.getElementById("trade-pager");
  var prev = document.getElementById("trade-prev"), next = document.getElementById("trade-next");
  var remote = table.dataset.url || "";
  var pageSize = data.page_size || 2000;
  var reasonCol = cols.indexOf("exit_reason"), idCol = cols.indexOf("id");
  var sortCol = 0, sortDir = 1, offset = 0, seq = 0;
  var text = rows.map(function (r) { return r.join(" ").toLowerCase(); });

  function cell(v, name) {
    if (v == null) return "";
    if (typeof v === "number") {
      if (name === "return") return (v * 100).toFixed(2) + "%";
      if (name === "units") return String(+v.toPrecision(8));
      if (Number.isInteger(v)) return String(v);
      return v.toLocaleString(undefined, { maximumFractionDigits: 4 });
    }
    if (name.slice(-5) === "_time") return v.slice(0, 16).replace("T", " ");
    return String(v);
  }
  function esc(t) { return t.replace(/&/g, "&amp;").replace(/</g, "&lt;"); }

  function render(list, matching, total) {
    body.innerHTML = list.map(function (r) {
      return "<tr data-id=\"" + r[idCol] + "\">" + r.map(function (v, j) {
        var cls = typeof v === "number" ? " class=\"num\"" : "";
        var style = j === reasonCol ? " style=\"color:" + (data.exit_colours[v] || "inherit") + "\"" : "";
        return "<td" + cls + style + ">" + esc(cell(v, cols[j])) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    var shown = matching > list.length
      ? "rows " + (offset + 1) + "–" + (offset + list.length) + " of " + matching + " matching, "
      : matching + " of ";
    count.textContent = matching > list.length ? shown + total + " trades" : shown + total + " trades";
    pager.hidden = matching <= pageSize;
    prev.disabled = offset === 0;
    next.disabled = offset + pageSize >= matching;
    table.querySelectorAll("th").forEach(function (th, j) {
      th.setAttribute("aria-sort", j === sortCol ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }

  function drawLocal() {
    var q = filter.value.trim().toLowerCase(), want = reason.value;
    var idx = [];
    for (var i = 0; i < rows.length; i++) {
      if (want && rows[i][reasonCol] !== want) continue;
      if (q && text[i].indexOf(q) < 0) continue;
      idx.push(i);
    }
    idx.sort(function (a, b) {
      var x = rows[a][sortCol], y = rows[b][sortCol];
      if (x === y) return a - b;
      if (x == null) return 1;
      if (y == null) return -1;
      return (x < y ? -1 : 1) * sortDir;
    });
    if (offset >= idx.length) offset = 0;
    render(idx.slice(offset, offset + pageSize).map(function (i) { return rows[i]; }), idx.length, rows.length);
  }

  function drawRemote() {
    var mine = ++seq;
    var q = new URLSearchParams({
      offset: offset, limit: pageSize, sort: cols[sortCol], desc: sortDir < 0 ? "true" : "false",
      q: filter.value.trim(), reason: reason.value
    });
    fetch(remote + "?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (page) { if (mine === seq) render(page.rows, page.matching, page.total); });
  }

  function draw() { if (remote) drawRemote(); else drawLocal(); }
  table.querySelectorAll("th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = +b.dataset.col;
      sortDir = c === sortCol ? -sortDir : 1;
      sortCol = c;
      offset = 0;
      draw();
    });
  });
  filter.addEventListener("input", function () { offset = 0; draw(); });
  reason.addEventListener("change", function () { offset = 0; draw(); });
  prev.addEventListener("click", function () { offset = Math.max(0, offset - pageSize); draw(); });
  next.addEventListener("click", function () { offset += pageSize; draw(); });
  if (remote) render(rows, data.trade_count, data.trade_count); else drawLocal();

  // ---- CSV download in the self-contained file (served pages link to the route)
  var csv = document.getElementById("trades-csv");
  var button = document.getElementById("csv-download");
  if (csv && button && button.tagName === "BUTTON") {
    button.addEventListener("click", function () {
      var blob = new Blob([JSON.parse(csv.textContent)], { type: "text/csv" });
      var a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = "trades-" + data.id + ".csv";
      document.body.appendChild(a);
      a.click();
      a.remove();
    });
  }
})();
