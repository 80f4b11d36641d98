"""Callbacks of `/component/<label>`: token table and download, contexts, token inspector."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.analysis.cluster_examples import ClusterActivation, cluster_examples
from dashboard.components.token_text import clicked_token, example_records, threshold_to_rows
from dashboard.page_data import links_of, loaded_study
from dashboard.pages import component as page
from dashboard.study import Study
from dashboard.study.lookup import entries_between
from dashboard.study.summary import cluster_assignments, vocab_tokens

SHOWN_TOKENS = 30


def column(study: Study, subcomponent: int) -> tuple[np.ndarray, np.ndarray]:
    indptr = study.array("activations/indptr.npy")
    start, stop = int(indptr[subcomponent]), int(indptr[subcomponent + 1])
    return (
        np.asarray(study.array("activations/token_index.npy")[start:stop], dtype=np.int64),
        np.asarray(study.array("activations/ci.npy")[start:stop], dtype=np.float32),
    )


def token_table(study: Study, subcomponent: int) -> pd.DataFrame:
    """token, token_id, count, mean_ci, share of that token's occurrences where it fires."""
    positions, values = column(study, subcomponent)
    token_ids = np.asarray(study.array("windows/token_ids.npy")).reshape(-1)[positions]
    table = (
        pd.DataFrame({"token_id": token_ids, "ci": values})
        .groupby("token_id")["ci"]
        .agg(count="size", mean_ci="mean")
        .reset_index()
    )
    base = study.table("vocab.parquet", columns=["base_count"])["base_count"].to_numpy()
    table["fires_on_share"] = table["count"] / base[table["token_id"]]
    tokens = vocab_tokens(study)
    table.insert(0, "token", [tokens[i] for i in table["token_id"]])
    return table.sort_values(["count", "mean_ci"], ascending=False, ignore_index=True)


@callback(Output(page.TOKENS, "children"), Input(page.STORE, "data"))
def fill_tokens(store: dict):
    table = token_table(loaded_study(store["version"]), store["subcomponent"]).head(SHOWN_TOKENS)
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
    table = token_table(study, store["subcomponent"])
    return dcc.send_data_frame(table.to_csv, f"{label.replace(':', '_')}-tokens.csv", index=False)


@callback(Output(page.CONTEXTS, "rows"), Input(page.STORE, "data"))
def fill_contexts(store: dict):
    """One row per example: the strongest first, then from every CI band (weakest first)."""
    study = loaded_study(store["version"])
    _, length = study.window_shape
    activation = ClusterActivation(*column(study, store["subcomponent"]))
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
    study = loaded_study(store["version"])
    token = clicked_token(clicked, study.window_shape)
    if token is None:
        return no_update
    window, offset = token
    _, length = study.window_shape
    position = window * length + offset
    entries = entries_between(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        study.array("activations/ci.npy"),
        position,
        position + 1,
    ).sort_values("ci", ascending=False)
    labels = study.subcomponents["label"]
    clusters = cluster_assignments(study, store["iteration"])
    links = links_of(study, store)
    token_id = int(study.array("windows/token_ids.npy")[window, offset])
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(labels[sub], href=links.component(labels[sub]))),
                html.Td(
                    dcc.Link(f"Cluster {clusters[sub]}", href=links.cluster(clusters[sub]))
                    if clusters[sub] >= 0
                    else "dead"
                ),
                html.Td(f"{ci:.3f}"),
            ]
        )
        for sub, ci in zip(entries["subcomponent"], entries["ci"], strict=True)
    ]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H6(
                    [
                        "Token ",
                        html.Code(vocab_tokens(study)[token_id]),
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
