"""Cluster membership at any iteration of a merge history."""

from __future__ import annotations

import numpy as np
import pandas as pd


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
    """
    if len(members) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    positions = np.concatenate([token_index[indptr[m] : indptr[m + 1]] for m in members])
    values = np.concatenate([ci[indptr[m] : indptr[m + 1]] for m in members]).astype(np.float32)
    order = np.lexsort((-values, positions))  # by position, strongest member first
    positions, values = positions[order], values[order]
    first = np.concatenate([[True], positions[1:] != positions[:-1]]) if len(positions) else []
    return positions[first].astype(np.int64), values[first]
