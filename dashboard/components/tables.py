"""Tables: small striped ones of cells (text or links), and virtualized grids for long lists
(a grid draws only the rows in view, where a table is one Dash component per cell)."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html


def small_table(header: list[str], rows: list[list], table_id: str | None = None) -> dbc.Table:
    props = {"id": table_id} if table_id else {}
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(name) for name in header])),
            html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]),
        ],
        size="sm",
        striped=True,
        className="small",
        **props,
    )


def markdown_link(text: object, href: str) -> str:
    """A grid cell's link (the grid's `markdown` renderer; no raw HTML passes it)."""
    label = str(text).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    return f"[{label}]({href})"


def list_grid(grid_id: str, column_defs: list[dict], rows: list[dict], height: str) -> dag.AgGrid:
    """A read-only, sortable grid of `rows` that draws only the rows in view."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=column_defs,
        rowData=rows,
        defaultColDef={"sortable": True, "resizable": True, "flex": 1, "minWidth": 80},
        # rowBuffer 0: no rows drawn beyond the view (the default draws 10 more)
        dashGridOptions={
            "suppressCellFocus": True,
            "rowHeight": 28,
            "headerHeight": 30,
            "rowBuffer": 0,
        },
        style={"height": height},
        className="ag-theme-alpine compact-grid",
    )
