"""The lean plotly.js bundles: plotly's own version, and every trace type the code draws in the
bundle of the pages that draw it (the 3D map only on the cluster list)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

from dashboard.plotly_bundle import BUNDLE, MAP_BUNDLE, MAP_TRACES, TRACES

REPO = Path(__file__).resolve().parents[1]
EVERY_TRACE_TYPE = {
    name.lower()
    for name in go.__all__
    if isinstance(getattr(go, name), type) and issubclass(getattr(go, name), BaseTraceType)
}


MAP_FIGURE = REPO / "dashboard/components/map_figure.py"  # the list's 3D map


def drawn_trace_types(paths: list[Path]) -> set[str]:
    """Trace types named in `paths`: `"type": "<trace>"` in figure dicts and `go.<Trace>(`
    constructors."""
    found = set()
    for path in paths:
        text = path.read_text()
        found |= set(re.findall(r'"type":\s*"(\w+)"', text)) & EVERY_TRACE_TYPE
        found |= {name.lower() for name in re.findall(r"\bgo\.(\w+)\(", text)} & EVERY_TRACE_TYPE
    return found


def test_the_bundles_are_the_plotly_js_that_plotly_ships() -> None:
    version = get_plotlyjs_version()
    for bundle in (BUNDLE, MAP_BUNDLE):
        assert bundle.read_text().startswith(f"/* plotly.js {version} ")
    pinned = json.loads((REPO / "scripts/plotly-bundle/package.json").read_text())
    assert pinned["dependencies"]["plotly.js"] == version


def test_every_trace_type_the_code_draws_is_in_the_bundle_of_its_page() -> None:
    code = [*REPO.glob("dashboard/**/*.py"), *REPO.glob("callbacks/*.py")]
    drawn = drawn_trace_types([path for path in code if path != MAP_FIGURE])
    assert {"bar", "heatmap", "scattergl"} <= drawn  # the scan finds what it looks for
    assert drawn <= set(TRACES)
    assert "scatter3d" in drawn_trace_types([MAP_FIGURE])
    assert drawn_trace_types([MAP_FIGURE]) <= set(MAP_TRACES)


def test_the_bundles_list_their_trace_types() -> None:
    for bundle, traces in ((BUNDLE, TRACES), (MAP_BUNDLE, MAP_TRACES)):
        banner = bundle.read_text().splitlines()[0]
        assert sorted(banner.split("traces: ")[1].split(";")[0].split()) == sorted(traces)
