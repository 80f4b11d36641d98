"""Callbacks of `/infer`: held-out prompts, and the masked-inference job with its results."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from callbacks.jobs import POLL_MS, admit_jobs, job_outputs, job_running
from dashboard.app_state import settings
from dashboard.components.tables import list_grid
from dashboard.inference.limits import MAX_SLICE_WINDOWS, prompt_lines
from dashboard.inference.masks import (
    MaskInputError,
    applied,
    clusters_switched_off,
    dense_values,
)
from dashboard.inference.results import Comparison, WindowComparison
from dashboard.inference.service import inference_service
from dashboard.pages import infer as page
from dashboard.stores import content_store
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of, loaded_study

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
    interval=POLL_MS,
    running=[(Output(page.HELDOUT, "disabled"), True, False)],
    prevent_initial_call=True,
)
def heldout(_clicks, store: dict):
    """The study's held-out prompts (corpus text the decomposition was not trained on)."""
    study = loaded_study(store["version"])
    return "\n".join(inference_service(settings()).heldout_prompts(study).prompts)


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


def token_rows(prompts: list[Comparison], numbers: list[int] | None = None) -> list[dict]:
    """One grid row per token of every prompt (numbered from 1, or by `numbers`)."""
    return [
        {
            "prompt": number,
            "position": i,
            "token": token,
            "target_next": " ".join(repr(t) for t in result.target_top[i][:3]),
            "masked_next": " ".join(repr(t) for t in result.masked_top[i][:3]),
            "kl": round(float(result.kl[i]), 4),
            "loss_change": round(float(result.masked_loss[i] - result.target_loss[i]), 4)
            if i < len(result.target_loss)
            else None,
        }
        for number, result in zip(numbers or range(1, len(prompts) + 1), prompts, strict=True)
        for i, token in enumerate(result.tokens)
    ]


WINDOW_COLUMNS = [
    {"field": "window", "headerName": "window", "maxWidth": 100},
    {
        "field": "mean_kl",
        "headerName": "mean KL",
        "valueFormatter": {"function": "d3.format('.4f')(params.value)"},
    },
    {"field": "loss_difference", "headerName": "Δ loss", "valueFormatter": SIGNED},
    {
        "field": "top1_agreement",
        "headerName": "top-1 agreement",
        "valueFormatter": {"function": "d3.format('.1%')(params.value)"},
    },
    {"field": "text", "headerName": "text", "flex": 4, "cellClass": "token-cell"},
]


def window_rows(windows: list[WindowComparison]) -> list[dict]:
    """One grid row per held-out window, with its figures and text."""
    return [
        {
            "window": window.window,
            "mean_kl": round(window.mean_kl, 5),
            "loss_difference": round(window.loss_difference, 5),
            "top1_agreement": round(window.top1_agreement, 4),
            "text": "".join(window.tokens),
        }
        for window in windows
    ]


def parse_slice(text: str, window_length: int) -> dict:
    """`start:count` as the slice job's arguments; MaskInputError when malformed."""
    start, colon, count = text.strip().partition(":")
    if not (colon and start.strip().isdigit() and count.strip().isdigit()):
        raise MaskInputError(f"slice {text.strip()!r}: expected start:count, e.g. 0:16")
    if not 1 <= int(count) <= MAX_SLICE_WINDOWS:
        raise MaskInputError(f"slice {text.strip()!r}: count must be 1 to {MAX_SLICE_WINDOWS}")
    return {"start": int(start), "count": int(count), "window_length": window_length}


def mask_values(study, store: dict, mask_hash, mode, clusters) -> np.ndarray:
    """The run's mask over the study's subcomponents: a stored one, or clusters off or kept."""
    if mode == "as_is":
        mask, _ = content_store().mask(mask_hash or "")
        return dense_values(mask, study.subcomponents["label"].tolist())
    if not clusters:
        raise MaskInputError("choose the clusters to ablate or keep")
    assignments = cluster_assignments(study, store["iteration"])
    return applied(mode, np.zeros(len(study.subcomponents)), assignments, list(clusters))


@callback(
    *job_outputs(page),
    Output(page.JOB, "data"),
    Input(page.REQUEST, "data"),
    State(page.MASK, "value"),
    State(page.MODE, "value"),
    State(page.CLUSTERS, "value"),
    State(page.PROMPTS, "value"),
    State(page.SLICE, "value"),
    State(page.STORE, "data"),
    background=True,
    interval=POLL_MS,
    running=job_running(page, "Running the target and the masked model ..."),
    cancel=[Input(page.CANCEL, "n_clicks")],  # and a new request replaces a running job
    prevent_initial_call=True,
)
def run_inference(_clicks, mask_hash, mode, clusters, text, slice_text, store: dict):
    """Check the inputs (keeping them on error), run the job, and name everything in the URL."""
    study = loaded_study(store["version"])
    extra: dict = {"mode": None if mode == "as_is" else mode}
    try:
        values = mask_values(study, store, mask_hash, mode, clusters)
        if (slice_text or "").strip():
            arguments = {
                "values": values.tolist(),
                **parse_slice(slice_text, study.window_shape[1]),
            }
            result = inference_service(settings()).masked_inference_slice(study, **arguments)
            extra["slice"] = f"{arguments['start']}:{arguments['count']}"
            rows, tokens = result.windows, window_view(result.windows, arguments)
        else:
            prompts = prompt_lines(text)
            if not prompts:
                raise MaskInputError(
                    "type at least one prompt, use the held-out text, or give a slice"
                )
            extra["prompts"] = content_store().put_text("\n".join(prompts))
            arguments = {"values": values.tolist(), "prompts": prompts}
            result = inference_service(settings()).masked_inference(study, **arguments)
            rows, tokens = result.prompts, None
    except (ValueError, LookupError, RuntimeError) as error:  # incl. bad or unknown hashes
        return no_update, no_update, str(error), True, no_update
    summary = result.summary
    off = clusters_switched_off(values, cluster_assignments(study, store["iteration"]))
    links = links_of(study, store)
    view = html.Div(
        [
            dbc.Alert(
                f"Mean KL {summary.mean_kl:.4f} nats · loss difference "
                f"{summary.loss_difference:+.4f} nats · top-1 agreement "
                f"{summary.top1_agreement:.1%}"
                + (f" · over {len(rows)} held-out windows" if tokens is not None else ""),
                color="info",
                id="infer-summary",
            ),
            html.H6(f"{len(off):,} clusters switched off entirely"),
            html.Div(
                [
                    dcc.Link(f"{c}", href=links.cluster(c), className="me-2")
                    for c in off[:LISTED_CLUSTERS]
                ],
                id="infer-off-clusters",
                className="small mb-3",
            ),
            *(
                [html.H6("Tokens of every prompt"), tokens_grid(token_rows(rows))]
                if tokens is None
                else tokens
            ),
        ]
    )
    if mode == "as_is":
        extra["mask"] = mask_hash.strip().lower()
    else:
        extra["clusters"] = ",".join(str(c) for c in clusters)
    job = arguments if tokens is not None else None
    return view, links.query(**extra), "", False, job


def tokens_grid(rows: list[dict]):
    return list_grid(page.TOKENS, TOKEN_COLUMNS, rows, "28rem")


def window_view(windows: list[WindowComparison], arguments: dict) -> list:
    """The slice's windows (choose one) and the tokens of the first."""
    first = windows[0]
    return [
        html.H6(
            f"Held-out windows {arguments['start']} to "
            f"{arguments['start'] + arguments['count'] - 1}: choose one to see its tokens"
        ),
        windows_grid(window_rows(windows)),
        html.H6(f"Tokens of window {first.window}", id="infer-window-title"),
        tokens_grid(token_rows([first], numbers=[first.window])),
    ]


def windows_grid(rows: list[dict]):
    grid = list_grid(page.WINDOWS, WINDOW_COLUMNS, rows, "16rem")
    grid.dashGridOptions = {**grid.dashGridOptions, "rowSelection": {"mode": "singleRow"}}
    return grid


@callback(
    Output(page.TOKENS, "rowData"),
    Output("infer-window-title", "children"),
    Input(page.WINDOWS, "selectedRows"),
    State(page.JOB, "data"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def show_window(selected: list[dict] | None, job: dict | None, store: dict):
    """The chosen window's tokens, from the slice job's (cached) result."""
    if not selected or not job:
        return no_update, no_update
    study = loaded_study(store["version"])
    result = inference_service(settings()).masked_inference_slice(study, **job)
    chosen = [w for w in result.windows if w.window == selected[0]["window"]]
    if not chosen:
        return no_update, no_update
    return token_rows(chosen, numbers=[chosen[0].window]), f"Tokens of window {chosen[0].window}"
