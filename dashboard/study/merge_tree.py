"""The merge history as a tree of stable cluster ids.

A cluster's id names one group of members wherever that group exists. An initial group `g` is
cluster `g`; merge `k` (the `k`-th row of `clustering/merges.parquet`, 0-based) forms cluster
`n_groups + k` from the two clusters it joins. Cluster `c` exists from the iteration that formed
it (`formed[c]`: 0 for initial groups, `k + 1` for merge `k`) until the iteration of the merge
that joins it to another (`ended[c]`, or the end of the history), so `/cluster/c?iteration=N`
means the same members at every N where it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

CLUSTER_IDS = "merge-tree"  # recorded with stored analyses that name clusters by these ids


@dataclass(frozen=True)
class MergeTree:
    n_groups: int
    children: (
        np.ndarray
    )  # [merges, 2]: the two clusters merge k joins (the surviving group's first)
    parent: np.ndarray  # [clusters]: the cluster each one is joined into, -1 for none (yet)
    cost: np.ndarray  # [merges]
    size: np.ndarray  # [clusters]: members (subcomponents) of each cluster

    @property
    def n_merges(self) -> int:
        return len(self.children)

    @property
    def n_clusters(self) -> int:
        return self.n_groups + self.n_merges

    def is_cluster(self, cluster: int) -> bool:
        return 0 <= cluster < self.n_clusters

    def formed(self, cluster: int) -> int:
        """The first iteration at which `cluster` exists."""
        return 0 if cluster < self.n_groups else cluster - self.n_groups + 1

    def ended(self, cluster: int) -> int | None:
        """The iteration at which `cluster` was joined into another (it exists before it), or
        None if it lasts to the end of the history."""
        parent = int(self.parent[cluster])
        return None if parent < 0 else self.formed(parent)

    def exists_at(self, cluster: int, iteration: int) -> bool:
        ended = self.ended(cluster)
        return self.formed(cluster) <= iteration and (ended is None or iteration < ended)

    def merge_of(self, cluster: int) -> int | None:
        """The row of the merge that formed `cluster` (None for an initial group)."""
        return None if cluster < self.n_groups else cluster - self.n_groups

    def holder_at(self, cluster: int, iteration: int) -> int | None:
        """The cluster that holds all of `cluster`'s members at `iteration`: itself or what it
        was joined into; None before it was formed (its members were then apart)."""
        if iteration < self.formed(cluster):
            return None
        while (ended := self.ended(cluster)) is not None and ended <= iteration:
            cluster = int(self.parent[cluster])
        return cluster

    def parts_at(self, cluster: int, iteration: int) -> list[int]:
        """The clusters that `cluster`'s members are in at `iteration` (one, itself or a
        larger one, once it is formed; its pieces before)."""
        holder = self.holder_at(cluster, iteration)
        if holder is not None:
            return [holder]
        parts, pending = [], [cluster]
        while pending:
            node = pending.pop()
            if self.formed(node) <= iteration:
                parts.append(node)
            else:
                pending.extend(int(child) for child in self.children[self.merge_of(node)])
        return sorted(parts)

    def later_merges(self, cluster: int) -> list[int]:
        """The merges (rows) that `cluster` goes through after it is formed, up to the end of
        the history: each joins what holds it with another cluster."""
        chain = []
        while (parent := int(self.parent[cluster])) >= 0:
            chain.append(parent - self.n_groups)
            cluster = parent
        return chain

    def partner(self, merge: int, cluster: int) -> int:
        """The other cluster that merge `merge` joins with `cluster`."""
        one, other = (int(c) for c in self.children[merge])
        return other if one == cluster else one

    def groups_under(self, cluster: int) -> np.ndarray:
        """The initial groups in `cluster`."""
        found, pending = [], [cluster]
        while pending:
            node = pending.pop()
            if node < self.n_groups:
                found.append(node)
            else:
                pending.extend(int(child) for child in self.children[node - self.n_groups])
        return np.asarray(sorted(found), dtype=np.int64)


def merge_tree(initial_groups: np.ndarray, merges: pd.DataFrame) -> MergeTree:
    """The tree of a merge history (`group_a` folds in `group_b`, the surviving group's id
    being `group_a`), in one pass over its merges; sizes count members (subcomponents)."""
    initial = np.asarray(initial_groups)
    group_sizes = np.bincount(initial[initial >= 0]) if (initial >= 0).any() else np.zeros(0)
    n_groups, n_merges = len(group_sizes), len(merges)
    current = list(range(n_groups))  # the cluster whose surviving group is g
    children = np.empty((n_merges, 2), dtype=np.int64)
    for k, (a, b) in enumerate(
        zip(merges["group_a"].tolist(), merges["group_b"].tolist(), strict=True)
    ):
        children[k] = current[a], current[b]
        current[a] = n_groups + k
    parent = np.full(n_groups + n_merges, -1, dtype=np.int64)
    formed_by = n_groups + np.arange(n_merges)
    parent[children[:, 0]] = formed_by
    parent[children[:, 1]] = formed_by
    size = np.zeros(n_groups + n_merges, dtype=np.int64)
    size[:n_groups] = group_sizes
    for k in range(n_merges):
        size[n_groups + k] = size[children[k, 0]] + size[children[k, 1]]
    cost = merges["cost"].to_numpy(np.float64) if "cost" in merges else np.zeros(n_merges)
    return MergeTree(n_groups, children, parent, cost, size)
