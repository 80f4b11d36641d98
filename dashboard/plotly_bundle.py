"""plotly.js with only the trace types the dashboard draws, served where `dcc.Graph` loads
plotly.js from.

Every page with a graph evaluates plotly.js before drawing it, and the full bundle (about 50
trace types) was most of a cluster page's main-thread time in the browser. No first screen draws
plotly: the list's 3D map and distribution, and a cluster's makeup and activations, are the
app's own components (`atlas_components`); plotly.js loads when a lower section with a plotly
figure is scrolled to. The bundle is built by `scripts/plotly-bundle/build.sh` from the plotly.js
version the installed plotly package ships; `tests/test_plotly_bundle.py` checks the version and
that every trace type the code draws is in it.
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
