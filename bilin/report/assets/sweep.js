// A sweep's figures: each is JSON in a <script type="application/json" class="figure"> block (data,
// never script), drawn with plotly into the element its data-target names.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll('script[type="application/json"].figure').forEach((block) => {
    const figure = JSON.parse(block.textContent), target = document.getElementById(block.dataset.target);
    if (target) Plotly.newPlot(target, figure.data, figure.layout, { displayModeBar: false });
  });
});
