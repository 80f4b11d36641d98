"""`/component/<label>`: one subcomponent, `<module>:<c>`."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.app_state import current_study
from dashboard.components.notices import no_study_notice, not_found_notice
from dashboard.study.summary import cluster_assignments

dash.register_page(__name__, path_template="/component/<label>", title="Subcomponent · SPD Atlas")


def layout(label: str | None = None, **_query: str) -> html.Div:
    status = current_study()
    if status.study is None:
        return html.Div([html.H2("Subcomponent"), no_study_notice(status.problem)])
    study = status.study
    matches = study.subcomponents.index[study.subcomponents["label"] == label]
    if label is None or len(matches) == 0:
        return not_found_notice(f"Study {study.name} has no subcomponent {label!r}.")
    position = int(matches[0])
    row = study.subcomponents.loc[position]
    cluster = int(cluster_assignments(study, study.default_iteration)[position])
    cluster_cell = (
        dcc.Link(f"Cluster {cluster}", href=f"/cluster/{cluster}", id="component-cluster")
        if cluster >= 0
        else html.Span("none (dead: never above the alive threshold)", id="component-cluster")
    )
    rows = [
        ("Module", row["module"]),
        ("Index", row["index"]),
        ("Layer", row["layer"]),
        ("Module kind", row["module_kind"]),
        ("Firing frequency", f"{row['firing_frequency']:.4g}"),
        ("Mean CI when firing", f"{row['mean_ci']:.3f}"),
        ("Max CI", f"{row['max_ci']:.3f}"),
        (f"Cluster at iteration {study.default_iteration}", cluster_cell),
    ]
    return html.Div(
        [
            html.H2(label, id="component-title"),
            dbc.Table(
                html.Tbody([html.Tr([html.Th(key), html.Td(value)]) for key, value in rows]),
                size="sm",
                style={"maxWidth": "40rem"},
            ),
        ]
    )
