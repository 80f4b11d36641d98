"""Cluster membership at any iteration of a merge history."""

from __future__ import annotations

import numpy as np
import pandas as pd


def surviving_groups_at(
    initial_groups: np.ndarray, merges: pd.DataFrame, iteration: int
) -> np.ndarray:
    """The surviving initial group of every subcomponent's cluster after the first `iteration`
    merges (a merge folds group_b into group_a); -1 for dead ones."""
    if not 0 <= iteration <= len(merges):
        raise ValueError(f"iteration {iteration} is outside the merge history [0, {len(merges)}]")
    initial = np.asarray(initial_groups)
    n_groups = int(initial.max()) + 1 if initial.size else 0
    parent = np.arange(n_groups, dtype=np.int64)
    applied = merges.iloc[:iteration]
    parent[applied["group_b"].to_numpy()] = applied["group_a"].to_numpy()
    while True:  # pointer jumping: each pass halves every path to its root
        grandparent = parent[parent]
        if np.array_equal(grandparent, parent):
            break
        parent = grandparent
    return np.where(initial >= 0, parent[np.maximum(initial, 0)], -1)


def assignments_at(initial_groups: np.ndarray, merges: pd.DataFrame, iteration: int) -> np.ndarray:
    """Cluster id of every subcomponent after the first `iteration` merges; -1 for dead ones.

    Ids are stable (`dashboard/study/merge_tree.py`): an initial group `g` is cluster `g`, and
    the cluster that merge `k` forms is `n_groups + k`, so an id names the same members at every
    iteration where it exists. The cluster whose surviving group is `g` is the one formed by the
    last merge into `g` so far (or `g` itself).
    """
    roots = surviving_groups_at(initial_groups, merges, iteration)
    n_groups = int(np.max(initial_groups)) + 1 if np.size(initial_groups) else 0
    last_merge = np.full(n_groups, -1, dtype=np.int64)
    survivors = merges["group_a"].to_numpy()[:iteration]
    np.maximum.at(last_merge, survivors, np.arange(iteration, dtype=np.int64))
    cluster_of_group = np.where(last_merge >= 0, n_groups + last_merge, np.arange(n_groups))
    return np.where(roots >= 0, cluster_of_group[np.maximum(roots, 0)], -1).astype(np.int32)


def earlier_ids_at(
    initial_groups: np.ndarray, merges: pd.DataFrame, iteration: int
) -> dict[int, int]:
    """At `iteration`, the clusters whose id before stable ids (the id of their surviving group)
    differs from their id now: {earlier id: id now}."""
    earlier = surviving_groups_at(initial_groups, merges, iteration)
    now = assignments_at(initial_groups, merges, iteration)
    pairs = {(int(a), int(b)) for a, b in zip(earlier, now, strict=True) if a >= 0 and a != b}
    return dict(sorted(pairs))
