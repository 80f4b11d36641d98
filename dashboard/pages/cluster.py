"""`/cluster/<cluster_id>`: one cluster and its members."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.app_state import current_study
from dashboard.components.notices import no_study_notice, not_found_notice
from dashboard.study.summary import cluster_assignments
from dashboard.urls import parse_index

dash.register_page(__name__, path_template="/cluster/<cluster_id>", title="Cluster · SPD Atlas")


def layout(cluster_id: str | None = None, **_query: str) -> html.Div:
    status = current_study()
    if status.study is None:
        return html.Div([html.H2("Cluster"), no_study_notice(status.problem)])
    study = status.study
    index = parse_index(cluster_id)
    assignments = cluster_assignments(study, study.default_iteration)
    members = study.subcomponents[assignments == index] if index is not None else None
    if members is None or members.empty:
        return not_found_notice(
            f"There is no cluster {cluster_id!r} at iteration {study.default_iteration} "
            f"of study {study.name}."
        )
    members = members.sort_values("firing_frequency", ascending=False)
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(row.label, href=f"/component/{row.label}")),
                html.Td(row.module_kind),
                html.Td(row.layer),
                html.Td(f"{row.firing_frequency:.4g}"),
                html.Td(f"{row.mean_ci:.3f}"),
                html.Td(f"{row.max_ci:.3f}"),
            ]
        )
        for row in members.itertuples()
    ]
    header = ["subcomponent", "module kind", "layer", "firing frequency", "mean CI", "max CI"]
    return html.Div(
        [
            html.H2(f"Cluster {index}", id="cluster-title"),
            html.P(
                f"{len(members)} members in {members['module'].nunique()} modules, "
                f"iteration {study.default_iteration} of study {study.name}."
            ),
            dbc.Table(
                [html.Thead(html.Tr([html.Th(name) for name in header])), html.Tbody(rows)],
                size="sm",
                striped=True,
                id="member-table",
            ),
        ]
    )
