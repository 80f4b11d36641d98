"""`/component/<label>`: one subcomponent, `<module>:<c>`.

What the old per-component app showed (a token table, activation contexts with a CI threshold, a
token inspector), plus the cluster that holds it. `callbacks/component.py` fills the sections.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.atlas_components import TokenRows
from dashboard.components.discussion import explanation_form
from dashboard.components.notices import not_found_notice
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.components.token_text import threshold_slider
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of

dash.register_page(__name__, path_template="/component/<label>", title="Subcomponent · SPD Atlas")

STORE = "component-store"
TOKENS = "component-tokens"
DOWNLOAD = "component-download"
DOWNLOAD_BUTTON = "component-download-button"
CONTEXTS = "component-examples"
THRESHOLD = "component-threshold"
INSPECTOR = "component-inspector"
EXPLANATIONS = "component-explanations"
EXPLAIN_AUTHOR = "component-explain-author"
EXPLAIN_TEXT = "component-explain-text"
EXPLAIN_SAVE = "component-explain-save"
EXPLAIN_MESSAGE = "component-explain-message"


def layout(label: str | None = None, **query: str | list[str]) -> html.Div:
    opened = open_study_page("Subcomponent", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    matches = study.subcomponents.index[study.subcomponents["label"] == label]
    if label is None or len(matches) == 0:
        return not_found_notice(f"Study {study.name} has no subcomponent {label!r}.")
    if opened.iteration_problem:
        return not_found_notice(opened.iteration_problem)
    position = int(matches[0])
    row = study.subcomponents.loc[position]
    cluster = int(cluster_assignments(study, iteration)[position])
    store = {
        "subcomponent": position,
        "iteration": iteration,
        "study": name,
        "version": study.version,
    }
    links = links_of(study, store)
    cluster_cell = (
        html.Span(
            [
                dcc.Link(f"Cluster {cluster}", href=links.cluster(cluster), id="component-cluster"),
                " · ",
                dcc.Link(
                    "find it in the list",
                    href=links.clusters(component=label),
                ),
            ]
        )
        if cluster >= 0
        else html.Span("none (dead: never above the alive threshold)", id="component-cluster")
    )
    facts = [
        ("Module", row["module"]),
        ("Index", row["index"]),
        ("Layer", row["layer"]),
        ("Module kind", row["module_kind"]),
        ("Firing frequency", f"{row['firing_frequency']:.4g}"),
        ("Mean CI when firing", f"{row['mean_ci']:.3f}"),
        ("Max CI", f"{row['max_ci']:.3f}"),
        (f"Cluster at iteration {iteration}", cluster_cell),
    ]
    return html.Div(
        [
            dcc.Store(id=STORE, data=store),
            html.H2(label, id="component-title"),
            dbc.Table(
                html.Tbody([html.Tr([html.Th(key), html.Td(value)]) for key, value in facts]),
                size="sm",
                style={"maxWidth": "40rem"},
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H4("Tokens"),
                            dbc.Button(
                                "Download all tokens (CSV)",
                                id=DOWNLOAD_BUTTON,
                                size="sm",
                                color="secondary",
                                className="mb-2",
                            ),
                            dcc.Download(id=DOWNLOAD),
                            dcc.Loading(html.Div(id=TOKENS)),
                        ],
                        lg=5,
                    ),
                    dbc.Col(
                        [
                            html.H4("Activation contexts"),
                            threshold_slider(THRESHOLD, "Shade tokens with CI above"),
                            html.Small(
                                "Click a token to inspect everything active on it.",
                                className="text-muted",
                            ),
                            html.Div(id=INSPECTOR, className="my-2"),
                            dcc.Loading(TokenRows(CONTEXTS, clickable=True, height="28rem")),
                        ],
                        lg=7,
                    ),
                ]
            ),
            html.H4("Explanations", className="mt-4"),
            html.Div(id=EXPLANATIONS),
            explanation_form(EXPLAIN_AUTHOR, EXPLAIN_TEXT, EXPLAIN_SAVE, EXPLAIN_MESSAGE),
        ]
    )
