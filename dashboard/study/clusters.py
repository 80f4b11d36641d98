"""Cluster membership at any iteration of a merge history."""

from __future__ import annotations

import numpy as np
import pandas as pd

# a cluster's entries are folded into a dense vector over the token span once they number more
# than 1/DENSE_FOLD_RATIO of it (a float32 per token; below that, sorting them is cheaper)
DENSE_FOLD_RATIO = 16


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


def cluster_activations(
    indptr: np.ndarray, token_index: np.ndarray, ci: np.ndarray, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A cluster's activation per token, the max CI of its members: (positions, values).

    Read from the sparse store on demand, for any iteration's membership; positions ascend.
    Many entries (a large or always-on cluster: tens of millions) are folded into one dense
    vector over the token span, in linear time; few are sorted.
    """
    columns = [(int(indptr[m]), int(indptr[m + 1])) for m in members]
    columns = [(start, stop) for start, stop in columns if stop > start]
    if not columns:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    entries = sum(stop - start for start, stop in columns)
    span = max(int(token_index[stop - 1]) for _, stop in columns) + 1  # each column ascends
    if entries * DENSE_FOLD_RATIO < span:
        return sorted_maxima(
            np.concatenate([token_index[start:stop] for start, stop in columns]),
            np.concatenate([ci[start:stop] for start, stop in columns]).astype(np.float32),
        )
    strongest = np.full(span, -1.0, dtype=np.float32)  # CI is never negative: -1 = not firing
    for start, stop in columns:
        positions = np.asarray(token_index[start:stop])
        strongest[positions] = np.maximum(strongest[positions], ci[start:stop])
    firing = np.flatnonzero(strongest >= 0)
    return firing.astype(np.int64), strongest[firing]


def sorted_maxima(positions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The largest value at each distinct position, positions ascending."""
    order = np.lexsort((-values, positions))  # by position, strongest first
    positions, values = positions[order], values[order]
    first = np.concatenate([[True], positions[1:] != positions[:-1]])
    return positions[first].astype(np.int64), values[first]
