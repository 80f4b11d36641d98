"""A cluster page's lineage section: the merge subtree, the two clusters that formed it, and what
it merges into later (`dashboard/analysis/lineage.py` computes them)."""

from __future__ import annotations

from collections.abc import Callable

from dash import dcc, html

from dashboard.analysis.lineage import (
    GroupProfile,
    LaterMerge,
    LineageNode,
    formation,
    later_merges,
    leaf_label,
    subtree,
    token_overlap,
)
from dashboard.components.atlas_components import Lineage
from dashboard.components.tables import list_grid, markdown_link, small_table
from dashboard.study.summary import study_merge_tree, vocab_tokens
from dashboard.study_view import loaded_study, per_study
from dashboard.urls import Links

ClusterHref = Callable[[int, int], str]  # (cluster, iteration) -> the link to its page


def subtree_figure(
    cluster: int, nodes: list[LineageNode], labels: dict[int, str], href: ClusterHref
) -> Lineage:
    return Lineage(
        id="cluster-lineage-tree",
        title=f"Merges that built cluster {cluster} (a node opens that cluster where formed)",
        nodes=[
            {
                "cluster": node.cluster,
                "parent": node.parent,
                "formed": node.formed,
                "cost": node.cost,
                "size": node.size,
                "folded": node.folded,
                "x": node.x,
                "href": href(node.cluster, node.formed),
                "label": labels.get(node.cluster, ""),
            }
            for node in nodes
        ],
    )


def formation_table(
    parts: tuple[GroupProfile, GroupProfile],
    formed_at: int,
    cost: float,
    tokens: list[str],
    href: ClusterHref,
) -> html.Div:
    """The two clusters that formed this one, side by side, as they were just before."""
    one, other = parts

    def top(profile: GroupProfile) -> html.Code:
        return html.Code(" ".join(repr(tokens[t]) for t in profile.top_tokens[:5]))

    rows = [
        [
            "cluster",
            *(dcc.Link(str(p.cluster), href=href(p.cluster, formed_at - 1)) for p in parts),
        ],
        ["members"] + [str(p.size) for p in parts],
        ["cohesion"] + [f"{p.cohesion:.3f}" for p in parts],
        ["fires on tokens"] + [f"{p.firing:,}" for p in parts],
        ["top tokens"] + [top(p) for p in parts],
    ]
    overlap = token_overlap(one, other)
    return html.Div(
        [
            html.H6(f"Formed at iteration {formed_at} from", className="mt-3"),
            small_table(["", "one part", "the other"], rows, table_id="lineage-parts"),
            html.P(
                f"Merge cost {cost:.4g}. Top-token overlap {overlap:.2f}: the Jaccard overlap of "
                "their 10 strongest tokens by activation mass (1: the same tokens, 0: none "
                "shared). A merge of like with like joins parts of high cohesion whose tokens "
                "overlap.",
                className="small text-muted",
                id="lineage-overlap",
            ),
        ]
    )


def later_table(cluster: int, later: list[LaterMerge], href: ClusterHref) -> html.Div:
    """What the cluster merges into, merge by merge, to the end of the history."""
    if not later:
        return html.P(
            f"Cluster {cluster} lasts to the end of the merge history.",
            className="small text-muted",
            id="lineage-later",
        )
    rows = [
        {
            "iteration": merge.iteration,
            "partner": markdown_link(merge.partner, href(merge.partner, merge.iteration - 1)),
            "partner_size": merge.partner_size,
            "becomes": markdown_link(merge.becomes, href(merge.becomes, merge.iteration)),
            "size": merge.size,
            "cost": round(merge.cost, 6),
        }
        for merge in later
    ]
    columns = [
        {"field": "iteration", "headerName": "at iteration", "maxWidth": 120},
        {"field": "partner", "headerName": "joined with", "cellRenderer": "markdown"},
        {"field": "partner_size", "headerName": "its members", "maxWidth": 120},
        {"field": "becomes", "headerName": "becomes", "cellRenderer": "markdown"},
        {"field": "size", "headerName": "members", "maxWidth": 110},
        {"field": "cost", "headerName": "merge cost"},
    ]
    return html.Div(
        [
            html.H6(f"What cluster {cluster} merges into, to the end of the history"),
            list_grid("lineage-later", columns, rows, height=f"{min(len(rows), 8) * 28 + 34}px"),
        ],
        className="mt-3",
    )


@per_study(maxsize=64)
def lineage_children(version: str, name: str | None, cluster: int) -> list:
    """The lineage section of a cluster (the same at every iteration where it exists: its id
    names its members), read once per study version and cluster."""
    study = loaded_study(version)
    tree = study_merge_tree(study)
    initial_groups = study.initial_groups
    nodes = subtree(tree, cluster)
    leaves = {node.cluster for node in nodes} - {nodes[node.parent].cluster for node in nodes[1:]}
    member_labels = study.subcomponents["label"].to_numpy()
    labels = {leaf: leaf_label(tree, leaf, initial_groups, member_labels) for leaf in leaves}

    links = Links.of({"study": name}, study.default_iteration)

    def href(other: int, iteration: int) -> str:
        return links.at(iteration).cluster(other)

    children = [subtree_figure(cluster, nodes, labels, href)]
    parts = formation(
        tree,
        cluster,
        initial_groups,
        study.activations,
        study.flat_token_ids,
    )
    if parts is not None:
        merge = tree.merge_of(cluster)
        children.append(
            formation_table(
                parts, tree.formed(cluster), float(tree.cost[merge]), vocab_tokens(study), href
            )
        )
    children.append(later_table(cluster, later_merges(tree, cluster), href))
    return children
