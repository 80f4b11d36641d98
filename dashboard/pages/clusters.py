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
from dash import dcc, html

from dashboard.analysis.cluster_table import FilterError
from dashboard.analysis.measures import MEASURE_LABELS
from dashboard.components.atlas_components import Chart, ClusterMap, ServerTable
from dashboard.components.cluster_list import (
    BLOCK_ROWS,
    distribution_chart,
    map_props,
    selection_summary,
    table_block,
    table_columns,
    table_now,
)
from dashboard.components.computing import computing_loading, computing_message
from dashboard.components.merge_history import mdl_chart
from dashboard.components.quality import quality_details
from dashboard.components.study_page import StudyPage, open_study_page
from dashboard.study import Study
from dashboard.study.quality import decomposition_quality
from dashboard.study.summary import cluster_assignments, study_counts
from dashboard.study_view import StudyView, links_of, loaded_study
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


def view_links(state: dict) -> Links:
    """The links of this view: they keep its study and iteration."""
    return links_of(loaded_study(state["version"]), state)


def table_query(sort: str, filters: dict[str, str]) -> dict:
    """The table's `query` prop for a URL's sort (`none`: unsorted) and filters."""
    return {"sort": "" if sort == NO_SORT else sort, "filters": filters}


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
    stored = StudyView(study, state["iteration"]).is_stored
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
