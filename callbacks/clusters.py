"""Callbacks of `/clusters`: table rows, map, distribution, selection and the URL."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import Input, Output, State, callback, clientside_callback, dcc, html, no_update

from dashboard.analysis.cluster_table import FilterError, filter_text, query_table
from dashboard.components import charts
from dashboard.components.map_points import map_colorbar, map_points
from dashboard.page_data import link_query, list_table, loaded_study, map_at
from dashboard.pages import clusters as page
from dashboard.stores import explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.explanations import MEASURES

HISTOGRAM_BINS = 40
SCORE_COLUMNS = [name for name in page.MEASURE_LABELS if name.startswith(MEASURES)]


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


def iteration_suffix(state: dict) -> str:
    """What keeps a link in this view's study and iteration."""
    return link_query(loaded_study(state["version"]), state)


def row_records(rows: pd.DataFrame, suffix: str) -> list[dict]:
    records = rows.astype(object).where(rows.notna(), None).to_dict("records")
    for record in records:
        record["link"] = f"[{record['cluster']}](/cluster/{record['cluster']}{suffix})"
    return records


@callback(
    Output(page.GRID, "getRowsResponse"),
    Output(page.MESSAGE, "children", allow_duplicate=True),
    Output(page.MESSAGE, "is_open", allow_duplicate=True),
    Input(page.GRID, "getRowsRequest"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def rows(request: dict | None, state: dict):
    if not request:
        return no_update, no_update, no_update
    try:
        result = query_table(table_now(state), request.get("filterModel"), request.get("sortModel"))
    except FilterError as error:
        return {"rowData": [], "rowCount": 0}, f"Filter not applied: {error}", True
    page_rows = result.iloc[request.get("startRow", 0) : request.get("endRow", 100)]
    response = {"rowData": row_records(page_rows, iteration_suffix(state)), "rowCount": len(result)}
    return response, no_update, no_update


def view_search(state: dict, request: dict | None, color: str, dist: str, selected) -> str:
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
    if request is None:
        sort, filters = state["sort"], state["filters"]
    else:
        models = request.get("sortModel") or []
        sort = (
            ("-" if models[0].get("sort") == "desc" else "") + models[0]["colId"] if models else ""
        )
        filters = {
            column: filter_text(model)
            for column, model in (request.get("filterModel") or {}).items()
            if filter_text(model)
        }
    if sort != page.DEFAULT_SORT:
        params["sort"] = sort
    component = state.get("component")
    for column, expression in sorted(filters.items()):
        if column == "cluster" and component and state["filters"].get("cluster") == expression:
            params["component"] = component
        else:
            params[page.FILTER_PREFIX + column] = expression
    return f"?{urlencode(params)}" if params else ""


@callback(
    Output(page.URL_SYNC, "search"),
    Input(page.GRID, "getRowsRequest"),
    Input(page.COLOR, "value"),
    Input(page.DIST_MEASURE, "value"),
    Input(page.SELECTED, "data"),
    State(page.STATE, "data"),
    State(page.URL_SYNC, "search"),
    prevent_initial_call=True,
)
def sync_url(request, color, dist, selected, state, search):
    """Write the view into the address bar (no page reload), only when it changed."""
    wanted = view_search(state, request, color, dist, selected)
    return no_update if wanted == (search or "") else wanted


@callback(
    Output(page.GRID, "filterModel", allow_duplicate=True),
    Input(page.URL_SYNC, "search"),
    State(page.GRID, "filterModel"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def filters_from_url(search: str | None, current: dict | None, state: dict):
    """Back and Forward change the address: give the grid the filters the URL names."""
    study = loaded_study(state["version"])
    query = {key: value for key, value in parse_qsl((search or "").lstrip("?"))}
    wanted = page.query_state(study, query)["filters"]
    now = {column: filter_text(model) for column, model in (current or {}).items()}
    if {k: v for k, v in now.items() if v} == wanted:
        return no_update
    return page.filter_model(wanted)


@callback(
    Output("url", "href"),
    Input(page.ITERATION_APPLY, "n_clicks"),
    State(page.ITERATION, "value"),
    State(page.URL_SYNC, "search"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def show_iteration(clicks, iteration, search, state: dict):
    """Another iteration is another list: reload the page with it (selection dropped)."""
    study = loaded_study(state["version"])
    if not clicks or iteration is None or not 0 <= int(iteration) <= study.n_merges:
        return no_update
    params = {
        key: value
        for key, value in parse_qsl((search or "").lstrip("?"))
        if key not in ("iteration", "cluster")
    }
    if int(iteration) != study.default_iteration:
        params["iteration"] = str(int(iteration))
    return f"/clusters?{urlencode(params)}" if params else "/clusters"


@callback(
    Output(page.MAP, "points"),
    Output(page.MAP, "colorbar"),
    Input(page.COLOR, "value"),
    State(page.STATE, "data"),
)
def draw_map(color: str, state: dict):
    """The map's points, coloured by `color`. The selection is the map's own prop (set from
    the selection store in the browser), so it never waits for, nor races, the points."""
    study = loaded_study(state["version"])
    coordinates = map_at(study, state["iteration"])
    table = table_now(state).set_index("cluster").loc[coordinates["cluster"]].reset_index()
    label = page.MEASURE_LABELS.get(color, color)
    return map_points(coordinates, table, color), map_colorbar(table, color, label)


clientside_callback(
    "(selected) => selected",
    Output(page.MAP, "selected"),
    Input(page.SELECTED, "data"),
    prevent_initial_call=True,
)


def clicked_cluster(click: dict | None, clusters: pd.Series) -> int | None:
    """The cluster a map click names, if it is one of this map's; None for anything else."""
    cluster = (click or {}).get("cluster") if isinstance(click, dict) else None
    if not isinstance(cluster, int) or isinstance(cluster, bool):
        return None
    return cluster if cluster in set(clusters.tolist()) else None


@callback(
    Output(page.SELECTED, "data"),
    Input(page.MAP, "clicked"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def select_clicked(click: dict | None, state: dict):
    """A click picks a cluster (opening it is a separate step: its card's "Open" link)."""
    coordinates = map_at(loaded_study(state["version"]), state["iteration"])
    cluster = clicked_cluster(click, coordinates["cluster"])
    return no_update if cluster is None else cluster


@callback(Output(page.SUMMARY, "children"), Input(page.SELECTED, "data"), State(page.STATE, "data"))
def summarize_selection(selected, state: dict):
    """The selected cluster's card with its "Open" link, however the selection arrived."""
    if selected is None:
        return html.Small("Click a point to select a cluster.", className="text-muted")
    table = table_now(state).set_index("cluster")
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
                    href=f"/cluster/{selected}{iteration_suffix(state)}",
                    className="btn btn-primary btn-sm",
                    id="open-cluster",
                ),
            ]
        )
    )


@callback(
    Output(page.DISTRIBUTION, "chart"),
    Input(page.DIST_MEASURE, "value"),
    State(page.STATE, "data"),
)
def draw_distribution(measure: str, state: dict):
    values = table_now(state)[measure].to_numpy(np.float64)
    label = page.MEASURE_LABELS.get(measure, measure)
    return charts.distribution(values, HISTOGRAM_BINS, label)


@callback(
    Output(page.GRID, "filterModel"),
    Input(page.DISTRIBUTION, "selected"),
    State(page.DIST_MEASURE, "value"),
    State(page.GRID, "filterModel"),
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
    model = dict(current or {})
    model[measure] = {"filterType": "text", "type": "contains", "filter": f"{low:.4g}..{high:.4g}"}
    return model
