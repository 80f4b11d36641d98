"""SPD Atlas's own Dash components, drawn by React in the browser from their data (each by
`assets/atlas_components_<name>.js`, on what `assets/atlas_components.js` shares): one Dash
component each, where plotly.js or AG Grid would cost a page most of its time in the browser."""

from __future__ import annotations

from typing import ClassVar

from dash.development.base_component import Component


class AtlasComponent(Component):
    """What Dash reads of a component class, as in the classes it generates; subclasses name
    their `_type` and `_prop_names`, and take only the props they are given."""

    _namespace = "atlas_components"
    _children_props: ClassVar[list[str]] = []
    _base_nodes: ClassVar[list[str]] = []
    _valid_wildcard_attributes: ClassVar[list[str]] = []
    available_wildcard_properties: ClassVar[list[str]] = []

    def __init__(self, **props: object):
        super().__init__(**{name: value for name, value in props.items() if value is not None})


class Chart(AtlasComponent):
    """A bar, step, heatmap or curve chart of `chart` (`dashboard/components/charts.py`); a
    range dragged across the bars of a `charts.distribution` sets `selected` to
    `{"range": [low, high], "timestamp": ms}`, and a click on a `charts.curve` made with `pick`
    sets `picked` to `{"x": x, "timestamp": ms}`."""

    _type = "Chart"
    _prop_names: ClassVar[list[str]] = ["id", "chart", "selected", "picked"]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(self, chart: dict | None = None, id: str | None = None):
        super().__init__(chart=chart, id=id)


class TokenText(AtlasComponent):
    """One text window, its tokens shaded (`row`: tokens, values, start, window, focus,
    clusters; `colourBy`: activation or cluster). With `clickable`, a click on a token sets
    `clicked` to `{"value": {window, offset}}` (`token_text.clicked_token` reads it)."""

    _type = "TokenText"
    _prop_names: ClassVar[list[str]] = ["id", "row", "colourBy", "clickable", "clicked"]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(
        self,
        id: str,
        row: dict | None = None,
        colourBy: str = "activation",
        clickable: bool = False,
    ):
        super().__init__(id=id, row=row, colourBy=colourBy, clickable=clickable)


class TokenRows(AtlasComponent):
    """Windows one under the other (`rows`: `token_text.example_records`, each with an `href`
    to its sample and an optional `label`), shaded above `threshold`, in a list `height` tall
    that draws a few rows at a time as they are scrolled to; `clickable` as in TokenText."""

    _type = "TokenRows"
    _prop_names: ClassVar[list[str]] = ["id", "rows", "threshold", "clickable", "clicked", "height"]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(
        self,
        id: str,
        rows: list[dict] | None = None,
        threshold: float = 0.0,
        clickable: bool = False,
        height: str = "24rem",
    ):
        super().__init__(id=id, rows=rows, threshold=threshold, clickable=clickable, height=height)


class ClusterMap(AtlasComponent):
    """The clusters' 3D map on a canvas (`points` and `colorbar`: `map_points.map_points` and
    `map_colorbar`), `selected` (a cluster id) marked; a click on a point sets `clicked` to
    `{"cluster": id, "timestamp": ms}`."""

    _type = "ClusterMap"
    _prop_names: ClassVar[list[str]] = ["id", "points", "colorbar", "selected", "clicked", "height"]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(
        self,
        id: str,
        selected: int | None = None,
        points: dict | None = None,
        colorbar: dict | None = None,
        height: str = "30rem",
    ):
        super().__init__(id=id, selected=selected, points=points, colorbar=colorbar, height=height)


class ServerTable(AtlasComponent):
    """A big table whose rows the server sends a block at a time (`block`: `{query, start,
    rows, count}`), drawn only where in view. Sorting and filtering set `query` (`{sort:
    "-column" | "column" | "", filters: {column: text}}`); a block it lacks is asked for with
    `request` (`{query, start, end, timestamp}`). `columns`: `{field, header, width, numeric,
    sortable, filterable, link}` (a `link` column's cell links to its row's `href`)."""

    _type = "ServerTable"
    _prop_names: ClassVar[list[str]] = [
        "id",
        "columns",
        "pinned",
        "query",
        "block",
        "request",
        "blockSize",
        "height",
    ]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(
        self,
        id: str,
        columns: list[dict],
        query: dict,
        block: dict | None = None,
        pinned: int = 1,
        blockSize: int = 100,
        height: str = "34rem",
    ):
        super().__init__(
            id=id,
            columns=columns,
            query=query,
            block=block,
            pinned=pinned,
            blockSize=blockSize,
            height=height,
        )


class Lineage(AtlasComponent):
    """A cluster's merge subtree as a dendrogram (`nodes`: `components/lineage.py`), each node a
    link to that cluster at the iteration it was formed."""

    _type = "Lineage"
    _prop_names: ClassVar[list[str]] = ["id", "nodes", "title"]
    available_properties: ClassVar[list[str]] = _prop_names

    def __init__(self, id: str, nodes: list[dict], title: str):
        super().__init__(id=id, nodes=nodes, title=title)
