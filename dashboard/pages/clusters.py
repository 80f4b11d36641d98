"""`/clusters`: the list of clusters in the loaded study."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.app_state import current_study
from dashboard.components.notices import no_study_notice
from dashboard.study import Study
from dashboard.study.summary import cluster_sizes, study_counts

dash.register_page(__name__, path="/clusters", title="Clusters · SPD Atlas")

LISTED_CLUSTERS = 50


def study_card(study: Study) -> dbc.Card:
    counts = study_counts(study)
    rows = [
        (
            "Subcomponents",
            f"{counts.subcomponents:,} ({counts.alive:,} alive) in {counts.modules} modules",
        ),
        ("Harvested tokens", f"{counts.windows:,} windows x {counts.window_length} tokens"),
        ("Stored activations", f"{counts.stored_activations:,}"),
        ("Merge history", f"{counts.merges:,} merges; default iteration {study.default_iteration}"),
    ]
    rows += [(f"{key} hash", value[:16]) for key, value in study.provenance.items()]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H4(study.name, className="card-title", id="study-name"),
                dbc.Table(
                    html.Tbody([html.Tr([html.Th(key), html.Td(value)]) for key, value in rows]),
                    size="sm",
                    className="mb-0",
                ),
            ]
        ),
        className="mb-3",
    )


def largest_clusters_table(study: Study) -> html.Div:
    sizes = cluster_sizes(study, study.default_iteration)
    rows = [
        html.Tr(
            [html.Td(dcc.Link(f"Cluster {cluster}", href=f"/cluster/{cluster}")), html.Td(size)]
        )
        for cluster, size in sizes.head(LISTED_CLUSTERS).items()
    ]
    return html.Div(
        [
            html.H5(
                f"{len(sizes):,} clusters at iteration {study.default_iteration}, largest first"
            ),
            dbc.Table(
                [html.Thead(html.Tr([html.Th("cluster"), html.Th("members")])), html.Tbody(rows)],
                size="sm",
                striped=True,
                id="cluster-table",
            ),
        ]
    )


def layout(**_query: str) -> html.Div:
    status = current_study()
    if status.study is None:
        return html.Div([html.H2("Clusters"), no_study_notice(status.problem)])
    return html.Div(
        [html.H2("Clusters"), study_card(status.study), largest_clusters_table(status.study)]
    )
