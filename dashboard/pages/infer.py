"""`/infer`: run the model with a causal mask on a prompt set or on a slice of the held-out
corpus. `?mask=<hash>`, `?prompts=<hash>`, `?slice=<start>:<count>` (held-out windows),
`?mode=` (as_is, ablate, keep), `?clusters=1,2` (for ablate and keep); `?study=`, `?iteration=`.
`callbacks/infer.py` runs the job in the background."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.inference.limits import MAX_SLICE_WINDOWS
from dashboard.inference.masks import MODES
from dashboard.pages.probe import stored_text
from dashboard.study.summary import cluster_sizes
from dashboard.urls import single

dash.register_page(__name__, path="/infer", title="Masked inference · SPD Atlas")

STORE = "infer-store"
MASK = "infer-mask"
PROMPTS = "infer-prompts"
SLICE = "infer-slice"
WINDOWS = "infer-windows"  # the slice's windows, one row each: choose one to see its tokens
TOKENS = "infer-tokens"
JOB = "infer-job"  # the slice job's arguments: a chosen window's tokens come from its result
HELDOUT = "infer-heldout"
MODE = "infer-mode"
CLUSTERS = "infer-clusters"
RUN = "infer-run"
REQUEST = "infer-request"
CANCEL = "infer-cancel"
PROGRESS = "infer-progress"
RESULT = "infer-result"
MESSAGE = "infer-message"
URL_SYNC = "infer-url"


def chosen_clusters(text: str | None, known) -> list[int]:
    values = [part for part in (text or "").split(",") if part.strip().isdigit()]
    return [int(v) for v in values if int(v) in known]


def layout(**query: str | list[str]) -> html.Div:
    opened = open_study_page("Masked inference", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    prompts, problem = stored_text(single(query.get("prompts")))
    sizes = cluster_sizes(study, iteration)
    mode = single(query.get("mode")) or "as_is"
    preselected = chosen_clusters(
        single(query.get("clusters")) or single(query.get("cluster")), sizes.index
    )
    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Store(id=REQUEST),
            dcc.Store(id=JOB),
            dcc.Store(
                id=STORE, data={"study": name, "version": study.version, "iteration": iteration}
            ),
            html.H2("Masked inference"),
            html.P(
                f"The target and the masked model of {study.name} on your prompts: top "
                "tokens, loss and KL at every position.",
                className="text-muted",
            ),
            dbc.Alert(problem, id=MESSAGE, color="warning", is_open=bool(problem)),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.InputGroup(
                            [
                                dbc.InputGroupText("Mask"),
                                dbc.Input(
                                    id=MASK,
                                    value=single(query.get("mask")) or "",
                                    placeholder="hash from /masks",
                                ),
                            ],
                            size="sm",
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        dbc.Select(
                            id=MODE,
                            value=mode if mode in MODES else "as_is",
                            options=[{"label": text, "value": key} for key, text in MODES.items()],
                        ),
                        md=4,
                    ),
                ],
                className="g-2 mb-2",
            ),
            dcc.Dropdown(
                id=CLUSTERS,
                multi=True,
                value=preselected,
                placeholder="clusters to ablate or keep",
                options=[
                    {"label": f"cluster {c} ({n} members)", "value": int(c)}
                    for c, n in sizes.items()
                ],
            ),
            dbc.Textarea(
                id=PROMPTS,
                value=prompts,
                rows=5,
                className="my-2",
                placeholder="One prompt per line",
            ),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("or held-out windows"),
                    dbc.Input(
                        id=SLICE,
                        value=single(query.get("slice")) or "",
                        placeholder="start:count, e.g. 0:16",
                    ),
                    dbc.InputGroupText(
                        f"up to {MAX_SLICE_WINDOWS} windows of {study.window_shape[1]} tokens; "
                        "when set, the prompts are not used",
                        className="small",
                    ),
                ],
                size="sm",
                className="mb-2",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Use held-out corpus text",
                        id=HELDOUT,
                        size="sm",
                        color="secondary",
                        className="me-2",
                    ),
                    dbc.Button("Run", id=RUN, size="sm", color="primary", className="me-2"),
                    dbc.Button("Cancel", id=CANCEL, size="sm", color="secondary", disabled=True),
                ]
            ),
            html.Div(id=PROGRESS, className="small text-muted my-1"),
            dcc.Loading(html.Div(id=RESULT)),
        ]
    )
