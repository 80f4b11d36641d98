"""Text windows with every token shaded by an activation, drawn as AG Grid rows.

One grid row holds a window's tokens as data; the `TokenText` cell renderer in
`assets/dashAgGridComponentFunctions.js` draws them (as text, never HTML: tokens come from the
corpus), shades them in the browser (activation in red, or a hue per cluster) and puts the exact
value in each token's `title`. A page holds a few grids instead of one Dash component per token.
"""

from __future__ import annotations

import dash_ag_grid as dag
import numpy as np
from dash import dcc, html

from dashboard.analysis.cluster_examples import ClusterActivation, Example
from dashboard.components.tables import markdown_link
from dashboard.study import Study
from dashboard.study.summary import vocab_tokens

TOKEN_RENDERER = "TokenText"

# Set each threshold grid's `cellRendererParams.threshold` in the browser: the slider's value is
# the first argument, then the grids' `columnDefs`; returns the new `columnDefs` of every grid.
THRESHOLD_TO_COLUMNS = f"""function (threshold, ...columnSets) {{
    return columnSets.map((columns) => columns.map((column) =>
        column.cellRenderer === "{TOKEN_RENDERER}"
            ? {{...column, cellRendererParams: {{...column.cellRendererParams,
                                                 threshold: threshold || 0}}}}
            : column
    ));
}}"""


def tokens_column(header: str, colour_by: str = "activation", clickable: bool = False) -> dict:
    """The column that draws a row's `tokens`, shaded by `values` (or by `clusters` with
    `colour_by="cluster"`); clickable tokens send `{window, offset}` to `cellRendererData`."""
    return {
        "field": "tokens",
        "headerName": header,
        "cellRenderer": TOKEN_RENDERER,
        "cellRendererParams": {"threshold": 0, "colourBy": colour_by, "clickable": clickable},
        "flex": 1,
        "minWidth": 200,
        "autoHeight": True,
        "wrapText": True,
    }


def link_column(header: str, width: int = 90) -> dict:
    """A column of markdown links (`[text](/path)` made by the server) in the row's `link`."""
    return {"field": "link", "headerName": header, "cellRenderer": "markdown", "width": width}


def token_grid(
    grid_id: str,
    columns: list[dict],
    height: str = "24rem",
    rows: list[dict] | None = None,
    **grid_options: object,
) -> dag.AgGrid:
    """A grid of `rows` (or empty, for a callback to fill `rowData`) that renders only the rows
    in view."""
    return dag.AgGrid(
        id=grid_id,
        rowData=rows or [],
        columnDefs=columns,
        defaultColDef={"resizable": True, "sortable": False},
        dashGridOptions={
            "rowBuffer": 2,
            "suppressCellFocus": True,
            "suppressRowHoverHighlight": True,
            **grid_options,
        },
        style={"height": height},
        className="ag-theme-alpine",
    )


def rounded(values: np.ndarray) -> list[float]:
    """Activations as a JSON list, to 3 decimals."""
    return np.round(np.asarray(values, dtype=np.float64), 3).tolist()


def example_records(
    study: Study,
    activation: ClusterActivation,
    examples: list[Example],
    query: str = "",
    context: int = 16,
) -> list[dict]:
    """The grid row of each example: `context` tokens either side of the example token, its
    `kind` and `band`, and a link to its sample page (`query` keeps the study and iteration)."""
    _, length = study.window_shape
    windows = study.array("windows/token_ids.npy")
    tokens = vocab_tokens(study)
    records = []
    for example in examples:
        token_ids = np.asarray(windows[example.window])
        activations = activation.in_window(example.window, length)
        start = max(0, example.offset - context)
        stop = min(length, example.offset + context + 1)
        records.append(
            {
                "kind": example.kind,
                "band": example.band,
                "window": example.window,
                "start": start,
                "focus": example.offset - start,
                "tokens": [tokens[token_id] for token_id in token_ids[start:stop].tolist()],
                "values": rounded(activations[start:stop]),
                "link": markdown_link(f"#{example.window}", f"/sample/{example.window}{query}"),
            }
        )
    return records


def clicked_token(data: dict | None, window_shape: tuple[int, int]) -> tuple[int, int] | None:
    """`(window, offset)` of a TokenText click (a grid's `cellRendererData`, or the `clicked` of
    an `atlas_components.TokenText`), or None when the click names no token of the study."""
    token = (data or {}).get("value")
    windows, length = window_shape
    if not isinstance(token, dict):
        return None
    window, offset = token.get("window"), token.get("offset")
    if not all(
        isinstance(number, int) and not isinstance(number, bool) for number in (window, offset)
    ):
        return None
    return (window, offset) if 0 <= window < windows and 0 <= offset < length else None


def threshold_slider(slider_id: str, label: str) -> html.Div:
    """The control that sets the shading threshold of example tokens."""
    return html.Div(
        [
            html.Small(label),
            dcc.Slider(
                id=slider_id, min=0, max=1, step=0.05, value=0, marks={0: "0", 0.5: "0.5", 1: "1"}
            ),
        ],
        style={"maxWidth": "24rem"},
    )
