"""Callbacks of `/component/<label>`: token table and download, contexts, token inspector."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.analysis.activity import ClusterActivation
from dashboard.analysis.cluster_examples import cluster_examples
from dashboard.components.token_text import clicked_token, example_records, threshold_to_rows
from dashboard.pages import component as page
from dashboard.study_view import StudyView, component_tokens, links_of, loaded_study

SHOWN_TOKENS = 30


@callback(Output(page.TOKENS, "children"), Input(page.STORE, "data"))
def fill_tokens(store: dict):
    table = component_tokens(loaded_study(store["version"]), store["subcomponent"])
    table = table.head(SHOWN_TOKENS)
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(n) for n in ("token", "count", "mean CI", "fires on")])),
            html.Tbody(
                [
                    html.Tr(
                        [
                            html.Td(html.Code(token)),
                            html.Td(count),
                            html.Td(f"{ci:.3f}"),
                            html.Td(f"{share:.1%}"),
                        ]
                    )
                    for token, count, ci, share in zip(
                        table["token"],
                        table["count"],
                        table["mean_ci"],
                        table["fires_on_share"],
                        strict=True,
                    )
                ]
            ),
        ],
        size="sm",
        striped=True,
        className="small",
        id="component-token-table",
    )


@callback(
    Output(page.DOWNLOAD, "data"),
    Input(page.DOWNLOAD_BUTTON, "n_clicks"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def download_tokens(_clicks, store: dict):
    study = loaded_study(store["version"])
    label = study.subcomponents["label"].iloc[store["subcomponent"]]
    table = component_tokens(study, store["subcomponent"])
    return dcc.send_data_frame(table.to_csv, f"{label.replace(':', '_')}-tokens.csv", index=False)


@callback(Output(page.CONTEXTS, "rows"), Input(page.STORE, "data"))
def fill_contexts(store: dict):
    """One row per example: the strongest first, then from every CI band (weakest first)."""
    study = loaded_study(store["version"])
    _, length = study.window_shape
    activation = ClusterActivation(*study.activations.column(store["subcomponent"]))
    examples = cluster_examples(activation, length, top=10, bands=10, per_band=2)
    return [
        record | {"label": "strongest" if record["kind"] == "top" else f"CI band {record['band']}"}
        for record in example_records(study, activation, examples, links_of(study, store))
    ]


# the threshold re-shades the examples in the browser, without a request
clientside_callback(
    threshold_to_rows(1),
    [Output(page.CONTEXTS, "threshold")],
    Input(page.THRESHOLD, "value"),
    prevent_initial_call=True,
)


@callback(
    Output(page.INSPECTOR, "children"),
    Input(page.CONTEXTS, "clicked"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def inspect_token(clicked: dict | None, store: dict):
    """Every subcomponent active on the clicked token, and its cluster."""
    view = StudyView.of(store)
    token = clicked_token(clicked, view.study.window_shape)
    if token is None:
        return no_update
    window, offset = token
    entries = view.window_entries(window)
    entries = entries[entries["offset"] == offset].sort_values("ci", ascending=False)
    labels = view.study.subcomponents["label"]
    links = links_of(view.study, store)
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(labels[sub], href=links.component(labels[sub]))),
                html.Td(
                    dcc.Link(f"Cluster {cluster}", href=links.cluster(cluster))
                    if cluster >= 0
                    else "dead"
                ),
                html.Td(f"{ci:.3f}"),
            ]
        )
        for sub, cluster, ci in zip(
            entries["subcomponent"], entries["cluster"], entries["ci"], strict=True
        )
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6(
                    [
                        "Token ",
                        html.Code(view.token(window, offset)),
                        " at offset ",
                        str(offset),
                        " of ",
                        dcc.Link(f"sample {window}", href=links.sample(window)),
                    ]
                ),
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr([html.Th("subcomponent"), html.Th("cluster"), html.Th("CI")])
                        ),
                        html.Tbody(rows),
                    ],
                    size="sm",
                    className="small mb-0",
                    id="inspector-table",
                ),
            ]
        )
    )
