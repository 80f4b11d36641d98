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
