"""Plotly figures shared by pages: labelled bars, histograms, heatmaps and the plane view."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from dashboard.analysis.plane import PlaneView

MARGIN = {"l": 55, "r": 15, "t": 35, "b": 50}
COLORS = ("#4c72b0", "#dd8452", "#55a868")


def styled(figure: go.Figure, title: str, x_title: str, y_title: str) -> go.Figure:
    figure.update_layout(
        title={"text": title, "font": {"size": 14}},
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin=MARGIN,
        template="plotly_white",
        height=300,
        legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"},
    )
    return figure


def bars(x, series: dict[str, np.ndarray], title: str, x_title: str, y_title: str) -> go.Figure:
    figure = go.Figure(
        [
            go.Bar(x=x, y=values, name=name, marker_color=COLORS[i % len(COLORS)])
            for i, (name, values) in enumerate(series.items())
        ]
    )
    figure.update_layout(barmode="group", showlegend=len(series) > 1)
    return styled(figure, title, x_title, y_title)


def histogram_bars(
    edges: np.ndarray, series: dict[str, np.ndarray], title: str, x_title: str
) -> go.Figure:
    centres = (edges[:-1] + edges[1:]) / 2
    return bars(np.round(centres, 3), series, title, x_title, "count")


def makeup_heatmap(matrix: pd.DataFrame) -> go.Figure:
    figure = go.Figure(
        go.Heatmap(
            z=matrix.to_numpy(),
            x=[str(column) for column in matrix.columns],
            y=[f"layer {layer}" for layer in matrix.index],
            colorscale="Blues",
            hovertemplate="%{y}, %{x}: %{z} members<extra></extra>",
            colorbar={"title": {"text": "members"}},
        )
    )
    return styled(figure, "Members by layer and module kind", "module kind", "layer")


def plane_figure(view: PlaneView, colours: np.ndarray | None, colour_label: str) -> go.Figure:
    """The sampled activations on the plane and the cluster's map as arrows."""
    scale = np.abs(view.grid).max(initial=1.0) / max(np.abs(view.field).max(initial=1e-12), 1e-12)
    arrows = view.field * scale * 0.08
    xs, ys = [], []
    for (x, y), (dx, dy) in zip(view.grid, arrows, strict=True):
        xs += [x, x + dx, None]
        ys += [y, y + dy, None]
    marker = {"size": 4, "opacity": 0.6}
    if colours is not None:
        marker.update(color=colours, colorscale="Turbo", colorbar={"title": {"text": colour_label}})
    figure = go.Figure(
        [
            go.Scattergl(
                x=view.coordinates[:, 0],
                y=view.coordinates[:, 1],
                mode="markers",
                marker=marker,
                name="residual stream",
                hovertemplate="(%{x:.2f}, %{y:.2f})<extra></extra>",
            ),
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": "#444", "width": 1},
                name="cluster map",
                hoverinfo="skip",
            ),
        ]
    )
    figure = styled(figure, "Plane of two directions", "first direction", "second direction")
    figure.update_layout(height=420)
    return figure
