"""`/graph`: why the model said that. A prompt's cluster attribution graph for one output logit,
checked against ablations. `?text=<hash>` (a stored text), `?target=` (empty: the likeliest next
token; `@P`: the next token at position P; else one token), `?threshold=` (a node's CI),
`?share=` (pruning: the share of the total attribution the kept nodes and edges carry);
`?study=` and `?iteration=` as elsewhere. A page opened with a text builds its graph at once.
`callbacks/graph.py` runs the job in the background, like the probe."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.job_inputs import prompt_box, run_and_cancel, setting
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.inference.limits import MAX_TOKENS
from dashboard.pages.probe import stored_text
from dashboard.urls import single

dash.register_page(__name__, path="/graph", title="Attribution graph · SPD Atlas")

STORE = "graph-store"
TEXT = "graph-text"
TARGET = "graph-target"
THRESHOLD = "graph-threshold"
SHARE = "graph-share"
RUN = "graph-run"
AUTORUN = "graph-autorun"  # fires once when the address names a text
REQUEST = "graph-request"
CANCEL = "graph-cancel"
RESULT = "graph-result"
MESSAGE = "graph-message"
URL_SYNC = "graph-url"
PROGRESS = "graph-progress"
FIGURE = "graph-figure"
PICK = "graph-pick"  # nodes chosen for "mask these"
MASK_THESE = "graph-mask-these"
GO = "graph-go"  # set to a cluster page, or to masked inference with the new mask

DEFAULT_THRESHOLD, DEFAULT_SHARE = 0.1, 0.8


def number_in(text: str | None, default: float, name: str) -> tuple[float, str]:
    """A query value in (0, 1], or the default and why the value was not used."""
    if text is None:
        return default, ""
    try:
        value = float(text)
    except ValueError:
        return default, f"{name}={text!r} is not a number; {default} is used"
    if not 0 < value <= 1:
        return default, f"{name}={text!r} is outside (0, 1]; {default} is used"
    return value, ""


def layout(**query: str | list[str]) -> html.Div:
    opened = open_study_page("Attribution graph", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    text, text_problem = stored_text(single(query.get("text")))
    threshold, threshold_problem = number_in(
        single(query.get("threshold")), DEFAULT_THRESHOLD, "threshold"
    )
    share, share_problem = number_in(single(query.get("share")), DEFAULT_SHARE, "share")
    problems = (opened.iteration_problem, text_problem, threshold_problem, share_problem)
    problem = "; ".join(p for p in problems if p)

    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Location(id=GO, refresh="callback-nav"),
            dcc.Store(id=REQUEST),
            dcc.Store(
                id=STORE,
                data={"study": name, "version": study.version, "iteration": iteration},
            ),
            dcc.Interval(id=AUTORUN, interval=50, max_intervals=1, disabled=not text),
            html.H2("Attribution graph"),
            html.P(
                f"Type a prompt and see which clusters of {study.name} (iteration {iteration}), "
                "at which positions, drove the model's next-token logit, and through which "
                "earlier clusters; the top nodes are then switched off one by one to check the "
                f"attributions. Up to {MAX_TOKENS} tokens.",
                className="text-muted",
            ),
            dbc.Alert(problem, id=MESSAGE, color="warning", is_open=bool(problem)),
            prompt_box(TEXT, text, 3, "The river flows through the old city and the people of the"),
            dbc.Row(
                [
                    setting(
                        "target",
                        dbc.Input(
                            id=TARGET,
                            value=single(query.get("target")) or "",
                            placeholder="likeliest next token; @P: position P; or a token",
                            debounce=True,
                        ),
                    ),
                    setting(
                        "CI above",
                        dbc.Input(
                            id=THRESHOLD,
                            type="number",
                            min=0.01,
                            max=1,
                            step=0.05,
                            value=threshold,
                        ),
                    ),
                    setting(
                        "keep share",
                        dbc.Input(id=SHARE, type="number", min=0.05, max=1, step=0.05, value=share),
                    ),
                    run_and_cancel(RUN, CANCEL, "Build"),
                ],
                className="my-2 g-2",
            ),
            html.Div(id=PROGRESS, className="small text-muted"),
            dcc.Loading(html.Div(id=RESULT)),
        ]
    )
