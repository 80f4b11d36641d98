"""`/sample/<n>`: one harvested window, every token shaded by its strongest cluster.

`?token=<offset>` selects a token and lists every cluster and subcomponent active there;
`?iteration=` picks the clustering and `?study=` a study of the data dir.
`callbacks/sample.py` fills the text and the detail.
"""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboard.components.atlas_components import TokenText
from dashboard.components.notices import not_found_notice
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.urls import parse_index, single

dash.register_page(__name__, path_template="/sample/<sample_id>", title="Sample · SPD Atlas")

STORE = "sample-store"
TEXT = "sample-text"
DETAIL = "sample-detail"
CLUSTERS = "sample-clusters"
URL_SYNC = "sample-url"


def layout(sample_id: str | None = None, **query: str | list[str]) -> html.Div:
    opened = open_study_page("Sample", query)
    if not isinstance(opened, StudyPage):
        return opened
    name, study, iteration = opened.name, opened.study, opened.iteration
    windows, length = study.window_shape
    index = parse_index(sample_id)
    if index is None or index >= windows:
        return not_found_notice(
            f"Sample {sample_id!r} does not exist: "
            f"study {study.name} has windows 0 to {windows - 1}."
        )
    if opened.iteration_problem:
        return not_found_notice(opened.iteration_problem)
    token = parse_index(single(query.get("token")))
    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Store(
                id=STORE,
                data={
                    "window": index,
                    "iteration": iteration,
                    "study": name,
                    "version": study.version,
                    "token": token if token is not None and token < length else None,
                },
            ),
            html.H2(f"Sample {index}"),
            html.P(
                f"Window {index} of {windows:,} in study {study.name}, clusters at iteration "
                f"{iteration}. Each token is shaded in the colour of its strongest cluster; "
                "click a token to see everything active there.",
                className="text-muted",
            ),
            html.Div(TokenText(TEXT, colourBy="cluster", clickable=True), className="mb-3"),
            html.Div(id=DETAIL),
            html.H5("Clusters in this window", className="mt-3"),
            html.Div(id=CLUSTERS),
        ]
    )
