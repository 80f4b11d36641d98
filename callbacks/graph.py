"""Callbacks of `/graph`: build the attribution graph (a background job on the inference
service, as the probe's), open a clicked node's cluster page, and turn chosen nodes into a
causal mask opened in masked inference."""

from __future__ import annotations

import uuid

import dash_bootstrap_components as dbc
import numpy as np
from dash import Input, Output, State, callback, dcc, html, no_update

from callbacks.jobs import POLL_MS, admit_jobs, job_outputs, job_running
from dashboard.app_state import settings
from dashboard.components.attribution_graph import faithfulness, graph_figure
from dashboard.inference.masks import as_mask
from dashboard.inference.results import AttributionGraph
from dashboard.inference.service import inference_service
from dashboard.pages import graph as page
from dashboard.stores import content_store
from dashboard.stores.database import StoreError
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import links_of, loaded_study

RESULT_TEXT = "graph-result-text"  # the hash of the text the shown graph was built from

admit_jobs(
    page.RUN, page.REQUEST, Output(page.MESSAGE, "children"), Output(page.MESSAGE, "is_open")
)


@callback(
    Output(page.REQUEST, "data", allow_duplicate=True),
    Input(page.AUTORUN, "n_intervals"),
    prevent_initial_call=True,
)
def build_on_opening(_: int) -> str:
    """An address that names a text opens with its graph (a fresh browser gets the same)."""
    return uuid.uuid4().hex


def result_view(graph: AttributionGraph, text_hash: str) -> html.Div:
    positions: dict[int, list] = {}  # cluster -> its nodes, largest |attribution| first
    for node in sorted(graph.nodes, key=lambda node: -abs(node.attribution)):
        positions.setdefault(node.cluster, []).append(node)
    options = [
        {
            "label": f" cluster {cluster}: at "
            + ", ".join(
                f"{n.position} ({graph.tokens[n.position]!r}, {n.attribution:+.3g})" for n in nodes
            ),
            "value": str(cluster),
        }
        for cluster, nodes in positions.items()
    ]
    return html.Div(
        [
            dcc.Store(id=RESULT_TEXT, data=text_hash),
            html.P(
                f"{len(graph.nodes)} of {graph.active_nodes} active (position, cluster) nodes "
                f"carry {graph.kept_share:.0%} of their total attribution; {len(graph.edges)} "
                f"edges. Logit of {graph.output_token!r} at position {graph.output_position}: "
                f"{graph.output_logit:.3f} (CI-masked model). Click a node for its cluster.",
                id="graph-summary",
                className="small",
            ),
            dcc.Graph(id=page.FIGURE, figure=graph_figure(graph), config={"displaylogo": False}),
            faithfulness(graph),
            html.H4("Mask these", className="mt-3"),
            html.P(
                "Switch the chosen clusters off (every other subcomponent on) as a causal mask, "
                "stored by its hash, and run masked inference with it on this prompt.",
                className="small text-muted",
            ),
            dcc.Checklist(id=page.PICK, options=options, value=[], className="small"),
            dbc.Button("Mask these", id=page.MASK_THESE, size="sm", className="mt-2"),
            html.Div(id="graph-mask-message", className="small text-danger mt-1"),
        ]
    )


@callback(
    *job_outputs(page),
    Input(page.REQUEST, "data"),
    State(page.TEXT, "value"),
    State(page.TARGET, "value"),
    State(page.THRESHOLD, "value"),
    State(page.SHARE, "value"),
    State(page.STORE, "data"),
    background=True,
    interval=POLL_MS,
    running=job_running(page, "Building the graph and checking its top nodes by ablation ..."),
    cancel=[Input(page.CANCEL, "n_clicks")],
    prevent_initial_call=True,
)
def build_graph(_request, text: str | None, target, threshold, share, store: dict):
    """Store the text by hash, build its graph, and put its settings in the URL."""
    if not text or not text.strip():
        return no_update, no_update, "Type a prompt first.", True
    study = loaded_study(store["version"])
    target = (target or "").strip()
    threshold = float(threshold or page.DEFAULT_THRESHOLD)
    share = float(share or page.DEFAULT_SHARE)
    assignments = cluster_assignments(study, store["iteration"])
    try:
        text_hash = content_store().put_text(text)
        graph = inference_service(settings()).attribution_graph(
            study,
            text,
            [int(cluster) for cluster in assignments],
            target,
            threshold,
            node_share=share,
            edge_share=share,
        )
    except (ValueError, LookupError, RuntimeError) as error:
        return no_update, no_update, str(error), True
    search = links_of(study, store).query(
        text=text_hash, target=target or None, threshold=threshold, share=share
    )
    return result_view(graph, text_hash), search, "", False


@callback(
    Output(page.GO, "href", allow_duplicate=True),
    Input(page.FIGURE, "clickData"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def open_clicked_cluster(click: dict | None, store: dict):
    points = (click or {}).get("points") or [{}]
    custom = points[0].get("customdata")
    if not isinstance(custom, list) or not custom or not isinstance(custom[0], int):
        return no_update  # an edge or the output
    return links_of(loaded_study(store["version"]), store).cluster(custom[0])


@callback(
    Output(page.GO, "href", allow_duplicate=True),
    Output("graph-mask-message", "children"),
    Input(page.MASK_THESE, "n_clicks"),
    State(page.PICK, "value"),
    State(RESULT_TEXT, "data"),
    State(page.STORE, "data"),
    prevent_initial_call=True,
)
def mask_these(_clicks: int, chosen: list[str] | None, text_hash: str, store: dict):
    """The chosen clusters off, the rest on: stored by hash, opened in masked inference."""
    if not _clicks:  # the button was just drawn with a new graph
        return no_update, no_update
    if not chosen:
        return no_update, "Choose at least one node first."
    study = loaded_study(store["version"])
    assignments = cluster_assignments(study, store["iteration"])
    off = np.isin(assignments, [int(cluster) for cluster in chosen])
    values = np.where(off, 0.0, 1.0)
    labels = study.subcomponents["label"].tolist()
    clusters = ", ".join(sorted(chosen, key=int))
    try:
        name = content_store().put_mask(
            as_mask(study.provenance["decomposition"], labels, values),
            f"graph: clusters {clusters} off"[:200],
        )
    except StoreError as error:
        return no_update, str(error)
    return links_of(study, store).to("/infer", mask=name, prompts=text_hash), ""
