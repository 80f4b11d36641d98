"""`/clusters`: the 3D map, the distributions of cluster measures and the table of all clusters.

The view lives in the query string (only non-default values): `study` (a study directory in
the data dir; default: ATLAS_STUDY), `iteration`, `color`, `dist`, `cluster` (the selected one),
`sort` (`-size`: descending; `none`), `f_<column>` (a column filter, in the language of
`dashboard.analysis.cluster_table`) and `component=<module>:<c>` (show the cluster holding that
subcomponent). `callbacks/clusters.py` fills figures and rows.
"""

from __future__ import annotations

import dash
import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.app_state import study_status
from dashboard.components.atlas_components import Chart, ClusterMap
from dashboard.components.computing import computing_loading, computing_message
from dashboard.components.notices import no_study_notice
from dashboard.components.quality import quality_details
from dashboard.page_data import is_stored, parse_iteration
from dashboard.study import Study
from dashboard.study.quality import decomposition_quality
from dashboard.study.summary import cluster_assignments, study_counts
from dashboard.urls import single

dash.register_page(__name__, path="/clusters", title="Clusters · SPD Atlas")

MAP = "clusters-map"
GRID = "clusters-grid"
DISTRIBUTION = "clusters-distribution"
DIST_MEASURE = "clusters-dist-measure"
COLOR = "clusters-color"
ITERATION = "clusters-iteration"
ITERATION_APPLY = "clusters-iteration-apply"
SELECTED = "clusters-selected"
SUMMARY = "clusters-summary"
STATE = "clusters-state"
URL_SYNC = "clusters-url"
MESSAGE = "clusters-message"

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
NUMBER_FORMAT = {"function": "params.value == null ? '' : d3.format('.3~g')(params.value)"}
TEXT_FILTER = {
    "filter": "agTextColumnFilter",
    "filterParams": {"filterOptions": ["contains"], "maxNumConditions": 1, "debounceMs": 400},
}


def column_defs() -> list[dict]:
    numeric = [
        {"field": name, "headerName": label, "valueFormatter": NUMBER_FORMAT, **TEXT_FILTER}
        for name, label in MEASURE_LABELS.items()
        if name not in ("size",)
    ]
    return [
        {
            "colId": "cluster",
            "field": "link",  # markdown `[id](/cluster/id)` made by the server
            "headerName": "cluster",
            "pinned": "left",
            "width": 110,
            "cellRenderer": "markdown",
            **TEXT_FILTER,
        },
        {"field": "size", "headerName": "members", "width": 110, **TEXT_FILTER},
        {"field": "layers", "headerName": "members by layer", "width": 100, "sortable": False},
        {"field": "top_tokens", "headerName": "top tokens", "width": 240, **TEXT_FILTER},
        {"field": "modules", "headerName": "modules", "width": 260, **TEXT_FILTER},
        {"field": "explanation", "headerName": "explanation", "width": 280, **TEXT_FILTER},
        {"field": "labels", "headerName": "labels", "width": 130, **TEXT_FILTER},
        {
            "field": "ci_histogram",
            "headerName": "activation histogram",
            "sortable": False,
            "width": 190,
        },
        *numeric,
    ]


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


def query_state(study: Study, query: dict) -> dict:
    """The view named by the URL, with defaults filled in; `message` explains what was off."""
    messages = []
    try:
        iteration = parse_iteration(study, query.get("iteration"))
    except ValueError as error:
        messages.append(str(error))
        iteration = study.default_iteration
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


def filter_model(filters: dict[str, str]) -> dict:
    """AG Grid's filter model for `{column: expression}`."""
    return {
        name: {"filterType": "text", "type": "contains", "filter": expression}
        for name, expression in filters.items()
    }


def grid(state: dict) -> dag.AgGrid:
    sort = state["sort"]
    column, direction = (sort[1:], "desc") if sort.startswith("-") else (sort, "asc")
    columns = column_defs()
    for definition in columns:
        if definition.get("colId", definition["field"]) == column:
            definition["sort"] = direction
    return dag.AgGrid(
        id=GRID,
        columnDefs=columns,
        rowModelType="infinite",
        filterModel=filter_model(state["filters"]),
        defaultColDef={"resizable": True, "sortable": True, "width": 130, "floatingFilter": True},
        dashGridOptions={
            "rowBuffer": 0,
            "cacheBlockSize": 100,
            "maxBlocksInCache": 20,
            "infiniteInitialRowCount": 100,
            "suppressCellFocus": True,
        },
        style={"height": "34rem"},
        className="ag-theme-alpine",
    )


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


def layout(**query: str | list[str]) -> html.Div:
    name = single(query.get("study"))
    status = study_status(name)
    if status.study is None:
        return html.Div([html.H2("Clusters"), no_study_notice(status.problem)])
    study = status.study
    state = query_state(study, query) | {"study": name, "version": study.version}
    computing = (
        None
        if is_stored(study, state["iteration"])
        else computing_message("the clusters' measures and map", state["iteration"])
    )
    return html.Div(
        [
            dcc.Location(id=URL_SYNC, refresh=False),
            dcc.Store(id=STATE, data={k: v for k, v in state.items() if k != "message"}),
            dcc.Store(id=SELECTED, data=state["selected"]),
            html.H2("Clusters"),
            study_line(study, state["iteration"]),
            quality_details(decomposition_quality(study), "decomposition-quality"),
            dbc.Alert(
                state["message"],
                id=MESSAGE,
                color="info",
                is_open=bool(state["message"]),
                className="py-2",
            ),
            controls(state, study),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            computing_loading(
                                ClusterMap(id=MAP, selected=state["selected"]),
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
                            html.Div(id=SUMMARY, className="mt-2"),
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
                            computing_loading(Chart(id=DISTRIBUTION), computing),
                            html.Small(
                                "Drag across bars to filter the table to that range.",
                                className="text-muted",
                            ),
                        ],
                        lg=5,
                    ),
                ]
            ),
            html.H5("All clusters", className="mt-3"),
            html.Small(
                "Filters: numbers as >2.5, <=3, 0.1..0.5 (& = and, comma = or); modules as "
                "*mlp*,*attn* (or), *mlp*&*.1.* (and), !*q_proj* (exclude).",
                className="text-muted d-block mb-1",
            ),
            grid(state),
        ]
    )
