"""Grouped statistics over flat arrays: entropy, Gini, per-group top-n and maxima."""

from __future__ import annotations

import numpy as np


def entropy_rows(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of a non-negative `[rows, bins]` array (0 for empty rows)."""
    totals = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, totals, out=np.zeros_like(weights, dtype=np.float64), where=totals > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return terms.sum(axis=1)


def grouped_entropy(group: np.ndarray, weights: np.ndarray, n_groups: int) -> np.ndarray:
    """Entropy in nats of the distribution `weights` within each group (entries sorted or not)."""
    totals = np.bincount(group, weights=weights, minlength=n_groups)
    p = weights / np.maximum(totals[group], 1e-300)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, -p * np.log(p), 0.0)
    return np.bincount(group, weights=terms, minlength=n_groups)


def gini(values: np.ndarray) -> float:
    """Gini coefficient of non-negative values: 0 when all equal, towards 1 when one dominates."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    n, total = len(values), values.sum()
    if n < 2 or total <= 0:
        return 0.0
    ranks = np.arange(1, n + 1)
    return float((2 * (ranks * values).sum()) / (n * total) - (n + 1) / n)


def group_starts(sorted_groups: np.ndarray) -> np.ndarray:
    """Indices where a new run begins in an array sorted by group."""
    if len(sorted_groups) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.concatenate([[True], sorted_groups[1:] != sorted_groups[:-1]]))


def rank_within_groups(sorted_groups: np.ndarray) -> np.ndarray:
    """0, 1, 2, ... within each run of an array sorted by group."""
    starts = group_starts(sorted_groups)
    lengths = np.diff(np.append(starts, len(sorted_groups)))
    return np.arange(len(sorted_groups)) - np.repeat(starts, lengths)


def top_per_group(group: np.ndarray, score: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` highest scores of every group, ordered by group then score (desc);
    ties keep index order."""
    score = np.asarray(score)
    if len(score) == 0:
        return np.zeros(0, dtype=np.int64)
    span = int(score.max()) - int(score.min()) + 1
    if np.issubdtype(score.dtype, np.integer) and (int(group.max(initial=0)) + 1) * span < 2**62:
        # one integer key sorts several times faster than a two-key lexsort
        key = group.astype(np.int64) * span + (int(score.max()) - score.astype(np.int64))
        order = np.argsort(key, kind="stable")
    else:
        order = np.lexsort((-score, group))
    keep = rank_within_groups(group[order]) < n
    return order[keep]
