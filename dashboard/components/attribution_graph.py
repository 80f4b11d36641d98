"""The cluster attribution graph as a figure, and its ablation check, from an `AttributionGraph`
(no torch): positions left to right, depth bottom to top, node size by |attribution|."""

from __future__ import annotations

import math

from dash import html

from dashboard.components.figures import Figure, styled
from dashboard.components.tables import small_table
from dashboard.inference.results import AttributionGraph, GraphEdge

POSITIVE, NEGATIVE = "#1f77b4", "#d62728"
EDGE_WIDTHS = (1.0, 2.0, 3.5, 5.0)  # edges drawn in width bins, one trace per bin and sign


def node_coordinates(graph: AttributionGraph) -> tuple[list[float], list[float]]:
    """x: the position, spread a little between nodes at the same one; y: the depth. The output
    node (last) sits above the deepest node at the output's position."""
    xs, ys = [], []
    by_position: dict[int, list[int]] = {}
    for index, node in enumerate(graph.nodes):
        by_position.setdefault(node.position, []).append(index)
    offset = {}
    for indices in by_position.values():
        for rank, index in enumerate(sorted(indices, key=lambda i: graph.nodes[i].depth)):
            offset[index] = 0.0 if len(indices) == 1 else 0.5 * (rank / (len(indices) - 1) - 0.5)
    for index, node in enumerate(graph.nodes):
        xs.append(node.position + offset[index])
        ys.append(node.depth)
    xs.append(float(graph.output_position))
    ys.append(max(ys, default=0.0) + 1.0)
    return xs, ys


def node_label(graph: AttributionGraph, index: int) -> str:
    if index < 0:
        return f"output {graph.output_token!r}"
    node = graph.nodes[index]
    return f"cluster {node.cluster} at {node.position} ({graph.tokens[node.position]!r})"


def edge_traces(graph: AttributionGraph, xs: list[float], ys: list[float]) -> list[dict]:
    """Lines in a few width bins per sign, and an invisible marker at each edge's middle whose
    hover gives the edge's value."""
    largest = max((abs(edge.weight) for edge in graph.edges), default=0.0) or 1.0
    binned: dict[tuple[int, bool], list[GraphEdge]] = {}
    for edge in graph.edges:
        width = min(int(len(EDGE_WIDTHS) * abs(edge.weight) / largest), len(EDGE_WIDTHS) - 1)
        binned.setdefault((width, edge.weight >= 0), []).append(edge)
    traces = []
    for (width, positive), edges in sorted(binned.items()):
        line_x: list[float | None] = []
        line_y: list[float | None] = []
        for edge in edges:
            line_x += [xs[edge.source], xs[edge.target], None]
            line_y += [ys[edge.source], ys[edge.target], None]
        traces.append(
            {
                "type": "scatter",
                "mode": "lines",
                "x": line_x,
                "y": line_y,
                "line": {"width": EDGE_WIDTHS[width], "color": POSITIVE if positive else NEGATIVE},
                "opacity": 0.45,
                "hoverinfo": "skip",
                "showlegend": False,
            }
        )
    traces.append(
        {
            "type": "scatter",
            "mode": "markers",
            "x": [(xs[e.source] + xs[e.target]) / 2 for e in graph.edges],
            "y": [(ys[e.source] + ys[e.target]) / 2 for e in graph.edges],
            "marker": {"size": 8, "opacity": 0},
            "text": [
                f"{node_label(graph, e.source)} → {node_label(graph, e.target)}: {e.weight:+.4g}"
                for e in graph.edges
            ],
            "hovertemplate": "%{text}<extra>edge</extra>",
            "showlegend": False,
            "name": "edges",
        }
    )
    return traces


def graph_figure(graph: AttributionGraph) -> Figure:
    xs, ys = node_coordinates(graph)
    largest = max((abs(node.attribution) for node in graph.nodes), default=0.0) or 1.0
    nodes = graph.nodes
    node_trace = {
        "type": "scatter",
        "mode": "markers",
        "x": xs[:-1],
        "y": ys[:-1],
        "customdata": [[node.cluster, node.position] for node in nodes],
        "marker": {
            "size": [8 + 30 * math.sqrt(abs(node.attribution) / largest) for node in nodes],
            "color": [POSITIVE if node.attribution >= 0 else NEGATIVE for node in nodes],
            "line": {"width": 1, "color": "white"},
        },
        "text": [
            f"{node_label(graph, i)}<br>CI {node.ci:.2f}, depth {node.depth:.2f}<br>"
            f"attribution {node.attribution:+.4g}"
            + ("" if node.ablation is None else f"<br>ablation {node.ablation:+.4g}")
            for i, node in enumerate(nodes)
        ],
        "hovertemplate": "%{text}<extra>click: its page</extra>",
        "showlegend": False,
        "name": "nodes",
    }
    output_trace = {
        "type": "scatter",
        "mode": "markers+text",
        "x": xs[-1:],
        "y": ys[-1:],
        "marker": {"size": 18, "symbol": "diamond", "color": "#444"},
        "text": [f"logit {graph.output_token!r}"],
        "textposition": "top center",
        "hovertemplate": f"output: logit of {graph.output_token!r} at position "
        f"{graph.output_position} = {graph.output_logit:.3f}<extra></extra>",
        "showlegend": False,
    }
    positions = sorted({node.position for node in nodes} | {graph.output_position})
    figure = styled(
        [*edge_traces(graph, xs, ys), node_trace, output_trace],
        f"What drove the logit of {graph.output_token!r} at position {graph.output_position}",
        "position (token)",
        "depth (layer; MLP half a layer above attention)",
        height=520,
        hovermode="closest",
    )
    figure["layout"]["xaxis"].update(
        tickmode="array",
        tickvals=positions,
        ticktext=[f"{p}: {graph.tokens[p]!r}" for p in positions],
    )
    return figure


def faithfulness(graph: AttributionGraph) -> html.Div:
    """The ablation check: attribution against the measured effect of switching each of the
    top active nodes off, and their rank correlation."""
    checks = graph.checks
    rho = (
        "n/a (fewer than 3 nodes, or one side constant)"
        if graph.spearman is None
        else f"{graph.spearman:.2f}"
    )
    drawn = {(node.position, node.cluster) for node in graph.nodes}
    rows = [
        [
            f"cluster {c.cluster} at {c.position} ({graph.tokens[c.position]!r})",
            "drawn" if (c.position, c.cluster) in drawn else "pruned",
            f"{c.attribution:+.4g}",
            f"{c.ablation:+.4g}",
        ]
        for c in checks
    ]
    summary = (
        "Spearman rho between attribution and the measured change in the logit when the node is "
        "switched off (its members' masks at 0 at its position), over the top "
        f"{len(checks)} active nodes by |attribution|: {rho}."
    )
    if checks:
        attributions = sum(c.attribution for c in checks)
        effects = sum(c.ablation for c in checks)
        summary += f" Sum of attributions {attributions:+.3g}; of effects {effects:+.3g}."
    return html.Div(
        [
            html.H4("Checked against ablations", className="mt-3"),
            html.P(summary, id="graph-faithfulness"),
            small_table(
                ["node", "in the graph", "attribution", "measured effect"], rows, "graph-checks"
            ),
        ]
    )
