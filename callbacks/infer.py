"""Callbacks of `/infer`: held-out prompts, and the masked-inference job with its results."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from callbacks.jobs import admit_jobs, job_outputs, job_running
from dashboard.app_state import settings
from dashboard.components.tables import list_grid
from dashboard.inference.limits import prompt_lines
from dashboard.inference.masks import (
    MaskInputError,
    applied,
    clusters_switched_off,
    dense_values,
)
from dashboard.inference.service import inference_service
from dashboard.page_data import link_query, loaded_study
from dashboard.pages import infer as page
from dashboard.stores import content_store
from dashboard.study.summary import cluster_assignments

LISTED_CLUSTERS = 60

admit_jobs(
    page.RUN, page.REQUEST, Output(page.MESSAGE, "children"), Output(page.MESSAGE, "is_open")
)


@callback(
    Output(page.PROMPTS, "value"),
    Input(page.HELDOUT, "n_clicks"),
    State(page.STORE, "data"),
    # a job, as every model call: torch must never start its threads in the web process, which
    # the next job's process is forked from (a fork after that can hang inside torch)
    background=True,
    running=[(Output(page.HELDOUT, "disabled"), True, False)],
    prevent_initial_call=True,
)
def heldout(_clicks, store: dict):
    """The study's held-out prompts (corpus text the decomposition was not trained on)."""
    study = loaded_study(store["version"])
    return "\n".join(inference_service(settings()).run(study, "heldout_prompts", {}))


SIGNED = {"function": "params.value == null ? '' : d3.format('+.3f')(params.value)"}
TOKEN_COLUMNS = [
    {"field": "prompt", "headerName": "prompt", "maxWidth": 100},
    {"field": "position", "headerName": "#", "maxWidth": 80},
    {"field": "token", "headerName": "token", "cellClass": "token-cell"},
    {"field": "target_next", "headerName": "target's next", "flex": 2},
    {"field": "masked_next", "headerName": "masked model's next", "flex": 2},
    {
        "field": "kl",
        "headerName": "KL",
        "valueFormatter": {"function": "d3.format('.3f')(params.value)"},
    },
    {"field": "loss_change", "headerName": "Δ loss", "valueFormatter": SIGNED},
]


def token_rows(prompts: list[dict]) -> list[dict]:
    """One grid row per token of every prompt (numbered from 1)."""
    return [
        {
            "prompt": number,
            "position": i,
            "token": token,
            "target_next": " ".join(repr(t) for t in result["target_top"][i][:3]),
            "masked_next": " ".join(repr(t) for t in result["masked_top"][i][:3]),
            "kl": round(float(result["kl"][i]), 4),
            "loss_change": round(float(result["masked_loss"][i] - result["target_loss"][i]), 4)
            if i < len(result["target_loss"])
            else None,
        }
        for number, result in enumerate(prompts, start=1)
        for i, token in enumerate(result["tokens"])
    ]


@callback(
    *job_outputs(page),
    Input(page.REQUEST, "data"),
    State(page.MASK, "value"),
    State(page.MODE, "value"),
    State(page.CLUSTERS, "value"),
    State(page.PROMPTS, "value"),
    State(page.STORE, "data"),
    background=True,
    running=job_running(page, "Running the target and the masked model ..."),
    cancel=[Input(page.CANCEL, "n_clicks")],  # and a new request replaces a running job
    prevent_initial_call=True,
)
def run_inference(_clicks, mask_hash, mode, clusters, text, store: dict):
    """Check the inputs (keeping them on error), run the job, and name everything in the URL."""
    study = loaded_study(store["version"])
    labels = study.subcomponents["label"].tolist()
    assignments = cluster_assignments(study, store["iteration"])
    try:
        prompts = prompt_lines(text)
        if not prompts:
            raise MaskInputError("type at least one prompt, or use the held-out text")
        if mode == "as_is":
            mask, _ = content_store().mask(mask_hash or "")
            values = dense_values(mask, labels)
        else:
            if not clusters:
                raise MaskInputError("choose the clusters to ablate or keep")
            values = applied(mode, np.zeros(len(labels)), assignments, list(clusters))
        prompts_hash = content_store().put_text("\n".join(prompts))
        result = inference_service(settings()).run(
            study, "masked_inference", {"values": values.tolist(), "prompts": prompts}
        )
    except (ValueError, LookupError, RuntimeError) as error:  # incl. bad or unknown hashes
        return no_update, no_update, str(error), True
    summary = result["summary"]
    off = clusters_switched_off(values, assignments)
    query = link_query(study, store)
    view = html.Div(
        [
            dbc.Alert(
                f"Mean KL {summary['mean_kl']:.4f} nats · loss difference "
                f"{summary['loss_difference']:+.4f} nats · top-1 agreement "
                f"{summary['top1_agreement']:.1%}",
                color="info",
                id="infer-summary",
            ),
            html.H6(f"{len(off):,} clusters switched off entirely"),
            html.Div(
                [
                    dcc.Link(f"{c}", href=f"/cluster/{c}{query}", className="me-2")
                    for c in off[:LISTED_CLUSTERS]
                ],
                id="infer-off-clusters",
                className="small mb-3",
            ),
            html.H6("Tokens of every prompt"),
            list_grid("infer-tokens", TOKEN_COLUMNS, token_rows(result["prompts"]), "28rem"),
        ]
    )
    extra = {"prompts": prompts_hash, "mode": None if mode == "as_is" else mode}
    if mode == "as_is":
        extra["mask"] = mask_hash.strip().lower()
    else:
        extra["clusters"] = ",".join(str(c) for c in clusters)
    return view, link_query(study, store, **extra), "", False
