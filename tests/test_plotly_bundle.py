"""The lean plotly.js bundle: plotly's own version, with every trace type the code draws."""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.graph_objects as go
from plotly.basedatatypes import BaseTraceType
from plotly.offline import get_plotlyjs_version

from dashboard.plotly_bundle import BUNDLE, TRACES

REPO = Path(__file__).resolve().parents[1]
EVERY_TRACE_TYPE = {
    name.lower()
    for name in go.__all__
    if isinstance(getattr(go, name), type) and issubclass(getattr(go, name), BaseTraceType)
}


def drawn_trace_types(paths: list[Path]) -> set[str]:
    """Trace types named in `paths`: `"type": "<trace>"` in figure dicts and `go.<Trace>(`
    constructors."""
    found = set()
    for path in paths:
        text = path.read_text()
        found |= set(re.findall(r'"type":\s*"(\w+)"', text)) & EVERY_TRACE_TYPE
        found |= {name.lower() for name in re.findall(r"\bgo\.(\w+)\(", text)} & EVERY_TRACE_TYPE
    return found


def test_the_bundle_is_the_plotly_js_that_plotly_ships() -> None:
    version = get_plotlyjs_version()
    assert BUNDLE.read_text().startswith(f"/* plotly.js {version} ")
    pinned = json.loads((REPO / "scripts/plotly-bundle/package.json").read_text())
    assert pinned["dependencies"]["plotly.js"] == version


def test_every_trace_type_the_code_draws_is_in_the_bundle() -> None:
    drawn = drawn_trace_types([*REPO.glob("dashboard/**/*.py"), *REPO.glob("callbacks/*.py")])
    assert {"bar", "heatmap", "scattergl"} <= drawn  # the scan finds what it looks for
    assert drawn <= set(TRACES)


def test_the_bundle_lists_its_trace_types() -> None:
    banner = BUNDLE.read_text().splitlines()[0]
    assert sorted(banner.split("traces: ")[1].split(";")[0].split()) == sorted(TRACES)
