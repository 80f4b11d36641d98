"""Small striped tables of cells (text or links), the way every page lists things."""

from __future__ import annotations

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
