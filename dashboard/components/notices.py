"""Empty states and messages shown instead of data."""

from __future__ import annotations

import logging

import dash_bootstrap_components as dbc
from dash import dcc, html, set_props

from dashboard.runtime import LOST_JOB_MESSAGE

CALLBACK_ERROR = "callback-error"  # the shell's alert for a callback that failed

log = logging.getLogger("atlas.callbacks")


def no_study_notice(problem: str | None) -> dbc.Alert:
    """Why no study is shown, and how to load one."""
    body = [
        html.H4("No study loaded", className="alert-heading"),
        html.P(
            [
                "Set ",
                html.Code("ATLAS_STUDY"),
                " to a study directory, or to the name of one inside ",
                html.Code("ATLAS_DATA_DIR"),
                ", and restart the app. ",
                html.Code("spd-atlas build --preset demo"),
                " builds the demo study; ",
                html.Code("spd-atlas validate PATH"),
                " checks a study before you load it.",
            ]
        ),
    ]
    if problem:
        body.append(html.Pre(problem, className="mb-0 small", id="study-problem"))
    return dbc.Alert(body, color="warning" if problem else "secondary", id="no-study")


def not_found_notice(message: str) -> html.Div:
    return html.Div(
        [
            html.H3("Not found"),
            html.P(message, id="not-found-message"),
            dcc.Link("Back to the cluster list", href="/clusters"),
        ],
        id="not-found",
    )


def report_callback_error(error: Exception) -> None:
    """Every callback's error handler: the traceback goes to the log and a message to the page,
    and the outputs stay as they were, so a malformed input (a forged id, a bad iteration) gets
    no HTTP 500."""
    if LOST_JOB_MESSAGE in str(error):  # a background job whose process died
        log.error("a background job was lost: %s", error)
        set_props(CALLBACK_ERROR, {"children": LOST_JOB_MESSAGE, "is_open": True})
        return
    log.error("callback failed: %r", error, exc_info=error)
    set_props(
        CALLBACK_ERROR,
        {
            "children": "This view could not be updated from what it was sent "
            f"({type(error).__name__}); the details are in the server's log.",
            "is_open": True,
        },
    )
