// The portal's one script: draws the overview's chart (uPlot, served from this origin),
// lets a tile choose what it draws, and copies tracking links. Data comes from a
// <script type="application/json"> block the server wrote; values become text, never markup.
(function () {
  "use strict";
  var DAY = 86400;
  var DAY_STEPS = [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY];
  var LABELS = { clicks: "Clicks", conversions: "Conversions", revenue: "Revenue", payout: "Payout", profit: "Profit" };

  function chartData() {
    var node = document.getElementById("chart-data");
    if (!node) return null;
    try { return JSON.parse(node.textContent || "{}"); } catch (e) { return null; }
  }

  function drawChart() {
    var box = document.getElementById("chart");
    var data = chartData();
    if (!box || !data || !data.days || typeof uPlot === "undefined") return;
    var metric = "clicks";
    var plot = null;
    // Days are drawn at their midnight (UTC, as labelled); hours (data.xs, with data.tz)
    // at their instants, in the report's zone.
    var xs = data.xs || data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var zone = data.tz || "UTC";

    function label(m) {
      var money = m === "revenue" || m === "payout" || m === "profit";
      return (LABELS[m] || m) + (money && data.currency ? " (" + data.currency + ")" : "");
    }

    function render() {
      var series = data.series[metric] || [];
      var per = data.xs ? " per hour, " : " per day, ";
      box.setAttribute("aria-label", label(metric) + per + (data.span || "last " + series.length + " days"));
      var total = series.reduce(function (a, b) { return a + b; }, 0);
      var summary = document.getElementById("chart-summary");
      if (summary) summary.textContent = label(metric) + ", " + (data.span || data.days[0] + " to " + data.days[data.days.length - 1]) + ": " + (Math.round(total * 100) / 100);
      if (plot) plot.destroy();
      var width = Math.max(box.clientWidth, 280);
      plot = new uPlot({
        width: width,
        height: 260,
        tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), zone); },
        legend: { show: false },
        cursor: { points: { size: 6 } },
        scales: { x: { time: true }, y: { range: function (u, min, max) { return [0, Math.max(max, 1) * 1.1]; } } },
        // Whole days on the x axis (a week's chart would otherwise be ticked by the hour).
        axes: [{ stroke: "#5d6677", grid: { stroke: "#eef0f4" }, incrs: data.xs ? undefined : DAY_STEPS }, { stroke: "#5d6677", grid: { stroke: "#eef0f4" }, size: 60 }],
        series: [{}, { label: label(metric), stroke: "#2457c5", width: 2, fill: "rgba(36,87,197,0.12)", points: { show: series.length < 40 } }],
      }, [xs, series], box);
      document.body.dataset.chart = metric;
    }

    var tiles = document.querySelectorAll("button.tile[data-metric]");
    tiles.forEach(function (tile) {
      if (!data.series[tile.dataset.metric]) { tile.disabled = true; tile.title = "Not charted"; return; }
      tile.addEventListener("click", function () {
        metric = tile.dataset.metric;
        tiles.forEach(function (t) { t.setAttribute("aria-pressed", t.dataset.metric === metric ? "true" : "false"); });
        render();
      });
    });
    var resizeTimer = null;
    window.addEventListener("resize", function () {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(function () { if (plot) plot.setSize({ width: Math.max(box.clientWidth, 280), height: 260 }); }, 100);
    });
    render();
  }

  // A Copy button names the element whose URL it copies: a field (its value) or text.
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", function () {
        var target = document.getElementById(button.dataset.copy);
        if (!target) return;
        var text = target.tagName === "INPUT" ? target.value : (target.textContent || "");
        if (target.tagName === "INPUT") target.select();
        var status = document.getElementById("copy-status");
        function said(message) {
          button.textContent = message;
          if (status) status.textContent = message === "Copied" ? "Copied to the clipboard." : "Selected: press Ctrl+C to copy.";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        }
        if (!navigator.clipboard) { said("Select"); return; }
        navigator.clipboard.writeText(text).then(function () { said("Copied"); }, function () { said("Select"); });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    copyButtons();
  });
})();
