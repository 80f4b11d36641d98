"""plotly.js with only the trace types the dashboard draws, in two bundles: the one `dcc.Graph`
loads on every page, served where it loads plotly.js from, and the cluster list's, which adds
the 3D map.

Every page with a graph evaluates plotly.js before drawing it. The full bundle (about 50 trace
types) was most of a cluster page's main-thread time in the browser, and of what is left, the
3D scene code (scatter3d) is more than half the evaluation time; only the list page draws it.
Both are built by `scripts/plotly-bundle/build.sh` from the plotly.js version the installed plotly
package ships; `tests/test_plotly_bundle.py` checks the version and that every trace type the code
draws is in the bundle of the pages that draw it. `assets/plotly_early.js` picks the bundle.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, request, send_file

STATIC = Path(__file__).resolve().parent / "static"
BUNDLE = STATIC / "plotly-atlas.min.js"
MAP_BUNDLE = STATIC / "plotly-atlas-map.min.js"
TRACES = ("bar", "heatmap", "scatter", "scattergl")
MAP_TRACES = (*TRACES, "scatter3d")
# where dash-renderer points dcc.Graph when serving locally (window._dashPlotlyJSURL)
DASH_PLOTLY_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"
MAP_PLOTLY_PATH = "_atlas/plotly-map.min.js"  # assets/plotly_early.js asks for it


def serve_plotly_bundle(server: Flask, routes_prefix: str) -> None:
    """Answer Dash's plotly.js address with the bundle, and the map bundle's address with it
    (revalidated by their ETags, as Dash does)."""
    bundles = {
        f"{routes_prefix}{DASH_PLOTLY_PATH}": BUNDLE,
        f"{routes_prefix}{MAP_PLOTLY_PATH}": MAP_BUNDLE,
    }

    @server.before_request
    def plotly_bundle() -> Response | None:
        bundle = bundles.get(request.path)
        if bundle is None:
            return None
        return send_file(bundle, mimetype="text/javascript", conditional=True, etag=True)
