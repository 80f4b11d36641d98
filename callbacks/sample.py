"""Callbacks of `/sample/<n>`: shaded text, the selected token's activity, the URL."""

from __future__ import annotations

import colorsys

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from dashboard.page_data import link_query, loaded_study
from dashboard.pages import sample as page
from dashboard.study import Study
from dashboard.study.lookup import entries_between
from dashboard.study.summary import cluster_assignments, vocab_tokens


def cluster_colour(cluster: int, strength: float) -> str:
    red, green, blue = colorsys.hls_to_rgb((cluster * 0.618034) % 1.0, 0.55, 0.75)
    alpha = 0.15 + 0.75 * strength
    return f"rgba({red * 255:.0f}, {green * 255:.0f}, {blue * 255:.0f}, {alpha:.2f})"


def window_activity(study: Study, window: int, iteration: int) -> pd.DataFrame:
    """offset, subcomponent, cluster, ci of every stored entry in the window."""
    _, length = study.window_shape
    entries = entries_between(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        study.array("activations/ci.npy"),
        window * length,
        (window + 1) * length,
    )
    entries["offset"] = entries.pop("position") - window * length
    entries["cluster"] = cluster_assignments(study, iteration)[entries["subcomponent"]]
    return entries


def strongest_clusters(activity: pd.DataFrame) -> pd.DataFrame:
    """Per offset, the cluster with the highest activation (max CI of its members there)."""
    alive = activity[activity["cluster"] >= 0]
    per_cluster = alive.groupby(["offset", "cluster"], as_index=False)["ci"].max()
    return per_cluster.sort_values(["offset", "ci"], ascending=[True, False]).drop_duplicates(
        "offset"
    )


@callback(
    Output(page.TEXT, "children"),
    Output(page.CLUSTERS, "children"),
    Input(page.STORE, "data"),
)
def fill_text(store: dict):
    study = loaded_study(store["version"])
    window, iteration = store["window"], store["iteration"]
    activity = window_activity(study, window, iteration)
    strongest = strongest_clusters(activity).set_index("offset")
    tokens = vocab_tokens(study)
    spans = []
    for offset, token_id in enumerate(np.asarray(study.array("windows/token_ids.npy")[window])):
        style, title = {"cursor": "pointer"}, f"offset {offset}: no cluster fires"
        if offset in strongest.index:
            cluster, value = int(strongest.loc[offset, "cluster"]), strongest.loc[offset, "ci"]
            style["backgroundColor"] = cluster_colour(cluster, float(value))
            title = f"offset {offset}: cluster {cluster}, activation {value:.3f}"
        if offset == store.get("token"):
            style["outline"] = "2px solid #1f77b4"
        spans.append(
            html.Span(
                tokens[int(token_id)],
                id={"type": page.TOKEN, "index": offset},
                title=title,
                className="token",
                style=style,
                n_clicks=0,
            )
        )
    shown = strongest["cluster"].value_counts()
    links = [
        dcc.Link(
            f"Cluster {cluster} ({count} tokens)",
            href=f"/cluster/{cluster}{link_query(study, store)}",
            className="me-3",
            style={"borderBottom": f"3px solid {cluster_colour(int(cluster), 0.8)}"},
        )
        for cluster, count in shown.items()
    ]
    return spans, html.Div(links or html.Small("No cluster fires here.", className="text-muted"))


@callback(
    Output(page.STORE, "data"),
    Input({"type": page.TOKEN, "index": ALL}, "n_clicks"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def select_token(clicks: list[int], store: dict):
    if not ctx.triggered_id or not any(clicks):
        return no_update
    return {**store, "token": ctx.triggered_id["index"]}


@callback(
    Output(page.DETAIL, "children"),
    Output(page.URL_SYNC, "search"),
    Input(page.STORE, "data"),
    State(page.URL_SYNC, "search"),
)
def token_detail(store: dict, search: str | None):
    study = loaded_study(store["version"])
    wanted = link_query(study, store, token=store.get("token"))
    url = no_update if wanted == (search or "") else wanted
    if store.get("token") is None:
        return html.Small("Click a token.", className="text-muted"), url
    activity = window_activity(study, store["window"], store["iteration"])
    here = activity[activity["offset"] == store["token"]].sort_values("ci", ascending=False)
    labels = study.subcomponents["label"]
    rows = [
        html.Tr(
            [
                html.Td(
                    dcc.Link(
                        f"Cluster {cluster}",
                        href=f"/cluster/{cluster}{link_query(study, store)}",
                    )
                    if cluster >= 0
                    else "dead"
                ),
                html.Td(
                    dcc.Link(
                        labels[sub], href=f"/component/{labels[sub]}{link_query(study, store)}"
                    )
                ),
                html.Td(f"{ci:.3f}"),
            ]
        )
        for sub, cluster, ci in zip(here["subcomponent"], here["cluster"], here["ci"], strict=True)
    ]
    token = vocab_tokens(study)[
        int(study.array("windows/token_ids.npy")[store["window"], store["token"]])
    ]
    return (
        html.Div(
            [
                html.H5(["Active at offset ", str(store["token"]), ": ", html.Code(token)]),
                dbc.Table(
                    [
                        html.Thead(
                            html.Tr([html.Th("cluster"), html.Th("subcomponent"), html.Th("CI")])
                        ),
                        html.Tbody(rows),
                    ],
                    size="sm",
                    striped=True,
                    className="small",
                    id="token-activity",
                )
                if rows
                else html.P("Nothing is active on this token.", className="small"),
            ]
        ),
        url,
    )
