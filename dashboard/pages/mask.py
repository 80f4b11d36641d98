"""`/masks/<mask_hash>`: one stored causal mask."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
from dash import dcc, html

from dashboard.components.notices import not_found_notice
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.inference.masks import MaskInputError, clusters_switched_off, dense_values
from dashboard.stores import content_store
from dashboard.stores.content import MalformedHashError, UnknownHashError
from dashboard.stores.database import StoreError
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of

dash.register_page(__name__, path_template="/masks/<mask_hash>", title="Mask · SPD Atlas")

LISTED_CLUSTERS = 40


def layout(mask_hash: str | None = None, **query: str | list[str]) -> html.Div:
    opened = open_study_page("Causal mask", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    if mask_hash is None:
        return not_found_notice("No mask hash in the address.")
    if opened.iteration_problem:
        return not_found_notice(opened.iteration_problem)
    try:
        mask, label = content_store().mask(mask_hash)
        labels = study.subcomponents["label"].tolist()
        values = dense_values(mask, labels)
    except (MalformedHashError, UnknownHashError, StoreError, MaskInputError, ValueError) as error:
        return not_found_notice(str(error))
    store = {"study": name, "iteration": iteration}
    assignments = cluster_assignments(study, iteration)
    alive = assignments >= 0
    on = np.unique(assignments[alive & (values > 0)])
    off = clusters_switched_off(values, assignments)
    links = links_of(study, store)
    other = mask.decomposition != study.provenance["decomposition"]
    return html.Div(
        [
            html.H2(["Mask ", html.Code(mask.hash, id="mask-hash")]),
            html.P(label or "(no label)", className="lead", id="mask-label"),
            dbc.Alert(
                "This mask was made for another decomposition than this study's.",
                color="warning",
                is_open=other,
            ),
            html.P(
                f"{int((values > 0).sum()):,} of {len(values):,} subcomponents on, in "
                f"{len(on):,} clusters; {len(off):,} clusters entirely off "
                f"(iteration {iteration}).",
                id="mask-summary",
            ),
            html.Div(
                [
                    dcc.Link(
                        "Run masked inference with it",
                        href=links.to("/infer", mask=mask.hash),
                        className="btn btn-primary btn-sm me-2",
                        id="mask-infer",
                    ),
                    dcc.Link(
                        "Edit a copy",
                        href=links.to("/masks", **{"from": mask.hash}),
                        className="btn btn-outline-secondary btn-sm",
                    ),
                ],
                className="mb-3",
            ),
            html.H5("Clusters it keeps on"),
            html.Div(
                [
                    dcc.Link(f"cluster {c}", href=links.cluster(c), className="me-2")
                    for c in on[:LISTED_CLUSTERS]
                ]
                or html.Small("none"),
                id="mask-clusters",
            ),
        ]
    )
