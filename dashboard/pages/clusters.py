"""`/clusters`: the 3D map, the distributions of cluster measures and the table of all clusters.

The view lives in the query string (only non-default values): `study` (a study directory in
the data dir; default: ATLAS_STUDY), `iteration`, `color`, `dist`, `cluster` (the selected one),
`sort` (`-size`: descending; `none`), `f_<column>` (a column filter, in the language of
`dashboard.analysis.cluster_table`) and `component=<module>:<c>` (show the cluster holding that
subcomponent). At an iteration the study stores, the first screen (map, distribution, selection
and the table's first rows) comes with the layout, so the page draws without a callback round
trip; at any other it is computed by the callbacks (`callbacks/clusters.py`) under a message
that says so. They answer every later change.
"""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import dcc, html

from dashboard.analysis.cluster_table import FilterError, query_table
from dashboard.components import charts
from dashboard.components.atlas_components import Chart, ClusterMap, ServerTable
from dashboard.components.computing import computing_loading, computing_message
from dashboard.components.map_points import map_colorbar, map_points
from dashboard.components.merge_history import mdl_chart
from dashboard.components.quality import quality_details
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.page_data import (
    is_stored,
    links_of,
    list_table,
    loaded_study,
    map_at,
)
from dashboard.stores import explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.explanations import MEASURES
from dashboard.study import Study
from dashboard.study.quality import decomposition_quality
from dashboard.study.summary import cluster_assignments, study_counts
from dashboard.urls import Links, single

dash.register_page(__name__, path="/clusters", title="Clusters · SPD Atlas")

MAP = "clusters-map"
GRID = "clusters-grid"
DISTRIBUTION = "clusters-distribution"
DIST_MEASURE = "clusters-dist-measure"
COLOR = "clusters-color"
ITERATION = "clusters-iteration"
ITERATION_APPLY = "clusters-iteration-apply"
ITERATION_GO = "clusters-iteration-go"  # set to the address of another iteration's list
SUMMARY = "clusters-summary"
STATE = "clusters-state"
URL_SYNC = "clusters-url"
MESSAGE = "clusters-message"
MDL = "clusters-mdl"
FILL = "clusters-fill"  # set true in the browser when the first screen is left to the callbacks

DEFAULT_COLOR = "firing_frequency"
DEFAULT_DIST = "size"
DEFAULT_SORT = "-size"
NO_SORT = "none"
FILTER_PREFIX = "f_"

MEASURE_LABELS = {
    "size": "members",
    "firing_frequency": "firing frequency",
    "window_frequency": "window frequency",
    "mean_activation": "mean activation",
    "token_entropy": "token entropy (nats)",
    "token_concentration": "token concentration",
    "distinct_tokens": "distinct tokens",
    "position_entropy": "position entropy",
    "depth_mean": "depth (mean layer)",
    "depth_spread": "depth spread",
    "attention_share": "attention share",
    "module_entropy": "module entropy",
    "top_module_share": "top module share",
    "n_modules": "modules",
    "member_gini": "member Gini",
    "cohesion": "cohesion",
    "cohesion_null": "cohesion if independent",
    "cohesion_ratio": "cohesion / independent",
    "cohesion_excess": "cohesion above chance",
    "always_on_members": "always-on members",
    "stability": "stability (pairs kept together)",
    "detection": "detection (explanation)",
    "detection_baseline": "detection (random explanation)",
    "fuzzing": "fuzzing (explanation)",
    "fuzzing_baseline": "fuzzing (random explanation)",
    "intruder": "intruder (chance 0.2)",
}
HISTOGRAM_BINS = 40
BLOCK_ROWS = 100  # rows the table is sent at a time
TEXT_COLUMNS = [  # (field, header, width) between the cluster and the measures
    ("size", "members", 90),
    ("layers", "members by layer", 100),
    ("top_tokens", "top tokens", 240),
    ("modules", "modules", 260),
    ("explanation", "explanation", 280),
    ("labels", "labels", 130),
    ("ci_histogram", "activation histogram", 160),
]
UNSORTED_COLUMNS = ("layers", "ci_histogram")  # sparklines: no order, no filter
SCORE_COLUMNS = [name for name in MEASURE_LABELS if name.startswith(MEASURES)]


def table_columns() -> list[dict]:
    """The table's columns: the cluster (a link to its page), its summary, then every measure."""
    cluster = {"field": "cluster", "header": "cluster", "width": 90, "numeric": True, "link": True}
    summary = [
        {
            "field": field,
            "header": header,
            "width": width,
            "numeric": field == "size",
            **({"sortable": False, "filterable": False} if field in UNSORTED_COLUMNS else {}),
        }
        for field, header, width in TEXT_COLUMNS
    ]
    measures = [
        {"field": name, "header": label, "width": 130, "numeric": True}
        for name, label in MEASURE_LABELS.items()
        if name != "size"
    ]
    return [cluster, *summary, *measures]


def table_now(state: dict) -> pd.DataFrame:
    """The list table with each cluster's newest explanation and the scores of its newest
    scored one (read per request: they change)."""
    table = list_table(state["version"], state["iteration"])
    study = loaded_study(state["version"])
    try:
        newest, scores = explanation_store().newest(study.name, state["iteration"])
        scores = scores.set_index("cluster")
    except StoreError:  # the store is away: the table still serves, without explanations
        newest, scores = {}, pd.DataFrame()
    score_columns = {
        column: np.nan if scores.empty else table["cluster"].map(scores[column])
        for column in SCORE_COLUMNS
    }
    explanations = table["cluster"].map(newest).fillna("") if newest else ""
    return table.assign(explanation=explanations, **score_columns)


def view_links(state: dict) -> Links:
    """The links of this view: they keep its study and iteration."""
    return links_of(loaded_study(state["version"]), state)


def table_query(sort: str, filters: dict[str, str]) -> dict:
    """The table's `query` prop for a URL's sort (`none`: unsorted) and filters."""
    return {"sort": "" if sort == NO_SORT else sort, "filters": filters}


def table_block(table: pd.DataFrame, query: dict, start: int, end: int, links: Links) -> dict:
    """Rows `start:end` of `table` under `query`, as the table's `block` prop; a filter it
    cannot apply raises FilterError."""
    result = query_table(table, query.get("filters"), query.get("sort") or "")
    rows = result.iloc[start:end]
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    for record in records:
        record["href"] = links.cluster(record["cluster"])
    return {"query": query, "start": start, "rows": records, "count": len(result)}


def map_props(study: Study, state: dict, table: pd.DataFrame, color: str) -> tuple[dict, dict]:
    """The map's `points` and `colorbar`, coloured by `color`."""
    coordinates = map_at(study, state["iteration"])
    placed = table.set_index("cluster").loc[coordinates["cluster"]].reset_index()
    label = MEASURE_LABELS.get(color, color)
    return map_points(coordinates, placed, color), map_colorbar(placed, color, label)


def distribution_chart(table: pd.DataFrame, measure: str) -> dict:
    values = table[measure].to_numpy(np.float64)
    return charts.distribution(values, HISTOGRAM_BINS, MEASURE_LABELS.get(measure, measure))


def selection_summary(table: pd.DataFrame, selected: object, links: Links):
    """The selected cluster's card with its "Open" link, however the selection arrived."""
    if selected is None:
        return html.Small("Click a point to select a cluster.", className="text-muted")
    table = table.set_index("cluster")
    if not isinstance(selected, int) or selected not in table.index:
        return dbc.Alert(f"No cluster {selected} at this iteration.", color="warning")
    row = table.loc[selected]
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5(f"Cluster {selected}", className="card-title", id="selected-title"),
                html.P(
                    f"{int(row['size'])} members · firing frequency "
                    f"{row['firing_frequency']:.3g} · depth {row['depth_mean']:.2f} · "
                    f"attention share {row['attention_share']:.2f} · cohesion above chance "
                    f"{row['cohesion_excess']:.2f}"
                    + ("" if pd.isna(row["stability"]) else f" · stability {row['stability']:.2f}")
                    + (f" · {row['labels']}" if row["labels"] else ""),
                    className="mb-1 small",
                ),
                html.P(["Top tokens: ", html.Code(row["top_tokens"])], className="mb-2 small"),
                dcc.Link(
                    "Open cluster",
                    href=links.cluster(selected),
                    className="btn btn-primary btn-sm",
                    id="open-cluster",
                ),
            ]
        )
    )


def study_line(study: Study, iteration: int) -> html.P:
    counts = study_counts(study)
    return html.P(
        f"{study.name}: {counts.alive:,} alive subcomponents in {counts.modules} modules, "
        f"{counts.windows * counts.window_length:,} harvested tokens; merge history of "
        f"{counts.merges:,} merges, shown at iteration {iteration} "
        f"(default {study.default_iteration}).",
        className="text-muted",
        id="study-name",
    )


def query_state(opened: StudyPage, query: dict) -> dict:
    """The view named by the URL, with defaults filled in; `message` explains what was off."""
    study, iteration = opened.study, opened.iteration
    messages = [opened.iteration_problem] if opened.iteration_problem else []
    filters = {
        key[len(FILTER_PREFIX) :]: single(value)
        for key, value in query.items()
        if key.startswith(FILTER_PREFIX) and single(value)
    }
    component = single(query.get("component"))
    if component:
        labels = study.subcomponents["label"]
        matches = labels.index[labels == component]
        cluster = int(cluster_assignments(study, iteration)[matches[0]]) if len(matches) else -1
        if len(matches) == 0:
            messages.append(f"study {study.name} has no subcomponent {component!r}")
        elif cluster < 0:
            messages.append(f"{component} is dead: it belongs to no cluster")
        else:
            filters["cluster"] = f"={cluster}"
            messages.append(f"showing cluster {cluster}, which holds {component}")
    selected = single(query.get("cluster"))
    return {
        "iteration": iteration,
        "color": single(query.get("color")) or DEFAULT_COLOR,
        "dist": single(query.get("dist")) or DEFAULT_DIST,
        "sort": single(query.get("sort")) or DEFAULT_SORT,
        "filters": filters,
        "selected": int(selected) if selected and selected.isdigit() else None,
        "component": component,
        "message": "; ".join(messages),
    }


def measure_options() -> list[dict]:
    return [{"label": label, "value": name} for name, label in MEASURE_LABELS.items()]


def controls(state: dict, study: Study) -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText("Iteration"),
                        dbc.Input(
                            id=ITERATION,
                            type="number",
                            min=0,
                            max=study.n_merges,
                            step=1,
                            value=state["iteration"],
                        ),
                        dbc.Button("Show", id=ITERATION_APPLY, color="secondary"),
                    ],
                    size="sm",
                ),
                md=4,
            ),
            dbc.Col(
                dbc.InputGroup(
                    [
                        dbc.InputGroupText("Colour map by"),
                        dbc.Select(id=COLOR, options=measure_options(), value=state["color"]),
                    ],
                    size="sm",
                ),
                md=4,
            ),
        ],
        className="mb-2 g-2",
    )


def first_screen(study: Study, state: dict) -> dict:
    """The props of the first screen, read in the layout at a stored iteration: the map, the
    distribution, the selection card and the table's first block; `message` when the URL's
    filters cannot be applied."""
    table = table_now(state)
    points, colorbar = map_props(study, state, table, state["color"])
    links = view_links(state)
    query = table_query(state["sort"], state["filters"])
    try:
        block, message = table_block(table, query, 0, BLOCK_ROWS, links), ""
    except FilterError as error:
        block = {"query": query, "start": 0, "rows": [], "count": 0}
        message = f"Filter not applied: {error}"
    return {
        "points": points,
        "colorbar": colorbar,
        "chart": distribution_chart(table, state["dist"]),
        "summary": selection_summary(table, state["selected"], links),
        "block": block,
        "message": message,
    }


def mdl_section(study: Study, iteration: int) -> list:
    chart = mdl_chart(study, iteration, pick=True)
    if chart is None:
        return []
    return [
        Chart(id=MDL, chart=chart),
        html.Small("Click the curve to show the list at that iteration.", className="text-muted"),
    ]


def layout(**query: str | list[str]) -> html.Div:
    opened = open_study_page("Clusters", query)
    if not isinstance(opened, StudyPage):
        return opened
    study = opened.study
    state = query_state(opened, query) | {"study": opened.name, "version": study.version}
    stored = is_stored(study, state["iteration"])
    computing = (
        None if stored else computing_message("the clusters' measures and map", state["iteration"])
    )
    first = first_screen(study, state) if stored else {}
    message = "; ".join(filter(None, [state["message"], first.get("message")]))
    table = ServerTable(
        id=GRID,
        columns=table_columns(),
        query=table_query(state["sort"], state["filters"]),
        block=first.get("block"),
        blockSize=BLOCK_ROWS,
    )
    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Location(id=ITERATION_GO, refresh="callback-nav"),
            dcc.Store(id=STATE, data={k: v for k, v in state.items() if k != "message"}),
            html.H2("Clusters"),
            study_line(study, state["iteration"]),
            quality_details(decomposition_quality(study), "decomposition-quality"),
            dbc.Alert(message, id=MESSAGE, color="info", is_open=bool(message), className="py-2"),
            controls(state, study),
            html.Div(
                # left to the callbacks: the store turns true once this is on screen
                # (assets/lazy_sections.js), which starts them
                [dcc.Store(id=FILL, data=False)],
                className="" if stored else "lazy-section",
                **({} if stored else {"data-trigger": FILL}),
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            computing_loading(
                                ClusterMap(
                                    id=MAP,
                                    selected=state["selected"],
                                    points=first.get("points"),
                                    colorbar=first.get("colorbar"),
                                ),
                                computing,
                            ),
                            html.P(
                                "Each point is a cluster, placed by a 3D UMAP of what it fires "
                                "on, where its members sit in the model and where in the window "
                                "it fires (the axes have no units). Drag to turn, scroll to fly "
                                "in and out, double-click to reset, click a point to select its "
                                "cluster.",
                                className="small text-muted mb-0",
                                id="map-caption",
                            ),
                            html.Div(first.get("summary"), id=SUMMARY, className="mt-2"),
                        ],
                        lg=7,
                    ),
                    dbc.Col(
                        [
                            dbc.InputGroup(
                                [
                                    dbc.InputGroupText("Distribution of"),
                                    dbc.Select(
                                        id=DIST_MEASURE,
                                        options=measure_options(),
                                        value=state["dist"],
                                    ),
                                ],
                                size="sm",
                            ),
                            computing_loading(
                                Chart(id=DISTRIBUTION, chart=first.get("chart")), computing
                            ),
                            html.Small(
                                "Drag across bars to filter the table to that range.",
                                className="text-muted",
                            ),
                            *mdl_section(study, state["iteration"]),
                        ],
                        lg=5,
                    ),
                ]
            ),
            html.H5("All clusters", className="mt-3"),
            html.Small(
                "Click a header to sort. Filters: numbers as >2.5, <=3, 0.1..0.5 (& = and, "
                "comma = or); modules as *mlp*,*attn* (or), *mlp*&*.1.* (and), !*q_proj* "
                "(exclude); text as a part of it.",
                className="text-muted d-block mb-1",
            ),
            table if stored else computing_loading(table, computing),
        ]
    )
