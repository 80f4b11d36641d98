"""Callbacks of `/probe`: run the text through the model (a background job) and show it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, dcc, html, no_update

from callbacks.jobs import POLL_MS, admit_jobs, job_outputs, job_running
from dashboard.analysis.activity import entries_activity
from dashboard.app_state import settings
from dashboard.components.figures import styled
from dashboard.components.tables import list_grid, markdown_link
from dashboard.inference.results import ProbeResult
from dashboard.inference.service import inference_service
from dashboard.pages import probe as page
from dashboard.stores import content_store
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of, loaded_study

STRIP_CLUSTERS = 12

admit_jobs(
    page.RUN, page.REQUEST, Output(page.MESSAGE, "children"), Output(page.MESSAGE, "is_open")
)


def strip_figure(activity: pd.DataFrame, tokens: list[str], clusters: list[int]) -> dict:
    matrix = np.zeros((len(clusters), len(tokens)))
    row_of = {cluster: row for row, cluster in enumerate(clusters)}
    for position, cluster, value in activity[["position", "cluster", "ci"]].itertuples(index=False):
        if cluster in row_of:
            matrix[row_of[cluster], position] = value
    data = [
        {
            "type": "heatmap",
            "z": matrix.tolist(),
            "x": [f"{i}: {token}" for i, token in enumerate(tokens)],
            "y": [f"cluster {c}" for c in clusters],
            "colorscale": "Reds",
            "zmin": 0,
            "zmax": 1,
            "hovertemplate": "%{y} on %{x}: %{z:.3f}<extra></extra>",
        }
    ]
    figure = styled(data, "Activation of the most active clusters", "token", "cluster")
    figure["layout"]["height"] = 120 + 22 * len(clusters)
    return figure


TOKEN_COLUMNS = [
    {"field": "position", "headerName": "#", "maxWidth": 90},
    {"field": "token", "headerName": "token", "cellClass": "token-cell"},
    {"field": "clusters", "headerName": "top clusters", "cellRenderer": "markdown", "flex": 3},
]


def result_view(study, store: dict, result: ProbeResult) -> html.Div:
    assignments = cluster_assignments(study, store["iteration"])
    activity = entries_activity(result.subcomponent, result.position, result.ci, assignments)
    tokens = result.tokens
    cluster_links = links_of(study, store)
    top = activity.top_per_position(3)
    links = {
        position: " ".join(
            markdown_link(f"{cluster} ({value:.2f})", cluster_links.cluster(cluster))
            for cluster, value in zip(here["cluster"], here["ci"], strict=True)
        )
        for position, here in top.groupby("position")
    }
    rows = [
        {"position": position, "token": token, "clusters": links.get(position, "")}
        for position, token in enumerate(tokens)
    ]
    strongest = activity.strongest_clusters(STRIP_CLUSTERS)
    return html.Div(
        [
            dcc.Graph(figure=strip_figure(activity.table(), tokens, strongest), id="probe-strip"),
            list_grid("probe-tokens", TOKEN_COLUMNS, rows, "24rem"),
        ]
    )


@callback(
    *job_outputs(page),
    Input(page.REQUEST, "data"),
    State(page.TEXT, "value"),
    State(page.THRESHOLD, "value"),
    State(page.STORE, "data"),
    background=True,
    interval=POLL_MS,
    running=job_running(page, "Running the model ..."),
    cancel=[Input(page.CANCEL, "n_clicks")],  # and a new request replaces a running job
    prevent_initial_call=True,
)
def run_probe(_clicks, text: str | None, threshold, store: dict):
    """Store the text by hash, run it through the model, and put the hash in the URL."""
    if not text or not text.strip():
        return no_update, no_update, "Type some text first.", True
    study = loaded_study(store["version"])
    try:
        text_hash = content_store().put_text(text)
        result = inference_service(settings()).probe(study, text, float(threshold or 0.1))
    except (ValueError, LookupError, RuntimeError) as error:
        return no_update, no_update, str(error), True
    search = links_of(study, store).query(text=text_hash)
    return result_view(study, store, result), search, "", False
