/* Sweep page: the controls re-draw the heatmap when changed, and the results table is
   drawn from the page's JSON and sorted on a header click (client side). */
(function () {
  "use strict";
  var controls = document.getElementById("heat-controls");
  if (controls) {
    controls.querySelectorAll("select").forEach(function (sel) {
      sel.addEventListener("change", function () { controls.requestSubmit(); });
    });
  }

  var data = JSON.parse(document.getElementById("sweep-table").textContent);
  var cols = data.columns, rows = data.rows;
  var percent = {}, counts = {};
  var MONEY = { pnl: true, final_equity: true, avg_pnl: true, expectancy: true, total_fees: true };
  data.percent.forEach(function (k) { percent[k] = true; });
  data.counts.forEach(function (k) { counts[k] = true; });
  var body = document.querySelector("#results-table tbody");
  var sortCol = -1, sortDir = 1;

  function cell(v, name) {
    if (v == null) return "—";
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (typeof v !== "number") return String(v);
    if (data.params.indexOf(name) >= 0) return String(v);
    if (percent[name]) return (v * 100).toFixed(2) + "%";
    if (counts[name]) return v.toLocaleString();
    if (name === "max_drawdown_duration") return (v / 86400).toFixed(1) + " d";
    var d = MONEY[name] ? 2 : 3;
    return v.toLocaleString(undefined, { minimumFractionDigits: d, maximumFractionDigits: d });
  }
  function esc(t) { return t.replace(/&/g, "&amp;").replace(/</g, "&lt;"); }

  function draw() {
    var idx = rows.map(function (r, i) { return i; });
    if (sortCol >= 0) {
      idx.sort(function (a, b) {
        var x = rows[a][sortCol], y = rows[b][sortCol];
        if (x === y) return a - b;
        if (x == null) return 1;
        if (y == null) return -1;
        return (x < y ? -1 : 1) * sortDir;
      });
    }
    body.innerHTML = idx.map(function (i) {
      return "<tr>" + rows[i].map(function (v, j) {
        var cls = typeof v === "number" ? " class=\"num\"" : "";
        return "<td" + cls + ">" + esc(cell(v, cols[j])) + "</td>";
      }).join("") + "</tr>";
    }).join("");
    document.querySelectorAll("#results-table th").forEach(function (th, j) {
      th.setAttribute("aria-sort", j === sortCol ? (sortDir > 0 ? "ascending" : "descending") : "none");
    });
  }
  document.querySelectorAll("#results-table th button").forEach(function (b) {
    b.addEventListener("click", function () {
      var c = +b.dataset.col;
      sortDir = c === sortCol ? -sortDir : (data.params.indexOf(cols[c]) >= 0 ? 1 : -1);
      sortCol = c;
      draw();
    });
  });
  var m = cols.indexOf(data.metric);
  if (m >= 0) { sortCol = m; sortDir = ["max_drawdown", "max_drawdown_duration", "total_fees"].indexOf(data.metric) >= 0 ? 1 : -1; }
  draw();
})();
