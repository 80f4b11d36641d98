"""`/masks`: define a causal mask from prompts or by hand, and label it (its name is a hash).

`?from=<hash>` starts from a stored mask, `?cluster=<id>` preselects a cluster; `?study=` and
`?iteration=` as elsewhere. `callbacks/masks.py` computes and stores.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.study.summary import cluster_sizes
from dashboard.urls import parse_index, single

dash.register_page(__name__, path="/masks", title="Causal masks · SPD Atlas")

STORE = "masks-store"
START = "masks-start"
EXISTING = "masks-existing"
CLUSTERS = "masks-clusters"
OVERRIDES = "masks-overrides"
PROMPTS = "masks-prompts"
AGGREGATE = "masks-aggregate"
THRESHOLD = "masks-threshold"
LEVEL = "masks-level"
COMPUTE = "masks-compute"
REQUEST = "masks-request"
PROMPT_VALUES = "masks-prompt-values"
PROMPT_STATUS = "masks-prompt-status"
PREVIEW = "masks-preview"
LABEL = "masks-label"
SAVE = "masks-save"
SAVED = "masks-saved"


def field(label: str, control) -> dbc.Row:
    return dbc.Row(
        [dbc.Label(label, width=3, className="small"), dbc.Col(control, width=9)], className="mb-2"
    )


def layout(**query: str | list[str]) -> html.Div:
    opened = open_study_page("Causal masks", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    sizes = cluster_sizes(study, iteration)
    preselected = parse_index(single(query.get("cluster")))
    existing = single(query.get("from")) or ""
    options = [{"label": f"cluster {c} ({n} members)", "value": int(c)} for c, n in sizes.items()]
    prompts_card = dbc.Card(
        dbc.CardBody(
            [
                html.H5("From prompts"),
                dbc.Textarea(id=PROMPTS, rows=4, placeholder="One prompt per line"),
                dbc.Row(
                    [
                        dbc.Col(
                            dbc.Select(
                                id=AGGREGATE,
                                value="max",
                                options=[
                                    {"label": "max CI over tokens", "value": "max"},
                                    {"label": "mean CI over tokens", "value": "mean"},
                                ],
                            )
                        ),
                        dbc.Col(
                            dbc.Input(
                                id=THRESHOLD, type="number", min=0, max=1, step=0.05, value=0.5
                            )
                        ),
                        dbc.Col(
                            dbc.Select(
                                id=LEVEL,
                                value="subcomponent",
                                options=[
                                    {"label": "per subcomponent", "value": "subcomponent"},
                                    {"label": "whole clusters", "value": "cluster"},
                                ],
                            )
                        ),
                        dbc.Col(dbc.Button("Compute", id=COMPUTE, size="sm")),
                    ],
                    className="g-2 my-2",
                ),
                html.Div(id=PROMPT_STATUS, className="small text-muted"),
            ]
        ),
        className="mb-3",
    )
    return html.Div(
        [
            dcc.Store(
                id=STORE, data={"study": name, "version": study.version, "iteration": iteration}
            ),
            dcc.Store(id=PROMPT_VALUES),
            dcc.Store(id=REQUEST),
            html.H2("Causal masks"),
            html.P(
                "A mask multiplies every subcomponent by a value in [0, 1] (1 keeps it, 0 "
                f"switches it off). Clusters at iteration {iteration} of {study.name}.",
                className="text-muted",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            prompts_card,
                            html.H5("By hand"),
                            field(
                                "Start from",
                                dbc.RadioItems(
                                    id=START,
                                    inline=True,
                                    value="existing" if existing else "empty",
                                    options=[
                                        {"label": "empty (all off)", "value": "empty"},
                                        {"label": "full (all on)", "value": "full"},
                                        {"label": "a stored mask", "value": "existing"},
                                        {"label": "the prompts' mask", "value": "prompts"},
                                    ],
                                ),
                            ),
                            field(
                                "Stored mask",
                                dbc.Input(id=EXISTING, value=existing, placeholder="hash"),
                            ),
                            field(
                                "Clusters on",
                                dcc.Dropdown(
                                    id=CLUSTERS,
                                    options=options,
                                    multi=True,
                                    value=[preselected] if preselected in sizes.index else [],
                                ),
                            ),
                            field(
                                "Subcomponent values",
                                dbc.Textarea(
                                    id=OVERRIDES,
                                    rows=3,
                                    placeholder="model.layers.0.mlp.up_proj:12=0.5 (one per line)",
                                ),
                            ),
                        ],
                        lg=7,
                    ),
                    dbc.Col(
                        [
                            html.H5("This mask"),
                            html.Div(id=PREVIEW, className="small"),
                            dbc.InputGroup(
                                [
                                    dbc.Input(id=LABEL, placeholder="label (optional)"),
                                    dbc.Button("Label and store", id=SAVE, color="primary"),
                                ],
                                size="sm",
                                className="my-2",
                            ),
                            html.Div(id=SAVED),
                        ],
                        lg=5,
                    ),
                ]
            ),
        ]
    )
