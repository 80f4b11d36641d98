"""The data of small charts that `atlas_components.Chart` draws in the browser as SVG, one Dash
component each and no plotly.js: a cluster's first screen (its makeup and activation).

plotly.js's evaluation and the first draw of four small plots were most of a cluster page's
time in the browser; these draw with the page's own React render. Hover shows exact values;
zooming is left to the plotly figures further down.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.components.figures import plain


def bars(x, series: dict[str, np.ndarray], title: str, x_title: str, y_title: str) -> dict:
    """A group of bars per position of `x`, one per series."""
    return {
        "kind": "bars",
        "title": title,
        "xTitle": x_title,
        "yTitle": y_title,
        "x": plain(x),
        "series": [{"name": name, "values": plain(values)} for name, values in series.items()],
    }


def steps(x, series: dict[str, np.ndarray], title: str, x_title: str, y_title: str) -> dict:
    """One filled step line per series over the positions `x` (a single SVG path each)."""
    return {**bars(x, series, title, x_title, y_title), "kind": "steps"}


def histogram(edges: np.ndarray, series: dict[str, np.ndarray], title: str, x_title: str) -> dict:
    """Bars of counts per bin, labelled by the bins' centres."""
    centres = (edges[:-1] + edges[1:]) / 2
    return bars(np.round(centres, 3), series, title, x_title, "count")


def distribution(values: np.ndarray, bins: int, x_title: str) -> dict:
    """A histogram of a measure over clusters (NaN, not measured, left out) whose bars can be
    dragged across to pick a range of the measure."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    counts, edges = np.histogram(values, bins=bins)  # none: empty bins over [0, 1]
    chart = histogram(edges, {"clusters": counts}, "", x_title)
    return {**chart, "yTitle": "clusters", "edges": plain(edges), "brush": True}


CURVE_POINTS = 800  # a curve's points sent at most (its marks always among them)


def curve(
    x: np.ndarray,
    y: np.ndarray,
    title: str,
    x_title: str,
    y_title: str,
    marks: dict[str, int],
    pick: bool = False,
) -> dict:
    """A line of `y` over `x`, thinned to CURVE_POINTS evenly spaced points plus the points at
    `marks` (`{label: x}`, drawn as vertical lines); with `pick`, a click picks an x."""
    x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
    kept = np.unique(
        np.concatenate(
            [
                np.linspace(0, len(x) - 1, min(len(x), CURVE_POINTS)).round().astype(int),
                np.flatnonzero(np.isin(x, list(marks.values()))),
            ]
        )
    )
    return {
        "kind": "curve",
        "title": title,
        "xTitle": x_title,
        "yTitle": y_title,
        "x": plain(x[kept]),
        "y": plain(y[kept]),
        "marks": [{"x": int(at), "label": label} for label, at in marks.items()],
        "pick": pick,
    }


def makeup_heatmap(matrix: pd.DataFrame) -> dict:
    """Members per layer (rows) and module kind (columns)."""
    return {
        "kind": "heatmap",
        "title": "Members by layer and module kind",
        "xTitle": "module kind",
        "yTitle": "layer",
        "x": [str(column) for column in matrix.columns],
        "y": [f"layer {layer}" for layer in matrix.index],
        "z": plain(matrix.to_numpy()),
        "unit": "members",
    }
