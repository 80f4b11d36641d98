"""`/probe`: text in, cluster activations out. `?text=<hash>` names a stored text; `?study=`
and `?iteration=` as elsewhere. `callbacks/probe.py` runs the model as a background job."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.job_inputs import prompt_box, run_and_cancel, setting
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.inference.limits import MAX_TOKENS
from dashboard.stores import content_store
from dashboard.stores.content import MalformedHashError, UnknownHashError
from dashboard.stores.database import StoreError
from dashboard.urls import single

dash.register_page(__name__, path="/probe", title="Probe · SPD Atlas")

STORE = "probe-store"
TEXT = "probe-text"
THRESHOLD = "probe-threshold"
RUN = "probe-run"
REQUEST = "probe-request"
CANCEL = "probe-cancel"
RESULT = "probe-result"
MESSAGE = "probe-message"
URL_SYNC = "probe-url"
PROGRESS = "probe-progress"


def stored_text(text_hash: str | None) -> tuple[str, str]:
    """(text, problem) for the URL's `text=`."""
    if not text_hash:
        return "", ""
    try:
        return content_store().text(text_hash), ""
    except (MalformedHashError, UnknownHashError, StoreError) as error:
        return "", str(error)


def layout(**query: str | list[str]) -> html.Div:
    opened = open_study_page("Probe", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    problem = opened.iteration_problem
    text, text_problem = stored_text(single(query.get("text")))
    problem = "; ".join(p for p in (problem, text_problem) if p)
    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Store(id=REQUEST),
            dcc.Store(
                id=STORE,
                data={
                    "study": name,
                    "version": study.version,
                    "iteration": iteration,
                    "cluster": single(query.get("cluster")),
                },
            ),
            html.H2("Probe"),
            html.P(
                f"Type text and see which clusters of {study.name} fire on each token "
                f"(iteration {iteration}). Up to {MAX_TOKENS} tokens.",
                className="text-muted",
            ),
            dbc.Alert(problem, id=MESSAGE, color="warning", is_open=bool(problem)),
            prompt_box(TEXT, text, 4, "The river flows through the old city."),
            dbc.Row(
                [
                    setting(
                        "CI above",
                        dbc.Input(id=THRESHOLD, type="number", min=0, max=1, step=0.05, value=0.1),
                    ),
                    run_and_cancel(RUN, CANCEL),
                ],
                className="my-2 g-2",
            ),
            html.Div(id=PROGRESS, className="small text-muted"),
            dcc.Loading(html.Div(id=RESULT)),
        ]
    )
