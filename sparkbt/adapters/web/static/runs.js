// The runs list: "compare them" opens the compare page for the ticked runs.
document.getElementById("compare-go").addEventListener("click", function () {
  var ids = Array.from(document.querySelectorAll("input.pick:checked")).map(function (c) { return c.value; });
  window.location.href = "/ui/compare?runs=" + encodeURIComponent(ids.join(","));
});
