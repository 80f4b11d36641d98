// plotly.js with the trace types the dashboard draws (dashboard/plotly_bundle.py TRACES; scatter
// is in the core), set up for SPD Atlas: the bundle dcc.Graph loads on every page.
var Plotly = require("plotly.js/lib/core");

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/heatmap"),
  require("plotly.js/lib/scattergl"),
]);

// WebGL plots at the screen's own resolution: plotly's default, 2, draws them at twice the
// pixels in each direction on a screen of 1 device pixel per CSS pixel, four times the work,
// which a browser without a GPU (software WebGL) pays in full.
Plotly.setPlotConfig({ plotGlPixelRatio: Math.max(1, Math.min(4, window.devicePixelRatio || 1)) });

window.Plotly = Plotly;
