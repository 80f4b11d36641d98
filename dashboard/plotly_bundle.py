"""plotly.js with only the trace types the dashboard draws, served where `dcc.Graph` loads
plotly.js from.

Every page with a graph evaluates plotly.js before drawing it, and the full bundle (about 50
trace types) was most of a cluster page's main-thread time in the browser. The 3D map of
clusters is not plotly's: `atlas_components.ClusterMap` draws it on a canvas. The bundle is built
by `scripts/plotly-bundle/build.sh` from the plotly.js version the installed plotly package
ships; `tests/test_plotly_bundle.py` checks the version and that every trace type the code draws
is in it. `assets/plotly_early.js` starts loading it with the cluster list.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request, send_file

BUNDLE = Path(__file__).resolve().parent / "static" / "plotly-atlas.min.js"
TRACES = ("bar", "heatmap", "scatter", "scattergl")
# where dash-renderer points dcc.Graph when serving locally (window._dashPlotlyJSURL)
DASH_PLOTLY_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"


def serve_plotly_bundle(server: Flask, routes_prefix: str) -> None:
    """Answer Dash's plotly.js address with the bundle (revalidated by its ETag, as Dash
    does)."""
    address = f"{routes_prefix}{DASH_PLOTLY_PATH}"

    @server.before_request
    def plotly_bundle() -> Response | None:
        if request.path != address:
            return None
        return send_file(BUNDLE, mimetype="text/javascript", conditional=True, etag=True)
