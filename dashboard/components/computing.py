"""Spinners that say what the server computes on first use (analyses at an iteration that the
study does not store), so a slow first view is never a silent blank."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html


def computing_message(what: str, iteration: int) -> str:
    """What the page says while `what` is computed at `iteration`."""
    return f"Computing {what} at iteration {iteration} (this takes a while the first time) ..."


def computing_loading(children, message: str | None) -> dcc.Loading:
    """`children` under a loading spinner that shows `message` beside it when there is one."""
    if message is None:
        return dcc.Loading(children)
    spinner = html.Div(
        [dbc.Spinner(size="sm", color="secondary"), html.Span(message, className="ms-2")],
        className="computing-message d-flex align-items-center text-muted small p-3",
    )
    return dcc.Loading(children, custom_spinner=spinner)
