"""Callbacks of `/clusters`: the table's blocks, the map, the distribution, the selection and the
URL. At a stored iteration the first screen comes with the layout (`pages/clusters.py`), so
these answer changes only; at any other, `page.FILL` turning true starts them."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode

from dash import Input, Output, State, callback, clientside_callback, no_update

from dashboard.analysis.cluster_table import FilterError
from dashboard.components import cluster_list
from dashboard.pages import clusters as page
from dashboard.study_view import StudyView, loaded_study

MAX_REQUEST_ROWS = 1000


def requested_rows(request: object) -> tuple[dict, int, int] | None:
    """The query and row range of a table's `request`, if it is one; None for anything else."""
    if not isinstance(request, dict) or not isinstance(request.get("query"), dict):
        return None
    query, start, end = request["query"], request.get("start"), request.get("end")
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (start, end)):
        return None
    sort, filters = query.get("sort", ""), query.get("filters") or {}
    if not isinstance(sort, str) or not isinstance(filters, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in filters.items()):
        return None
    if start < 0 or not start < end <= start + MAX_REQUEST_ROWS:
        return None
    return {"sort": sort, "filters": filters}, start, end


@callback(
    Output(page.GRID, "block"),
    Output(page.MESSAGE, "children", allow_duplicate=True),
    Output(page.MESSAGE, "is_open", allow_duplicate=True),
    Input(page.GRID, "request"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def table_rows(request: dict | None, state: dict):
    """The block of rows the table asks for; a filter it cannot apply is said above it."""
    asked = requested_rows(request)
    if asked is None:
        return no_update, no_update, no_update
    query, start, end = asked
    try:
        block = cluster_list.table_block(
            cluster_list.table_now(state), query, start, end, page.view_links(state)
        )
    except FilterError as error:
        empty = {"query": query, "start": start, "rows": [], "count": 0}
        return empty, f"Filter not applied: {error}", True
    return block, no_update, no_update


def view_search(state: dict, query: dict | None, color: str, dist: str, selected) -> str:
    """The query string of the current view: only values that differ from the defaults."""
    study = loaded_study(state["version"])
    params: dict[str, str] = {"study": state["study"]} if state.get("study") else {}
    if state["iteration"] != study.default_iteration:
        params["iteration"] = str(state["iteration"])
    if color != page.DEFAULT_COLOR:
        params["color"] = color
    if dist != page.DEFAULT_DIST:
        params["dist"] = dist
    if selected is not None:
        params["cluster"] = str(selected)
    if isinstance(query, dict):
        sort = query.get("sort") or page.NO_SORT
        filters = {k: str(v).strip() for k, v in (query.get("filters") or {}).items()}
    else:
        sort, filters = state["sort"], state["filters"]
    if sort != page.DEFAULT_SORT:
        params["sort"] = sort
    component = state.get("component")
    for column, expression in sorted(filters.items()):
        if not expression:
            continue
        if column == "cluster" and component and state["filters"].get("cluster") == expression:
            params["component"] = component
        else:
            params[page.FILTER_PREFIX + column] = expression
    return f"?{urlencode(params)}" if params else ""


@callback(
    Output(page.URL_SYNC, "search"),
    Input(page.GRID, "query"),
    Input(page.COLOR, "value"),
    Input(page.DIST_MEASURE, "value"),
    Input(page.MAP, "selected"),
    State(page.STATE, "data"),
    State(page.URL_SYNC, "search"),
    prevent_initial_call=True,
)
def sync_url(query, color, dist, selected, state, search):
    """Write the view into the address bar (no page reload), only when it changed."""
    wanted = view_search(state, query, color, dist, selected)
    return no_update if wanted == (search or "") else wanted


# Back and Forward change the address: the table is given the sort and filters it names (as
# `page.query_state` reads them; a `component` the page resolved keeps its cluster filter).
# In the browser, so that the address set on a page's first draw costs no request.
QUERY_FROM_URL = """(search, current, state) => {
    const [prefix, defaultSort, noSort] = CONSTANTS;
    const params = new URLSearchParams(search || "");
    const filters = {};
    for (const [name, value] of params) {
        if (name.startsWith(prefix) && value.trim()) {
            filters[name.slice(prefix.length)] = value.trim();
        }
    }
    const component = params.get("component");
    if (component && component === state.component && state.filters.cluster) {
        filters.cluster = state.filters.cluster;
    }
    const named = params.get("sort") || defaultSort;
    const sort = named === noSort ? "" : named;
    const now = current || {};
    const shown = {};
    for (const [name, value] of Object.entries(now.filters || {})) {
        if (String(value).trim()) shown[name] = String(value).trim();
    }
    const same = (now.sort || "") === sort &&
        JSON.stringify(Object.entries(shown).sort()) ===
        JSON.stringify(Object.entries(filters).sort());
    return same ? window.dash_clientside.no_update : {sort, filters};
}""".replace("CONSTANTS", json.dumps([page.FILTER_PREFIX, page.DEFAULT_SORT, page.NO_SORT]))

clientside_callback(
    QUERY_FROM_URL,
    Output(page.GRID, "query", allow_duplicate=True),
    Input(page.URL_SYNC, "search"),
    State(page.GRID, "query"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)


def iteration_address(iteration: object, search: str | None, state: dict) -> str | None:
    """The list at another iteration, keeping the view's other settings (the selection is
    dropped: it is a cluster of this iteration); None if `iteration` is not one of the study's."""
    study = loaded_study(state["version"])
    if isinstance(iteration, bool) or not isinstance(iteration, int | float | str):
        return None
    try:
        iteration = int(iteration)
    except ValueError:
        return None
    if not 0 <= iteration <= study.n_merges:
        return None
    params = {
        key: value
        for key, value in parse_qsl((search or "").lstrip("?"))
        if key not in ("iteration", "cluster")
    }
    if iteration != study.default_iteration:
        params["iteration"] = str(iteration)
    return f"/clusters?{urlencode(params)}" if params else "/clusters"


@callback(
    Output(page.ITERATION_GO, "href"),
    Input(page.ITERATION_APPLY, "n_clicks"),
    State(page.ITERATION, "value"),
    State(page.URL_SYNC, "search"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def show_iteration(clicks, iteration, search, state: dict):
    """Another iteration is another list: open the page at it."""
    address = iteration_address(iteration, search, state) if clicks else None
    return no_update if address is None else address


@callback(
    Output(page.ITERATION_GO, "href", allow_duplicate=True),
    Input(page.MDL, "picked"),
    State(page.URL_SYNC, "search"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def show_picked_iteration(picked: dict | None, search, state: dict):
    """A click on the MDL curve opens the list at that iteration."""
    x = picked.get("x") if isinstance(picked, dict) else None
    address = (
        None if isinstance(x, float) and not x.is_integer() else iteration_address(x, search, state)
    )
    return no_update if address is None else address


@callback(
    Output(page.MAP, "points"),
    Output(page.MAP, "colorbar"),
    Input(page.COLOR, "value"),
    Input(page.FILL, "data"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def draw_map(color: str, _fill: bool, state: dict):
    """The map's points, coloured by `color`. The selection is the map's own prop, so it never
    waits for, nor races, the points."""
    study = loaded_study(state["version"])
    return cluster_list.map_props(study, state, cluster_list.table_now(state), color)


def clicked_cluster(click: dict | None, clusters) -> int | None:
    """The cluster a map click names, if it is one of this map's; None for anything else."""
    cluster = (click or {}).get("cluster") if isinstance(click, dict) else None
    if not isinstance(cluster, int) or isinstance(cluster, bool):
        return None
    return cluster if cluster in set(clusters.tolist()) else None


@callback(
    Output(page.MAP, "selected"),
    Input(page.MAP, "clicked"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def select_clicked(click: dict | None, state: dict):
    """A click picks a cluster (opening it is a separate step: its card's "Open" link)."""
    coordinates = StudyView.of(state).map()
    cluster = clicked_cluster(click, coordinates["cluster"])
    return no_update if cluster is None else cluster


@callback(
    Output(page.SUMMARY, "children"),
    Input(page.MAP, "selected"),
    Input(page.FILL, "data"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def summarize_selection(selected, _fill: bool, state: dict):
    return cluster_list.selection_summary(
        cluster_list.table_now(state), selected, page.view_links(state)
    )


@callback(
    Output(page.DISTRIBUTION, "chart"),
    Input(page.DIST_MEASURE, "value"),
    Input(page.FILL, "data"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def draw_distribution(measure: str, _fill: bool, state: dict):
    return cluster_list.distribution_chart(cluster_list.table_now(state), measure)


@callback(
    Output(page.GRID, "query"),
    Input(page.DISTRIBUTION, "selected"),
    State(page.DIST_MEASURE, "value"),
    State(page.GRID, "query"),
    prevent_initial_call=True,
)
def filter_to_range(selected: dict | None, measure: str, current: dict | None):
    """A range dragged on the distribution becomes the table's filter on that measure."""
    bounds = (selected or {}).get("range") if isinstance(selected, dict) else None
    if not isinstance(bounds, list) or len(bounds) != 2:
        return no_update
    if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in bounds):
        return no_update
    low, high = sorted(bounds)
    current = current if isinstance(current, dict) else {}
    filters = dict(current.get("filters") or {}) | {measure: f"{low:.4g}..{high:.4g}"}
    return {"sort": current.get("sort") or "", "filters": filters}
