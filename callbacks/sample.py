"""Callbacks of `/sample/<n>`: shaded text, the selected token's activity, the URL."""

from __future__ import annotations

import colorsys

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from dashboard.analysis.activity import entries_activity
from dashboard.components.token_text import clicked_token, rounded
from dashboard.pages import sample as page
from dashboard.study_view import StudyView, links_of


def cluster_colour(cluster: int, strength: float) -> str:
    """A hue per cluster, more opaque the stronger (TokenText draws tokens in the same)."""
    red, green, blue = colorsys.hls_to_rgb((cluster * 0.618034) % 1.0, 0.55, 0.75)
    alpha = 0.15 + 0.75 * strength
    return f"rgba({red * 255:.0f}, {green * 255:.0f}, {blue * 255:.0f}, {alpha:.2f})"


@callback(
    Output(page.TEXT, "row"),
    Output(page.CLUSTERS, "children"),
    Input(page.STORE, "data"),
)
def fill_text(store: dict):
    """The window's tokens, each with its strongest cluster; the selected token marked."""
    view = StudyView.of(store)
    window = store["window"]
    entries = view.window_entries(window)
    activity = entries_activity(
        entries["subcomponent"], entries["offset"], entries["ci"], view.assignments()
    )
    strongest = activity.strongest("offset").set_index("offset")
    tokens = view.window_tokens(window)
    clusters = strongest["cluster"].reindex(range(len(tokens)))
    row = {
        "window": window,
        "start": 0,
        "focus": store.get("token"),
        "tokens": tokens,
        "values": rounded(strongest["ci"].reindex(range(len(tokens)), fill_value=0)),
        "clusters": [None if np.isnan(cluster) else int(cluster) for cluster in clusters],
    }
    shown = strongest["cluster"].value_counts()
    links = [
        dcc.Link(
            f"Cluster {cluster} ({count} tokens)",
            href=links_of(view.study, store).cluster(cluster),
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
    token = clicked_token(clicked, StudyView.of(store).study.window_shape)
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
    view = StudyView.of(store)
    links = links_of(view.study, store)
    wanted = links.query(token=store.get("token"))
    url = no_update if wanted == (search or "") else wanted
    if store.get("token") is None:
        return html.Small("Click a token.", className="text-muted"), url
    entries = view.window_entries(store["window"])
    here = entries[entries["offset"] == store["token"]].sort_values("ci", ascending=False)
    labels = view.study.subcomponents["label"]
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
    token = view.token(store["window"], store["token"])
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
