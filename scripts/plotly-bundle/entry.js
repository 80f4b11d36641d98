// plotly.js with the trace types SPD Atlas draws (dashboard/plotly_bundle.py TRACES; scatter is
// in the core). dcc.Graph finds it as window.Plotly.
var Plotly = require("plotly.js/lib/core");

Plotly.register([
  require("plotly.js/lib/bar"),
  require("plotly.js/lib/heatmap"),
  require("plotly.js/lib/scattergl"),
  require("plotly.js/lib/scatter3d"),
]);

window.Plotly = Plotly;
