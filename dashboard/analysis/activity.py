"""Every cluster's activation on every token, as one sparse list: the max CI of its members.

This is the one place that rule is computed for many clusters at once: from the study's column
store (`cluster_activity`), and from any list of entries, as a probe's or one window's
(`entries_activity`). `dashboard/study/clusters.py` `cluster_activations` reads one cluster's
members from the store by the same rule, folding a large cluster densely.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis.statistics import group_starts


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

    def strongest(self, position: str = "position") -> pd.DataFrame:
        """Per position, the cluster with the highest activation there (ties: the lower id)."""
        rows = self.table(position).sort_values(
            [position, "ci", "cluster"], ascending=[True, False, True], kind="stable"
        )
        return rows.drop_duplicates(position).reset_index(drop=True)


def entry_owners(indptr: np.ndarray) -> np.ndarray:
    """The subcomponent of every stored entry of the column store."""
    return np.repeat(np.arange(len(indptr) - 1, dtype=np.int32), np.diff(indptr))


def cluster_activity(
    indptr: np.ndarray, token_index: np.ndarray, ci: np.ndarray, assignments: np.ndarray
) -> ClusterActivity:
    """Fold the per-subcomponent store into per-cluster activations, without any dense array."""
    return entries_activity(entry_owners(indptr), token_index, ci, assignments)


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
