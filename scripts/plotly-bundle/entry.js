// The bundle dcc.Graph loads on every page but the cluster list (see base.js).
window.Plotly = require("./base.js");
