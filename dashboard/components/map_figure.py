"""The 3D map of clusters: one trace for every cluster and one for the highlighted one.

Sized for 100,000 points in under 3 MB: coordinates travel as uint16 (UMAP units carry no
meaning, the axes show no ticks), the colour measure as 256 levels with a colour bar labelled in
real values, cluster ids as uint32 customdata, and one short text per point (members and the
top token). A click is mapped back to a cluster by point number on the server (3D clicks drop
typed customdata).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

HOVER_TOKEN_CHARS = 12
COLOUR_LEVELS = 255
COLOUR_TICKS = 5


def hover_text(size: int, top_tokens: str) -> str:
    """`<members> <first top token>`, shortened and escaped for a hover label (ASCII
    separators: a non-ASCII one would travel as a six-byte JSON escape per point)."""
    first = top_tokens.split("' '")[0].strip("'") if top_tokens else ""
    return f"{size} {html.escape(first[:HOVER_TOKEN_CHARS])}"


def quantized(values: np.ndarray, levels: int, dtype) -> tuple[np.ndarray, float, float]:
    """`values` as integers 0..levels over their finite range (NaN, not measured: the lowest),
    with the range's low end and span."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    values = np.where(np.isfinite(values), values, low)
    span = high - low or 1.0
    return np.round((values - low) / span * levels).astype(dtype), low, span


def map_figure(
    coordinates: pd.DataFrame, table: pd.DataFrame, color: str, color_label: str
) -> go.Figure:
    """`coordinates` (cluster, x, y, z) and `table` (cluster, size, top_tokens, measures) in the
    same cluster order."""
    axes = {axis: quantized(coordinates[axis], 65535, np.uint16)[0] for axis in ("x", "y", "z")}
    measure = table[color] if color in table else np.zeros(len(table))
    levels, low, span = quantized(measure, COLOUR_LEVELS, np.uint8)
    ticks = np.linspace(0, COLOUR_LEVELS, COLOUR_TICKS)
    figure = go.Figure(
        [
            go.Scatter3d(
                **axes,
                mode="markers",
                marker={
                    "size": 3,
                    "color": levels,
                    "cmin": 0,
                    "cmax": COLOUR_LEVELS,
                    "colorscale": "Viridis",
                    "colorbar": {
                        "title": {"text": color_label},
                        "thickness": 12,
                        "tickvals": ticks.tolist(),
                        "ticktext": [f"{low + t / COLOUR_LEVELS * span:.3g}" for t in ticks],
                    },
                    "opacity": 0.85,
                },
                customdata=table["cluster"].to_numpy(np.uint32),
                text=[
                    hover_text(size, tokens)
                    for size, tokens in zip(table["size"], table["top_tokens"], strict=True)
                ],
                hovertemplate="cluster %{customdata}<br>members, top token: %{text}<extra></extra>",
                name="clusters",
            ),
            go.Scatter3d(
                x=[],
                y=[],
                z=[],
                mode="markers",
                marker={"size": 9, "color": "#d62728", "symbol": "diamond"},
                hoverinfo="skip",
                name="selected",
            ),
        ]
    )
    # UMAP axes carry no meaning: no tick labels, and no titles (the caption under the map says
    # what it is; in WebGL each title is text drawn as triangles, a fifth of the map's drawing
    # time in software rendering); no spike lines to the walls on hover
    bare_axis = {"title": {"text": ""}, "showticklabels": False, "showspikes": False}
    figure.update_layout(
        uirevision="cluster-map",  # keeps the camera across updates
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        scene={"xaxis": bare_axis, "yaxis": bare_axis, "zaxis": bare_axis},
    )
    return figure


def highlight_position(coordinates: pd.DataFrame, cluster: int) -> dict[str, list[int]]:
    """Where the selected cluster's marker goes, in the map's quantized coordinates."""
    row = int(np.flatnonzero(coordinates["cluster"].to_numpy() == cluster)[0])
    return {
        axis: [int(quantized(coordinates[axis], 65535, np.uint16)[0][row])]
        for axis in ("x", "y", "z")
    }
