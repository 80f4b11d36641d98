"""Which subcomponents fire in a range of token positions: a binary search in every column of
the store at once (the store is sorted by position within each subcomponent)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def lower_bounds(indptr: np.ndarray, token_index: np.ndarray, target: int) -> np.ndarray:
    """Per subcomponent, the first entry whose position is >= `target` (its end if none)."""
    low = np.asarray(indptr[:-1], dtype=np.int64).copy()
    high = np.asarray(indptr[1:], dtype=np.int64).copy()
    last = max(len(token_index) - 1, 0)
    while True:
        searching = low < high
        if not searching.any():
            return low
        middle = (low + high) // 2
        below = searching & (np.asarray(token_index[np.minimum(middle, last)]) < target)
        low = np.where(below, middle + 1, low)
        high = np.where(searching & ~below, middle, high)


def entries_between(
    indptr: np.ndarray, token_index: np.ndarray, ci: np.ndarray, start: int, stop: int
) -> pd.DataFrame:
    """Every stored entry with position in [start, stop): subcomponent, position, ci."""
    first = lower_bounds(indptr, token_index, start)
    after = lower_bounds(indptr, token_index, stop)
    counts = after - first
    owners = np.repeat(np.arange(len(counts)), counts)
    offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    index = np.repeat(first, counts) + offsets
    return pd.DataFrame(
        {
            "subcomponent": owners.astype(np.int32),
            "position": np.asarray(token_index[index], dtype=np.int64),
            "ci": np.asarray(ci[index], dtype=np.float32),
        }
    )
