// The cluster list's bundle: base.js and the 3D map's scatter3d (dashboard/plotly_bundle.py
// MAP_TRACES), whose WebGL scene code is most of plotly's evaluation time; only this page pays it.
var Plotly = require("./base.js");

Plotly.register([require("plotly.js/lib/scatter3d")]);
Plotly.atlasMap = true; // assets/plotly_early.js: this plotly draws the map

window.Plotly = Plotly;
