"""The inputs the live-model pages share: a prompt box, a labelled setting, Run and Cancel."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard.stores.content import MAX_TEXT_CHARS


def prompt_box(box_id: str, text: str, rows: int, placeholder: str) -> dbc.Textarea:
    return dbc.Textarea(
        id=box_id, value=text, maxLength=MAX_TEXT_CHARS, rows=rows, placeholder=placeholder
    )


def setting(label: str, field: object) -> dbc.Col:
    """A small labelled input in a row of settings."""
    return dbc.Col(dbc.InputGroup([dbc.InputGroupText(label), field], size="sm"), md=3)


def run_and_cancel(run_id: str, cancel_id: str, label: str = "Run") -> dbc.Col:
    """The button that starts the page's job, and Cancel, on while it runs."""
    return dbc.Col(
        html.Div(
            [
                dbc.Button(label, id=run_id, color="primary", size="sm", className="me-2"),
                dbc.Button("Cancel", id=cancel_id, color="secondary", size="sm", disabled=True),
            ]
        )
    )
