"""Cluster membership at any iteration of a merge history."""

from __future__ import annotations

import numpy as np
import pandas as pd

# a cluster's entries are folded into a dense vector over the token span once they number more
# than 1/DENSE_FOLD_RATIO of it (a float32 per token; below that, sorting them is cheaper)
DENSE_FOLD_RATIO = 16


def assignments_at(initial_groups: np.ndarray, merges: pd.DataFrame, iteration: int) -> np.ndarray:
    """Cluster id of every subcomponent after the first `iteration` merges; -1 for dead ones.

    A merge folds group_b into group_a, so a cluster is named by the id of its surviving group
    and keeps that id at every later iteration until it is itself folded into another.
    """
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
    return np.where(initial >= 0, parent[np.maximum(initial, 0)], -1).astype(np.int32)


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
