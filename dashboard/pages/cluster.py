"""`/cluster/<cluster_id>`: one cluster. `?iteration=` picks the merge-history iteration and
`?study=` a study of the data dir.

The layout holds the header and empty sections; `callbacks/cluster.py` fills them, the ones
below the first screen (and their controls) only once they are scrolled to.
"""

from __future__ import annotations

from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
from dash import dcc, html
from flask import request

from dashboard.app_state import settings
from dashboard.components.atlas_components import TokenRows
from dashboard.components.cluster_overview import overview_children, titled
from dashboard.components.computing import computing_loading, computing_message
from dashboard.components.discussion import discuss_link, explanation_form
from dashboard.components.lazy import lazy_section
from dashboard.components.notices import not_found_notice
from dashboard.components.quality import quality_details
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.components.token_text import threshold_slider
from dashboard.stores import explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.github import discussion_body, discussion_title, new_issue_url
from dashboard.study import Study
from dashboard.study.merge_tree import MergeTree
from dashboard.study.quality import decomposition_quality
from dashboard.study.summary import study_merge_tree
from dashboard.study_view import StudyView, links_of
from dashboard.urls import Links, parse_index

dash.register_page(__name__, path_template="/cluster/<cluster_id>", title="Cluster · SPD Atlas")

STORE = "cluster-store"
OVERVIEW = "cluster-overview"
OVERVIEW_PENDING = "cluster-overview-pending"
MEMBERS = "cluster-members"
MEMBERS_SHOWN = "cluster-members-shown"
TOKENS = "cluster-tokens"
TOKENS_SHOWN = "cluster-tokens-shown"
RELATIONS = "cluster-relations"
RELATIONS_SHOWN = "cluster-relations-shown"
LINEAGE = "cluster-lineage"
LINEAGE_SHOWN = "cluster-lineage-shown"
EXAMPLES = "cluster-examples"
TOP_EXAMPLES = "top-examples"
QUANTILE_EXAMPLES = "quantile-examples"
EXAMPLES_SHOWN = "cluster-examples-shown"
THRESHOLD = "cluster-threshold"
LENS_CONTROLS = "cluster-lens-controls"
LENS_MEMBER = "cluster-lens-member"
LENSES = "cluster-lenses"
LENSES_SHOWN = "cluster-lenses-shown"
PLANE_CONTROLS = "cluster-plane-controls"
PLANE_FIRST = "cluster-plane-first"
PLANE_SECOND = "cluster-plane-second"
PLANE_COLOUR = "cluster-plane-colour"
PLANE = "cluster-plane"
PLANE_SHOWN = "cluster-plane-shown"
EXPLANATIONS = "cluster-explanations"
EXPLAIN_AUTHOR = "cluster-explain-author"
EXPLAIN_TEXT = "cluster-explain-text"
EXPLAIN_SAVE = "cluster-explain-save"
EXPLAIN_MESSAGE = "cluster-explain-message"
DISCUSSION = "cluster-discussion"
DISCUSS_REFRESH = "cluster-discuss-refresh"
DISCUSS_MESSAGE = "cluster-discuss-message"


def example_lists(threshold: float, top: list[dict], quantile: list[dict]) -> dbc.Row:
    """The top and the quantile examples, the tokens around each shaded above `threshold`."""
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.H6("Strongest activations"),
                    TokenRows(TOP_EXAMPLES, rows=top, threshold=threshold),
                ],
                lg=6,
            ),
            dbc.Col(
                [
                    html.H6("From every activation band (weakest first)"),
                    TokenRows(QUANTILE_EXAMPLES, rows=quantile, threshold=threshold),
                ],
                lg=6,
            ),
        ]
    )


def direction_options(study: Study, members) -> list[dict]:
    labels = study.subcomponents["label"]
    options = []
    table = study.direction_paths()
    if table is None:
        return options
    for member in members:
        for side in ("read", "write"):
            if not table.loc[member, f"{side}_path"].startswith("no residual path"):
                options.append({"label": f"{side} · {labels[member]}", "value": f"{side}:{member}"})
    return options


def lens_controls(study: Study, members) -> dbc.InputGroup:
    """The choice of whose directions the lenses read: the whole cluster or one member."""
    labels = study.subcomponents["label"]
    options = [{"label": "whole cluster (share-weighted)", "value": "all"}] + [
        {"label": labels.iloc[m], "value": str(m)} for m in members
    ]
    return dbc.InputGroup(
        [
            dbc.InputGroupText("Directions of"),
            dbc.Select(id=LENS_MEMBER, options=options, value="all"),
        ],
        size="sm",
        style={"maxWidth": "36rem"},
    )


def plane_controls(study: Study, members) -> dbc.Row:
    """The two directions spanning the plane view, and what colours its points."""
    options = direction_options(study, members)
    colours = [
        {"label": "colour by token group", "value": "group"},
        {"label": "colour by the top SAE feature", "value": "sae"},
        {"label": "no colour", "value": "none"},
    ]
    first = options[0]["value"] if options else None
    second = options[1]["value"] if len(options) > 1 else None
    return dbc.Row(
        [
            dbc.Col(dbc.Select(id=PLANE_FIRST, options=options, value=first), md=4),
            dbc.Col(dbc.Select(id=PLANE_SECOND, options=options, value=second), md=4),
            dbc.Col(dbc.Select(id=PLANE_COLOUR, value="group", options=colours), md=4),
        ],
        className="g-2 mb-2",
    )


def header(study: Study, store: dict, n_members: int, modules: int) -> html.Div:
    cluster, iteration = store["cluster"], store["iteration"]
    links = links_of(study, store)
    provenance = ", ".join(f"{key} {value[:10]}" for key, value in study.provenance.items())
    return html.Div(
        [
            html.H2(f"Cluster {cluster}", id="cluster-title"),
            html.P(
                f"{n_members} members in {modules} modules · iteration {iteration} of "
                f"{study.n_merges} · study {study.name}",
                className="mb-1",
            ),
            html.P(f"Provenance: {provenance}", className="text-muted small mb-1"),
            quality_details(decomposition_quality(study), "cluster-decomposition-quality"),
            html.Div(
                [
                    dcc.Link(
                        "Probe with this cluster",
                        href=links.to("/probe", cluster=cluster),
                        className="btn btn-outline-primary btn-sm me-2",
                    ),
                    dcc.Link(
                        "Causal mask from it",
                        href=links.to("/masks", cluster=cluster),
                        className="btn btn-outline-primary btn-sm me-2",
                    ),
                    dcc.Link(
                        "Masked inference",
                        href=links.to("/infer", cluster=cluster),
                        className="btn btn-outline-primary btn-sm me-2",
                    ),
                    dcc.Link(
                        "Back to the list",
                        href=links.clusters(cluster=cluster),
                        className="btn btn-outline-secondary btn-sm",
                    ),
                ],
                id="cluster-links",
            ),
        ]
    )


def discussion_address(study: Study, store: dict, members) -> str | None:
    """The prefilled new-issue page for this cluster, when a repository is configured."""
    current = settings()
    if current.github_repo is None:
        return None
    cluster, iteration = store["cluster"], store["iteration"]
    modules = study.subcomponents["module"].iloc[members].value_counts().sort_index()
    pinned = {"iteration": iteration, **({"study": store["study"]} if store["study"] else {})}
    permalink = f"{request.host_url.rstrip('/')}/cluster/{cluster}?{urlencode(pinned)}"
    try:
        newest = explanation_store().of_target(study.name, iteration, "cluster", str(cluster))
    except StoreError:
        newest = []
    label = newest[0].text if newest else f"{len(members)} members"
    title = discussion_title(study.name, iteration, cluster, label)
    body = discussion_body(
        study.name, iteration, cluster, {str(k): int(v) for k, v in modules.items()}, permalink
    )
    return new_issue_url(current.github_api, current.github_repo, title, body)


def first_screen(study: Study, store: dict):
    """Makeup and activation, drawn with the page when the clusters' measures at this iteration
    are stored; else computed by a callback (`OVERVIEW_PENDING`), with progress shown."""
    iteration = store["iteration"]
    if StudyView(study, iteration).is_stored:
        children = overview_children(
            study.version, iteration, store["cluster"], links_of(study, store)
        )
        return html.Div(children, id=OVERVIEW)
    return [
        dcc.Store(id=OVERVIEW_PENDING, data=store),
        computing_loading(
            html.Div(id=OVERVIEW), computing_message("the clusters' measures", iteration)
        ),
    ]


def elsewhere_notice(links: Links, tree: MergeTree, cluster: int, iteration: int) -> html.Div:
    """Cluster `cluster` is in the merge history but not at `iteration`: when it was formed and
    merged away, with links to both, and where its members are at `iteration`."""
    formed, ended = tree.formed(cluster), tree.ended(cluster)
    parent = int(tree.parent[cluster])
    parts = tree.parts_at(cluster, iteration)
    size = int(tree.size[cluster])
    merge = tree.merge_of(cluster)
    origin = (
        "an initial group of the clustering"
        if merge is None
        else f"formed by merge {merge} of clusters "
        + " and ".join(str(int(c)) for c in tree.children[merge])
    )
    lines = [
        html.P(
            [
                f"Cluster {cluster} ({size} members, {origin}) exists from iteration {formed} ",
                f"to iteration {ended - 1}" if ended is not None else "to the end of the history",
                f"; this page asked for iteration {iteration}.",
            ],
            id="not-found-message",
        ),
        html.Ul(
            [
                html.Li(
                    dcc.Link(
                        f"Cluster {cluster} at iteration {formed}, where it was formed",
                        href=links.at(formed).cluster(cluster),
                        id="elsewhere-formed",
                    )
                ),
                *(
                    []
                    if ended is None
                    else [
                        html.Li(
                            dcc.Link(
                                f"Cluster {parent} at iteration {ended}, which it was merged into",
                                href=links.at(ended).cluster(parent),
                                id="elsewhere-merged",
                            )
                        )
                    ]
                ),
            ]
        ),
        html.P(
            [
                f"At iteration {iteration} its members are in cluster"
                + ("s " if len(parts) > 1 else " "),
                *[
                    item
                    for i, part in enumerate(parts)
                    for item in (
                        ", " if i else "",
                        dcc.Link(str(part), href=links.at(iteration).cluster(part)),
                    )
                ],
                ".",
            ],
            id="elsewhere-now",
        ),
    ]
    return html.Div(
        [html.H3(f"Cluster {cluster} is not at iteration {iteration}"), *lines],
        id="not-found",
    )


def layout(cluster_id: str | None = None, **query: str | list[str]) -> html.Div:
    opened = open_study_page("Cluster", query)
    if not isinstance(opened, StudyPage):
        return opened
    if opened.iteration_problem:
        return not_found_notice(opened.iteration_problem)
    name, study, iteration = opened.name, opened.study, opened.iteration
    cluster = parse_index(cluster_id)
    members = opened.view.members(cluster) if cluster is not None else []
    if len(members) == 0 and cluster is not None:
        tree = study_merge_tree(study)  # the id may name a cluster of another iteration
        if tree.is_cluster(cluster):
            return elsewhere_notice(opened.links, tree, cluster, iteration)
    if len(members) == 0:
        return not_found_notice(
            f"There is no cluster {cluster_id!r} at iteration {iteration} of study {study.name}."
        )
    modules = study.subcomponents["module"].iloc[members].nunique()
    store = {"cluster": cluster, "iteration": iteration, "study": name, "version": study.version}
    return html.Div(
        [
            dcc.Store(id=STORE, data=store),
            header(study, store, len(members), modules),
            html.Div(first_screen(study, store), className="first-screen"),
            lazy_section("Members", dcc.Loading(html.Div(id=MEMBERS)), MEMBERS_SHOWN),
            lazy_section("Tokens", dcc.Loading(html.Div(id=TOKENS)), TOKENS_SHOWN),
            lazy_section(
                "Coactivating clusters", dcc.Loading(html.Div(id=RELATIONS)), RELATIONS_SHOWN
            ),
            lazy_section("Lineage", dcc.Loading(html.Div(id=LINEAGE)), LINEAGE_SHOWN),
            lazy_section(
                "Examples",
                html.Div(
                    [
                        threshold_slider(THRESHOLD, "Shade tokens with activation above"),
                        dcc.Loading(html.Div(id=EXAMPLES)),
                    ]
                ),
                EXAMPLES_SHOWN,
            ),
            lazy_section(
                "Lenses",
                html.Div([html.Div(id=LENS_CONTROLS), dcc.Loading(html.Div(id=LENSES))]),
                LENSES_SHOWN,
            ),
            lazy_section(
                "Plane view",
                html.Div([html.Div(id=PLANE_CONTROLS), dcc.Loading(html.Div(id=PLANE))]),
                PLANE_SHOWN,
            ),
            titled(
                "Explanations",
                html.Div(
                    [
                        html.Div(id=EXPLANATIONS),
                        explanation_form(
                            EXPLAIN_AUTHOR, EXPLAIN_TEXT, EXPLAIN_SAVE, EXPLAIN_MESSAGE
                        ),
                    ]
                ),
            ),
            titled(
                "Discussion",
                html.Div(
                    [
                        html.Div(
                            [
                                discuss_link(discussion_address(study, store, members)),
                                dbc.Button(
                                    "Refresh from GitHub",
                                    id=DISCUSS_REFRESH,
                                    size="sm",
                                    color="secondary",
                                    outline=True,
                                    disabled=settings().github_repo is None,
                                ),
                            ],
                            className="mb-2",
                        ),
                        dbc.Alert(id=DISCUSS_MESSAGE, is_open=False, className="small"),
                        dcc.Loading(html.Div(id=DISCUSSION)),
                    ]
                ),
            ),
        ]
    )
