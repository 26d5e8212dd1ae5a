// Draws every chart placed with {% chart %}: a div[data-chart] naming the json_script that holds its
// figure, built in emotions/charts.py. live_status.js redraws curves through window.ferCharts.draw.
(function () {
  "use strict";
  const config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function draw(element, figure) {
    return Plotly.react(element, figure.data, figure.layout, config);
  }

  window.ferCharts = { draw: draw };
  document.querySelectorAll("[data-chart]").forEach(function (element) {
    const source = document.getElementById(element.dataset.chart);
    if (source) draw(element, JSON.parse(source.textContent));
  });
})();
