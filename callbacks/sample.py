"""Callbacks of `/sample/<n>`: shaded text, the selected token's activity, the URL."""

from __future__ import annotations

import colorsys

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.analysis.activity import entries_activity
from dashboard.components.token_text import clicked_token, rounded
from dashboard.page_data import links_of, loaded_study
from dashboard.pages import sample as page
from dashboard.study import Study
from dashboard.study.lookup import entries_between
from dashboard.study.summary import cluster_assignments, vocab_tokens


def cluster_colour(cluster: int, strength: float) -> str:
    """A hue per cluster, more opaque the stronger (TokenText draws tokens in the same)."""
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


@callback(
    Output(page.TEXT, "row"),
    Output(page.CLUSTERS, "children"),
    Input(page.STORE, "data"),
)
def fill_text(store: dict):
    """The window's tokens, each with its strongest cluster; the selected token marked."""
    study = loaded_study(store["version"])
    window, iteration = store["window"], store["iteration"]
    activity = window_activity(study, window, iteration)
    strongest = (
        entries_activity(
            activity["subcomponent"],
            activity["offset"],
            activity["ci"],
            cluster_assignments(study, iteration),
        )
        .strongest("offset")
        .set_index("offset")
    )
    tokens = vocab_tokens(study)
    token_ids = np.asarray(study.array("windows/token_ids.npy")[window])
    clusters = strongest["cluster"].reindex(range(len(token_ids)))
    row = {
        "window": window,
        "start": 0,
        "focus": store.get("token"),
        "tokens": [tokens[token_id] for token_id in token_ids.tolist()],
        "values": rounded(strongest["ci"].reindex(range(len(token_ids)), fill_value=0)),
        "clusters": [None if np.isnan(cluster) else int(cluster) for cluster in clusters],
    }
    shown = strongest["cluster"].value_counts()
    links = [
        dcc.Link(
            f"Cluster {cluster} ({count} tokens)",
            href=links_of(study, store).cluster(cluster),
            className="me-3",
            style={"borderBottom": f"3px solid {cluster_colour(int(cluster), 0.8)}"},
        )
        for cluster, count in shown.items()
    ]
    return row, html.Div(links or html.Small("No cluster fires here.", className="text-muted"))


@callback(
    Output(page.STORE, "data"),
    Input(page.TEXT, "clicked"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def select_token(clicked: dict | None, store: dict):
    study = loaded_study(store["version"])
    token = clicked_token(clicked, study.window_shape)
    if token is None or token[0] != store["window"]:
        return no_update
    return {**store, "token": token[1]}


@callback(
    Output(page.DETAIL, "children"),
    Output(page.URL_SYNC, "search"),
    Input(page.STORE, "data"),
    State(page.URL_SYNC, "search"),
)
def token_detail(store: dict, search: str | None):
    study = loaded_study(store["version"])
    links = links_of(study, store)
    wanted = links.query(token=store.get("token"))
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
                        href=links.cluster(cluster),
                    )
                    if cluster >= 0
                    else "dead"
                ),
                html.Td(dcc.Link(labels[sub], href=links.component(labels[sub]))),
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
