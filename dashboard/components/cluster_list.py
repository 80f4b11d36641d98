"""The list of clusters as `/clusters` shows it: the table's columns and rows (each cluster's
measures with its newest explanation and scores), its blocks under a sort and filters, the
map's points, a measure's distribution and the selected cluster's card."""

from __future__ import annotations

import dash_bootstrap_components as dbc
import numpy as np
import pandas as pd
from dash import dcc, html

from dashboard.analysis.cluster_table import query_table
from dashboard.analysis.measures import MEASURE_LABELS
from dashboard.components import charts
from dashboard.components.map_points import map_colorbar, map_points
from dashboard.stores import explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.explanations import MEASURES
from dashboard.study import Study
from dashboard.study_view import StudyView
from dashboard.urls import Links

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
    view = StudyView.of(state)
    table, study = view.list_table(), view.study
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
    coordinates = StudyView(study, state["iteration"]).map()
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
