"""Plotly figures shared by pages: labelled bars, histograms, heatmaps and the plane view.

Built as plain figure dicts: `dcc.Graph` takes them as they are, without the cost of plotly's
property validation (about 20 ms per figure, most of a cluster page's server time).
"""

from __future__ import annotations

import numpy as np

from dashboard.analysis.plane import PlaneView

MARGIN = {"l": 55, "r": 15, "t": 35, "b": 50}
COLORS = ("#4c72b0", "#dd8452", "#55a868")
AXIS = {"gridcolor": "#e5e5e5", "zerolinecolor": "#cccccc", "automargin": True}

Figure = dict


def plain(values) -> list:
    """JSON-ready values: numpy arrays and scalars become lists and Python numbers."""
    return np.asarray(values).tolist()


def styled(data: list[dict], title: str, x_title: str, y_title: str, **layout) -> Figure:
    return {
        "data": data,
        "layout": {
            "title": {"text": title, "font": {"size": 14}},
            "xaxis": {**AXIS, "title": {"text": x_title}},
            "yaxis": {**AXIS, "title": {"text": y_title}},
            "margin": MARGIN,
            "height": 300,
            "plot_bgcolor": "white",
            "legend": {"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
            **layout,
        },
    }


def bars(x, series: dict[str, np.ndarray], title: str, x_title: str, y_title: str) -> Figure:
    data = [
        {
            "type": "bar",
            "x": plain(x),
            "y": plain(values),
            "name": name,
            "marker": {"color": COLORS[i % len(COLORS)]},
        }
        for i, (name, values) in enumerate(series.items())
    ]
    return styled(data, title, x_title, y_title, barmode="group", showlegend=len(series) > 1)


def plane_figure(view: PlaneView, colours: np.ndarray | None, colour_label: str) -> Figure:
    """The sampled activations on the plane and the cluster's map as arrows."""
    scale = np.abs(view.grid).max(initial=1.0) / max(np.abs(view.field).max(initial=1e-12), 1e-12)
    arrows = view.field * scale * 0.08
    xs, ys = [], []
    for (x, y), (dx, dy) in zip(view.grid.tolist(), arrows.tolist(), strict=True):
        xs += [x, x + dx, None]
        ys += [y, y + dy, None]
    marker: dict = {"size": 4, "opacity": 0.6}
    if colours is not None:
        marker.update(
            color=plain(colours), colorscale="Turbo", colorbar={"title": {"text": colour_label}}
        )
    data = [
        {
            "type": "scattergl",
            "x": plain(view.coordinates[:, 0]),
            "y": plain(view.coordinates[:, 1]),
            "mode": "markers",
            "marker": marker,
            "name": "residual stream",
            "hovertemplate": "(%{x:.2f}, %{y:.2f})<extra></extra>",
        },
        {
            "type": "scatter",
            "x": xs,
            "y": ys,
            "mode": "lines",
            "line": {"color": "#444", "width": 1},
            "name": "cluster map",
            "hoverinfo": "skip",
        },
    ]
    return styled(
        data, "Plane of two directions", "first direction", "second direction", height=420
    )
