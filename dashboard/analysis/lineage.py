"""A cluster's lineage in the merge tree: the merges that built it, what it merges into later,
and how alike the two clusters were that formed it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dashboard.analysis.activity import cluster_activation
from dashboard.study.merge_tree import MergeTree
from dashboard.study.reader import ColumnStore

SUBTREE_NODES = 63  # merges drawn at most; the rest of the subtree is folded into its nodes
TOP_TOKENS = 10


@dataclass(frozen=True)
class LineageNode:
    cluster: int
    parent: int  # index into the node list, -1 for the root
    formed: int  # the iteration it first exists at
    cost: float | None  # of the merge that formed it (None for an initial group)
    size: int
    folded: bool  # drawn as one node: the merges under it are not drawn
    x: float  # in [0, 1]: leaves in tree order, a merge midway between its two parts


def subtree(tree: MergeTree, cluster: int, most: int = SUBTREE_NODES) -> list[LineageNode]:
    """The merges under `cluster`, the latest first, at most `most` of them: a merge left out
    is drawn as a folded node of its size."""
    opened = {cluster} if cluster >= tree.n_groups else set()
    frontier = [int(c) for c in tree.children[cluster - tree.n_groups]] if opened else []
    while frontier and len(opened) < most:
        latest = max(frontier)  # a later merge has a higher id
        frontier.remove(latest)
        if latest >= tree.n_groups:
            opened.add(latest)
            frontier.extend(int(c) for c in tree.children[latest - tree.n_groups])
    order: list[int] = []
    parents: list[int] = []
    pending = [(cluster, -1)]
    while pending:  # depth first, the survivor's side first: leaves come in tree order
        node, parent = pending.pop()
        parents.append(parent)
        order.append(node)
        if node in opened:
            one, other = (int(c) for c in tree.children[node - tree.n_groups])
            pending.extend([(other, len(order) - 1), (one, len(order) - 1)])
    leaves = [i for i, node in enumerate(order) if node not in opened]
    x = np.zeros(len(order))
    x[leaves] = (np.arange(len(leaves)) + 0.5) / max(len(leaves), 1)
    for i in reversed(range(len(order))):  # children come after their parent
        if order[i] in opened:
            x[i] = np.mean([x[j] for j in range(len(order)) if parents[j] == i])
    return [
        LineageNode(
            cluster=node,
            parent=parents[i],
            formed=tree.formed(node),
            cost=None if node < tree.n_groups else float(tree.cost[node - tree.n_groups]),
            size=int(tree.size[node]),
            folded=node >= tree.n_groups and node not in opened,
            x=float(x[i]),
        )
        for i, node in enumerate(order)
    ]


@dataclass(frozen=True)
class LaterMerge:
    iteration: int  # the iteration at which the merge has happened
    partner: int  # the cluster joined with what holds this one
    partner_size: int
    becomes: int  # the cluster the merge forms
    size: int
    cost: float


def later_merges(tree: MergeTree, cluster: int) -> list[LaterMerge]:
    """What `cluster` merges into, merge by merge, up to the end of the history."""
    found = []
    holder = cluster
    for merge in tree.later_merges(cluster):
        partner = tree.partner(merge, holder)
        holder = tree.n_groups + merge
        found.append(
            LaterMerge(
                iteration=merge + 1,
                partner=partner,
                partner_size=int(tree.size[partner]),
                becomes=holder,
                size=int(tree.size[holder]),
                cost=float(tree.cost[merge]),
            )
        )
    return found


@dataclass(frozen=True)
class GroupProfile:
    cluster: int
    size: int
    cohesion: float  # mean share of members active where the group fires (as in measures.py)
    firing: int  # tokens where it fires
    top_tokens: list[int]  # token ids by activation mass, strongest first


def group_profile(
    cluster: int,
    members: np.ndarray,
    store: ColumnStore,
    flat_tokens: np.ndarray,
) -> GroupProfile:
    """Size, cohesion and top tokens of any group of members, read from the sparse store."""
    activation = cluster_activation(store, members)
    positions, values = activation.positions, activation.values
    entries = int(sum(int(store.indptr[m + 1]) - int(store.indptr[m]) for m in members))
    firing = len(positions)
    cohesion = entries / (firing * len(members)) if firing and len(members) else 0.0
    tokens = np.asarray(flat_tokens[positions], dtype=np.int64)
    mass = np.bincount(tokens, weights=values.astype(np.float64)) if firing else np.zeros(0)
    strongest = np.argsort(-mass, kind="stable")[:TOP_TOKENS]
    return GroupProfile(
        cluster=cluster,
        size=len(members),
        cohesion=float(cohesion),
        firing=firing,
        top_tokens=[int(t) for t in strongest if mass[t] > 0],
    )


def token_overlap(one: GroupProfile, other: GroupProfile) -> float:
    """Jaccard overlap of two groups' top tokens: 1 = the same tokens, 0 = none shared."""
    a, b = set(one.top_tokens), set(other.top_tokens)
    return len(a & b) / len(a | b) if a | b else 0.0


def members_of_cluster(tree: MergeTree, cluster: int, initial_groups: np.ndarray) -> np.ndarray:
    """The subcomponents of `cluster` (at any iteration where it exists)."""
    return np.flatnonzero(np.isin(initial_groups, tree.groups_under(cluster)))


def leaf_label(tree: MergeTree, cluster: int, initial_groups: np.ndarray, labels) -> str:
    """A leaf of a drawn subtree: its member's label, or how many members it has."""
    if cluster < tree.n_groups and tree.size[cluster] == 1:
        return str(labels[int(np.flatnonzero(initial_groups == cluster)[0])])
    return f"{int(tree.size[cluster])} members"


def formation(
    tree: MergeTree,
    cluster: int,
    initial_groups: np.ndarray,
    store: ColumnStore,
    flat_tokens: np.ndarray,
) -> tuple[GroupProfile, GroupProfile] | None:
    """The two clusters that `cluster` was formed from, profiled (None for an initial group)."""
    merge = tree.merge_of(cluster)
    if merge is None:
        return None
    one, other = (
        group_profile(
            int(part), members_of_cluster(tree, int(part), initial_groups), store, flat_tokens
        )
        for part in tree.children[merge]
    )
    return one, other
