"""A cluster's activation on a token: the max CI of its members there.

This module is the one place that rule is computed:
- for many clusters at once, as one sparse list: from the study's column store
  (`cluster_activity`), or from any list of entries, as a probe's or one window's
  (`entries_activity`);
- for one cluster on every token (`cluster_activation`), folding a large cluster densely;
- for one cluster on a few windows only (`activation_in_windows`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis.statistics import group_starts
from dashboard.study.reader import ColumnStore

# a cluster's entries are folded into a dense vector over the token span once they number more
# than 1/DENSE_FOLD_RATIO of it (a float32 per token; below that, sorting them is cheaper)
DENSE_FOLD_RATIO = 16


@dataclass(frozen=True)
class ClusterActivity:
    clusters: np.ndarray  # [k] cluster ids, ascending
    row: np.ndarray  # [nnz] index into `clusters`, ascending
    position: np.ndarray  # [nnz] flat token positions, ascending within each row
    value: np.ndarray  # [nnz] float32 activation: the largest CI among the cluster's members
    member_entries: np.ndarray  # [k] stored member entries per cluster (before taking the max)

    @property
    def n_clusters(self) -> int:
        return len(self.clusters)

    def firing_counts(self) -> np.ndarray:
        return np.bincount(self.row, minlength=self.n_clusters)

    def table(self, position: str = "position") -> pd.DataFrame:
        """One row per cluster and position where it fires: `position`, `cluster`, `ci`."""
        return pd.DataFrame(
            {position: self.position, "cluster": self.clusters[self.row], "ci": self.value}
        )

    def top_per_position(self, count: int, position: str = "position") -> pd.DataFrame:
        """Per position, its `count` most active clusters, strongest first (ties: lower id)."""
        rows = self.table(position).sort_values(
            [position, "ci", "cluster"], ascending=[True, False, True], kind="stable"
        )
        return rows.groupby(position, sort=False).head(count).reset_index(drop=True)

    def strongest(self, position: str = "position") -> pd.DataFrame:
        """Per position, the cluster with the highest activation there (ties: the lower id)."""
        return self.top_per_position(1, position)

    def strongest_clusters(self, count: int) -> list[int]:
        """The `count` clusters with the highest activation anywhere, strongest first."""
        if not len(self.row):
            return []
        starts = group_starts(self.row)
        peaks = np.maximum.reduceat(self.value, starts)
        order = np.argsort(-peaks, kind="stable")[:count]
        return self.clusters[self.row[starts[order]]].tolist()


@dataclass(frozen=True)
class ClusterActivation:
    """One cluster's activation where it fires."""

    positions: np.ndarray  # flat positions where the cluster fires, ascending
    values: np.ndarray  # its activation there

    def in_window(self, window: int, length: int) -> np.ndarray:
        """`[length]` activation of every token of a window (0 where it does not fire)."""
        start, stop = np.searchsorted(self.positions, [window * length, (window + 1) * length])
        row = np.zeros(length, dtype=np.float32)
        row[self.positions[start:stop] - window * length] = self.values[start:stop]
        return row


def entry_owners(indptr: np.ndarray) -> np.ndarray:
    """The subcomponent of every stored entry of the column store."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def cluster_activity(store: ColumnStore, assignments: np.ndarray) -> ClusterActivity:
    """Fold the per-subcomponent store into per-cluster activations, without any dense array."""
    return entries_activity(entry_owners(store.indptr), store.token_index, store.ci, assignments)


def entries_activity(
    subcomponents: np.ndarray, positions: np.ndarray, ci: np.ndarray, assignments: np.ndarray
) -> ClusterActivity:
    """Per cluster and position, the max CI of its members among entries (`subcomponents[i]`
    fired `ci[i]` at `positions[i]`); dead subcomponents (cluster -1) are left out."""
    assignments = np.asarray(assignments)
    clusters = np.unique(assignments[assignments >= 0])
    row_of_subcomponent = np.searchsorted(clusters, assignments).astype(np.int64)
    row_of_subcomponent[assignments < 0] = -1
    rows = row_of_subcomponent[np.asarray(subcomponents, dtype=np.int64)]
    alive = rows >= 0
    rows, positions = rows[alive], np.asarray(positions, dtype=np.int64)[alive]
    values = np.asarray(ci, dtype=np.float32)[alive]
    n_positions = int(positions.max()) + 1 if len(positions) else 1
    keys = rows * n_positions + positions
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], values[order]
    starts = group_starts(keys)
    maxima = np.maximum.reduceat(values, starts) if len(starts) else values
    kept = keys[starts]
    return ClusterActivity(
        clusters=clusters.astype(np.int32),
        row=(kept // n_positions).astype(np.int32),
        position=kept % n_positions,
        value=maxima.astype(np.float32),
        member_entries=np.bincount(rows, minlength=len(clusters)),
    )


def window_entries(
    store: ColumnStore, window: int, length: int, assignments: np.ndarray
) -> pd.DataFrame:
    """Every stored entry in one window: offset, subcomponent, cluster (-1: dead), ci."""
    entries = store.between(window * length, (window + 1) * length)
    entries["offset"] = entries.pop("position") - window * length
    entries["cluster"] = np.asarray(assignments)[entries["subcomponent"]]
    return entries


def cluster_activation(store: ColumnStore, members: np.ndarray) -> ClusterActivation:
    """One cluster's activation on every token, read from the store for any membership.

    Many entries (a large or always-on cluster: tens of millions) are folded into one dense
    vector over the token span, in linear time; few go through `entries_activity`."""
    columns = [(int(store.indptr[m]), int(store.indptr[m + 1])) for m in members]
    columns = [(start, stop) for start, stop in columns if stop > start]
    if not columns:
        return ClusterActivation(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
    entries = sum(stop - start for start, stop in columns)
    span = max(int(store.token_index[stop - 1]) for _, stop in columns) + 1  # columns ascend
    if entries * DENSE_FOLD_RATIO < span:
        activity = entries_activity(
            np.repeat(np.arange(len(columns)), [stop - start for start, stop in columns]),
            np.concatenate([store.token_index[start:stop] for start, stop in columns]),
            np.concatenate([store.ci[start:stop] for start, stop in columns]),
            np.zeros(len(columns), dtype=np.int64),
        )
        return ClusterActivation(activity.position.astype(np.int64), activity.value)
    strongest = np.full(span, -1.0, dtype=np.float32)  # CI is never negative: -1 = not firing
    for start, stop in columns:
        positions = np.asarray(store.token_index[start:stop])
        strongest[positions] = np.maximum(strongest[positions], store.ci[start:stop])
    firing = np.flatnonzero(strongest >= 0)
    return ClusterActivation(firing.astype(np.int64), strongest[firing])


def activation_in_windows(
    store: ColumnStore, members: np.ndarray, windows: list[int], length: int
) -> ClusterActivation:
    """A cluster's activation on the tokens of `windows` only: a binary search per member and
    window, so a cluster that fires on every token costs what a small one does."""
    token_index, ci = store.token_index, store.ci
    chosen = np.unique(np.asarray(windows, dtype=np.int64))
    # searched in the store's own dtype: a wider query makes numpy convert the whole column
    limit = np.iinfo(token_index.dtype).max
    starts, stops = (
        np.minimum(ends, limit).astype(token_index.dtype)
        for ends in (chosen * length, (chosen + 1) * length)
    )
    strongest = np.full(len(chosen) * length, -1.0, dtype=np.float32)  # -1: not firing
    for member in members:
        first, last = int(store.indptr[member]), int(store.indptr[member + 1])
        column = token_index[first:last]
        lows, highs = np.searchsorted(column, starts), np.searchsorted(column, stops)
        counts = highs - lows
        if counts.sum() == 0:
            continue
        # the entries of every window at once (each range low..high laid end to end), and
        # where each falls in `strongest`: its window's slot, then its offset
        entries = np.repeat(lows - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
        slots = np.repeat(np.arange(len(chosen)), counts)
        where = slots * length + np.asarray(column[entries], dtype=np.int64) % length
        strongest[where] = np.maximum(strongest[where], ci[first + entries])
    firing = np.flatnonzero(strongest >= 0)
    positions = chosen[firing // length] * length + firing % length
    return ClusterActivation(positions.astype(np.int64), strongest[firing])
