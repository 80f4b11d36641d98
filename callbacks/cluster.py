"""Callbacks of `/cluster/<id>`: the lower sections once scrolled to, and the first screen when
it is computed on demand (the layout draws it when it is stored)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html
from dash.exceptions import PreventUpdate

from dashboard.analysis.lens_decode import SIDES, decode_members
from dashboard.analysis.lenses import LENSES
from dashboard.analysis.plane import DegeneratePlaneError, plane_view
from dashboard.analysis.sae_features import encode
from dashboard.analysis.study_analyses import (
    lens_matrices,
    residual_directions,
    sampled_token_groups,
    stored_sae,
)
from dashboard.components import figures, lineage
from dashboard.components.cluster_overview import members_grid, overview_children
from dashboard.components.tables import small_table
from dashboard.components.token_text import example_records, threshold_to_rows
from dashboard.pages import cluster as page
from dashboard.study import Study
from dashboard.study.summary import vocab_tokens
from dashboard.study_view import StudyView, links_of, loaded_study, per_study
from dashboard.urls import Links


def tokens_section(study: Study, analyses, cluster: int) -> dbc.Row:
    tokens = vocab_tokens(study)
    table = analyses.tokens[
        (analyses.tokens["cluster"] == cluster) & (analyses.tokens["ranking"] == "count")
    ]
    firing = analyses.clusters.iloc[analyses.row_of(cluster)]
    n_firing = firing["firing_frequency"] * study.window_shape[0] * study.window_shape[1]
    labels = [repr(tokens[t]) for t in table["token_id"]]
    token_figure = figures.bars(
        labels,
        {
            "share of the cluster's firing tokens": table["count"].to_numpy() / max(n_firing, 1),
            "base frequency in the corpus": table["base_frequency"].to_numpy(),
        },
        f"Top tokens (entropy {firing['token_entropy']:.2f} nats, "
        f"top-10% concentration {firing['token_concentration']:.0%})",
        "token",
        "frequency",
    )
    columns = [dbc.Col(dcc.Graph(figure=token_figure, id="cluster-top-tokens"), lg=6)]
    if "token_group_histogram" in analyses.arrays:
        counts = analyses.arrays["token_group_histogram"][analyses.row_of(cluster)]
        labels = study.token_group_labels() or [f"group {g}" for g in range(len(counts))]
        order = np.argsort(-counts)[:12]
        columns.append(
            dbc.Col(
                dcc.Graph(
                    figure=figures.bars(
                        [labels[g][:28] for g in order],
                        {"firing tokens": counts[order]},
                        "Token groups it fires on",
                        "token group (most frequent members)",
                        "firing tokens",
                    )
                ),
                lg=6,
            )
        )
    return dbc.Row(columns)


def relations_section(analyses, cluster: int, links: Links) -> html.Div:
    related = analyses.coactivation[analyses.coactivation["cluster"] == cluster]
    rows = [
        [dcc.Link(f"Cluster {other}", href=links.cluster(other)), count, f"{jaccard:.3f}"]
        for other, count, jaccard in zip(
            related["other"], related["count"], related["jaccard"], strict=True
        )
    ]
    return small_table(["cluster", "shared firing tokens", "Jaccard"], rows, "coactivation-table")


@callback(Output(page.OVERVIEW, "children"), Input(page.OVERVIEW_PENDING, "data"))
def fill_overview(store: dict):
    """The first screen, when the page could not draw it at once: the clusters' measures at this
    iteration were being computed."""
    study = loaded_study(store["version"])
    return overview_children(
        store["version"], store["iteration"], store["cluster"], links_of(study, store)
    )


def view_once_shown(shown: bool, store: dict) -> StudyView:
    """The page's study at its iteration, for a lower section's callback once the section has
    been scrolled to; before that, no update."""
    if not shown:
        raise PreventUpdate
    return StudyView.of(store)


@callback(
    Output(page.MEMBERS, "children"),
    Input(page.STORE, "data"),
    Input(page.MEMBERS_SHOWN, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def fill_members(store: dict, shown: bool):
    view = view_once_shown(shown, store)
    return members_grid(view.study, view.analyses(), store["cluster"], links_of(view.study, store))


@callback(
    Output(page.TOKENS, "children"),
    Input(page.STORE, "data"),
    Input(page.TOKENS_SHOWN, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def fill_tokens(store: dict, shown: bool):
    view = view_once_shown(shown, store)
    return tokens_section(view.study, view.analyses(), store["cluster"])


@callback(
    Output(page.RELATIONS, "children"),
    Input(page.STORE, "data"),
    Input(page.RELATIONS_SHOWN, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def fill_relations(store: dict, shown: bool):
    view = view_once_shown(shown, store)
    return relations_section(view.analyses(), store["cluster"], links_of(view.study, store))


@callback(
    Output(page.LINEAGE, "children"),
    Input(page.STORE, "data"),
    Input(page.LINEAGE_SHOWN, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def fill_lineage(store: dict, shown: bool):
    """The merges that built the cluster, the two parts that formed it and what it becomes
    (the same at every iteration where the cluster exists: its id names its members)."""
    view = view_once_shown(shown, store)
    return lineage.lineage_children(view.version, store.get("study"), store["cluster"])


@callback(
    Output(page.EXAMPLES, "children"),
    Input(page.STORE, "data"),
    Input(page.EXAMPLES_SHOWN, "data"),
    State(page.THRESHOLD, "value"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def fill_examples(store: dict, shown: bool, threshold: float | None):
    view = view_once_shown(shown, store)
    top, quantile = example_rows(
        view.version, view.iteration, store["cluster"], links_of(view.study, store)
    )
    return page.example_lists(threshold or 0.0, top, quantile)


@per_study(maxsize=64)
def example_rows(
    version: str, iteration: int, cluster: int, links: Links
) -> tuple[list[dict], list[dict]]:
    """Rows of the top and the quantile examples."""
    view = StudyView(loaded_study(version), iteration)
    examples, activation = view.examples(cluster)
    records = example_records(view.study, activation, examples, links)
    return (
        [record for record in records if record["kind"] == "top"],
        [record for record in records if record["kind"] == "quantile"],
    )


# the threshold re-shades the examples in the browser, without a request
clientside_callback(
    threshold_to_rows(2),
    [Output(page.TOP_EXAMPLES, "threshold"), Output(page.QUANTILE_EXAMPLES, "threshold")],
    Input(page.THRESHOLD, "value"),
    prevent_initial_call=True,
)


def lens_tables(study: Study, decodings: pd.DataFrame) -> dbc.Tabs:
    tabs = []
    tokens = vocab_tokens(study)
    for lens in LENSES.values():
        columns, header = [], []
        for side in SIDES:
            for end in ("top", "bottom"):
                chosen = decodings[
                    (decodings["lens"] == lens.name)
                    & (decodings["side"] == side)
                    & (decodings["end"] == end)
                ].sort_values("rank")
                labels = lens.item_labels(study, tokens, chosen["item"])
                columns.append(
                    [
                        f"{label} ({score:.2f})"
                        for label, score in zip(labels, chosen["score"], strict=True)
                    ]
                )
                header.append(f"{side} · {'promoted' if end == 'top' else 'suppressed'}")
        depth = max((len(column) for column in columns), default=0)
        rows = [[column[i] if i < len(column) else "" for column in columns] for i in range(depth)]
        body = (
            small_table(header, rows) if depth else html.P("Nothing to decode.", className="small")
        )
        tabs.append(dbc.Tab(body, label=lens.title, tab_id=f"lens-{lens.name}"))
    return dbc.Tabs(tabs, id="lens-tabs", active_tab=f"lens-{next(iter(LENSES))}")


@callback(
    Output(page.LENS_CONTROLS, "children"),
    Input(page.LENSES_SHOWN, "data"),
    State(page.STORE, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def show_lens_controls(shown: bool, store: dict):
    view = view_once_shown(shown, store)
    return page.lens_controls(view.study, view.members(store["cluster"]))


@callback(
    Output(page.LENSES, "children"),
    Input(page.LENS_MEMBER, "value"),  # exists once the section is scrolled to
    State(page.STORE, "data"),
)
def fill_lenses(member: str | None, store: dict):
    return lens_children(store["version"], store["iteration"], store["cluster"], member or "all")


@per_study(maxsize=64)
def lens_children(version: str, iteration: int, cluster: int, member: str) -> html.Div:
    """The lens tables of a cluster's directions (`member` "all") or one member's."""
    view = StudyView(loaded_study(version), iteration)
    study = view.study
    matrices = lens_matrices(study)
    if matrices is None:
        return dbc.Alert("This study was built without lenses.", color="secondary")
    if member == "all":
        decodings = view.decodings(cluster)
    else:
        subcomponent = int(member)
        decodings = study.stored_member_decodings(subcomponent)
        if decodings.empty:
            directions, points = residual_directions(study)
            decodings = decode_members(matrices, directions, points, np.array([subcomponent]), 10)
    note = []
    if member != "all":
        row = study.direction_paths().loc[int(member)]
        note = html.P(
            f"read at residual point {row['read_point']} ({row['read_path']}); write at point "
            f"{row['write_point']} ({row['write_path']})",
            className="small text-muted",
            id="lens-paths",
        )
    return html.Div([note, lens_tables(study, decodings)])


@callback(
    Output(page.PLANE_CONTROLS, "children"),
    Input(page.PLANE_SHOWN, "data"),
    State(page.STORE, "data"),
    prevent_initial_call=True,  # filled once scrolled to (assets/lazy_sections.js)
)
def show_plane_controls(shown: bool, store: dict):
    view = view_once_shown(shown, store)
    return page.plane_controls(view.study, view.members(store["cluster"]))


@callback(
    Output(page.PLANE, "children"),
    Input(page.PLANE_FIRST, "value"),  # these exist once the section is scrolled to
    Input(page.PLANE_SECOND, "value"),
    Input(page.PLANE_COLOUR, "value"),
    State(page.STORE, "data"),
)
def fill_plane(first: str | None, second: str | None, colour: str, store: dict):
    view = StudyView.of(store)
    study = view.study
    no_plane = html.P(
        "Pick two directions (this study needs lenses).", className="small text-muted"
    )
    if not first or not second:
        return no_plane
    directions, points = residual_directions(study)
    (side_a, index_a), (side_b, index_b) = (
        (value.split(":")[0], int(value.split(":")[1])) for value in (first, second)
    )
    point = int(points[side_a][index_a])
    sample = study.residual_sample(point)
    if sample is None:
        return no_plane
    analyses = view.analyses()
    members = analyses.members[analyses.members["cluster"] == store["cluster"]]
    subcomponents = members["subcomponent"].to_numpy()
    try:
        view = plane_view(
            sample,
            np.asarray(directions[side_a][index_a]),
            np.asarray(directions[side_b][index_b]),
            np.asarray(directions["read"])[subcomponents],
            np.asarray(directions["write"])[subcomponents],
            members["share"].to_numpy(),
        )
    except DegeneratePlaneError as error:
        return dbc.Alert(str(error), color="warning")
    colours, label = None, ""
    if colour == "group":
        colours, label = sampled_token_groups(study), "token group"
    elif colour == "sae" and (sae := stored_sae(study, point)) is not None:
        indices, values = encode(sae, sample)
        feature = int(np.bincount(indices[values > 0], minlength=sae.n_features).argmax())
        colours = np.where(indices == feature, values, 0).sum(axis=1)
        label = f"SAE p{point} f{feature}"
    caption = (
        f"{sample.shape[0]:,} sampled tokens at residual point {point}; arrows: the cluster's "
        "share-weighted map x → Σ write (read · x) on this plane."
    )
    return html.Div(
        [
            dcc.Graph(figure=figures.plane_figure(view, colours, label), id="plane-graph"),
            html.Small(caption, className="text-muted"),
        ]
    )
