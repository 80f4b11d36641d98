"""The 3D map of clusters: one trace for every cluster and one for the highlighted one."""

from __future__ import annotations

import html

import numpy as np
import pandas as pd
import plotly.graph_objects as go

HOVER_TOKEN_CHARS = 14


def hover_token(top_tokens: str) -> str:
    """The first top token, shortened and escaped for a hover label."""
    first = top_tokens.split("' '")[0].strip("'") if top_tokens else ""
    return html.escape(first[:HOVER_TOKEN_CHARS])


def map_figure(
    coordinates: pd.DataFrame, table: pd.DataFrame, color: str, color_label: str
) -> go.Figure:
    """`coordinates` (cluster, x, y, z) and `table` (cluster, size, top_tokens, measures) in the
    same cluster order. Numbers travel as typed arrays; a click is mapped back to a cluster by
    its point number on the server (3D clicks drop typed customdata)."""
    values = table[color].to_numpy(np.float32) if color in table else np.zeros(len(table))
    figure = go.Figure(
        [
            go.Scatter3d(
                x=coordinates["x"].to_numpy(np.float32),
                y=coordinates["y"].to_numpy(np.float32),
                z=coordinates["z"].to_numpy(np.float32),
                mode="markers",
                marker={
                    "size": 3,
                    "color": values,
                    "colorscale": "Viridis",
                    "colorbar": {"title": {"text": color_label}, "thickness": 12},
                    "opacity": 0.85,
                },
                customdata=np.stack(
                    [table["cluster"].to_numpy(np.int32), table["size"].to_numpy(np.int32)],
                    axis=1,
                ),
                text=[hover_token(tokens) for tokens in table["top_tokens"]],
                hovertemplate="cluster %{customdata[0]}<br>%{customdata[1]} members"
                "<br>top token: %{text}<extra></extra>",
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
    figure.update_layout(
        uirevision="cluster-map",  # keeps the camera across updates
        margin={"l": 0, "r": 0, "t": 0, "b": 0},
        showlegend=False,
        scene={
            "xaxis": {"title": {"text": "UMAP 1"}, "showticklabels": False},
            "yaxis": {"title": {"text": "UMAP 2"}, "showticklabels": False},
            "zaxis": {"title": {"text": "UMAP 3"}, "showticklabels": False},
        },
    )
    return figure
