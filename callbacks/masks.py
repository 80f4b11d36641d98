"""Callbacks of `/masks`: a mask from prompts (a background job), the preview, labelling."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from callbacks.jobs import POLL_MS, admit_jobs
from dashboard.app_state import settings
from dashboard.inference.limits import prompt_lines
from dashboard.inference.masks import (
    MaskInputError,
    as_mask,
    cluster_level,
    dense_values,
    mask_values,
    parse_overrides,
    thresholded,
)
from dashboard.inference.service import inference_service
from dashboard.pages import masks as page
from dashboard.stores import content_store
from dashboard.stores.content import MalformedHashError, UnknownHashError
from dashboard.stores.database import StoreError
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of, loaded_study

admit_jobs(page.COMPUTE, page.REQUEST, Output(page.PROMPT_STATUS, "children"))


@callback(
    Output(page.PROMPT_VALUES, "data"),
    Output(page.PROMPT_STATUS, "children"),
    Output(page.START, "value"),
    Input(page.REQUEST, "data"),
    State(page.PROMPTS, "value"),
    State(page.AGGREGATE, "value"),
    State(page.THRESHOLD, "value"),
    State(page.LEVEL, "value"),
    State(page.STORE, "data"),
    background=True,
    interval=POLL_MS,
    running=[(Output(page.PROMPT_STATUS, "children"), "Running the prompts ...", "")],
    prevent_initial_call=True,
)
def from_prompts(_clicks, text, aggregate, threshold, level, store: dict):
    """CI over the prompts, aggregated and thresholded, at subcomponent or cluster level."""
    study = loaded_study(store["version"])
    try:
        prompts = prompt_lines(text)
        if not prompts:
            return no_update, "Type at least one prompt.", no_update
        importance = inference_service(settings()).prompt_importance(study, prompts, aggregate)
    except (ValueError, LookupError, RuntimeError) as error:
        return no_update, str(error), no_update
    values = thresholded(
        importance.per_subcomponent, float(threshold if threshold is not None else 0.5)
    )
    if level == "cluster":
        values = cluster_level(values, cluster_assignments(study, store["iteration"]))
    summary = f"{int(values.sum())} subcomponents on from {len(prompts)} prompt(s)."
    return values.tolist(), summary, "prompts"


def editor_values(study, store, start, existing, clusters, overrides, prompt_values) -> np.ndarray:
    labels = study.subcomponents["label"].tolist()
    base = None
    if start == "full":
        base = np.ones(len(labels))
    elif start == "existing":
        base = dense_values(content_store().mask(existing or "")[0], labels)
    elif start == "prompts":
        if prompt_values is None:
            raise MaskInputError("compute the prompts' mask first")
        base = np.asarray(prompt_values)
    return mask_values(
        labels,
        cluster_assignments(study, store["iteration"]),
        list(clusters or []),
        parse_overrides(overrides, set(labels)),
        base,
    )


EDITOR_FIELDS = [
    (page.START, "value"),
    (page.EXISTING, "value"),
    (page.CLUSTERS, "value"),
    (page.OVERRIDES, "value"),
    (page.PROMPT_VALUES, "data"),
]
EDITOR_INPUTS = [State(page.STORE, "data"), *(Input(*field) for field in EDITOR_FIELDS)]
EDITOR_STATES = [State(page.STORE, "data"), *(State(*field) for field in EDITOR_FIELDS)]
READ_ERRORS = (MaskInputError, MalformedHashError, UnknownHashError, StoreError)


@callback(Output(page.PREVIEW, "children"), *EDITOR_INPUTS)
def preview(store, start, existing, clusters, overrides, prompt_values):
    study = loaded_study(store["version"])
    try:
        values = editor_values(study, store, start, existing, clusters, overrides, prompt_values)
    except READ_ERRORS as error:
        return dbc.Alert(str(error), color="warning", id="masks-problem")
    assignments = cluster_assignments(study, store["iteration"])
    alive = assignments >= 0
    on_clusters = np.unique(assignments[alive & (values > 0)])
    mask = as_mask(study.provenance["decomposition"], study.subcomponents["label"].tolist(), values)
    return html.Div(
        [
            html.P(
                f"{int((values > 0).sum()):,} of {len(values):,} subcomponents on, in "
                f"{len(on_clusters):,} clusters; {int(((values > 0) & (values < 1)).sum())} "
                "partly.",
                id="masks-summary",
            ),
            html.P(["Its name will be ", html.Code(mask.hash, id="masks-hash-preview")]),
        ]
    )


@callback(
    Output(page.SAVED, "children"),
    Input(page.SAVE, "n_clicks"),
    State(page.LABEL, "value"),
    *EDITOR_STATES,
    prevent_initial_call=True,
)
def save(_clicks, label, store, start, existing, clusters, overrides, prompt_values):
    """Store the mask under its content hash (immutable) and show where it lives."""
    study = loaded_study(store["version"])
    try:
        values = editor_values(study, store, start, existing, clusters, overrides, prompt_values)
        mask = as_mask(
            study.provenance["decomposition"], study.subcomponents["label"].tolist(), values
        )
        name = content_store().put_mask(mask, label or "")
    except READ_ERRORS as error:
        return dbc.Alert(str(error), color="danger")
    links = links_of(study, store)
    return dbc.Alert(
        [
            html.Span("Stored as "),
            html.Code(name, id="masks-saved-hash"),
            dcc.Clipboard(content=name, title="Copy the hash", className="d-inline ms-1"),
            html.Br(),
            dcc.Link("Open it", href=links.to(f"/masks/{name}"), className="me-3"),
            dcc.Link(
                "Run masked inference with it",
                href=links.to("/infer", mask=name),
                id="masks-infer-link",
            ),
        ],
        color="success",
    )
