"""An ensemble of clusterings for stability (`analysis/stability.py`): the study's clustering
run again on disjoint subsets of the windows it clustered, each cut where its clusters are as
large on average as the study's at its analysed iteration.

Run `part` of `runs` sees the windows whose index is `part` modulo `runs` (with seed
`seed + part`, which the `range` and `mcmc` samplers draw from). It merges its alive
subcomponents (those firing above the threshold in its windows) down to
`round(alive * clusters / study_alive)` groups: the study's ratio of clusters to subcomponents.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from dashboard.pipeline.clustering import (
    ClusteringConfig,
    MergeResult,
    binarised_columns,
    merge_to_the_end,
)
from dashboard.pipeline.sparse_store import ColumnStore
from dashboard.study.clusters import assignments_at


@dataclass(frozen=True)
class StabilityConfig:
    runs: int = 4  # disjoint window subsets, each clustered on its own; 0 or 1: no ensemble


def window_subset(
    store: ColumnStore, n_tokens: int, length: int, part: int, runs: int
) -> tuple[ColumnStore, int]:
    """The store's entries on the first `n_tokens` tokens that lie in windows `part` modulo
    `runs`, renumbered as the tokens of those windows only; and their number of tokens."""
    token_index = np.asarray(store.token_index)
    window = token_index // length
    keep = (token_index < n_tokens) & (window % runs == part)
    kept_before = np.concatenate([[0], np.cumsum(keep, dtype=np.int64)])
    indptr = kept_before[store.indptr]
    renumbered = (window[keep] // runs) * length + token_index[keep] % length
    windows = max(-(-(n_tokens // length - part) // runs), 0)  # ceiling division
    subset = ColumnStore(indptr, renumbered.astype(np.int32), np.asarray(store.ci)[keep])
    return subset, windows * length


def cluster_share(result: MergeResult) -> float:
    """Clusters per alive subcomponent at the clustering's default iteration: where each
    ensemble run is cut."""
    alive = int((result.initial_groups >= 0).sum())
    return (alive - result.default_iteration) / max(alive, 1)


def ensemble_assignments(
    store: ColumnStore,
    n_tokens: int,
    length: int,
    config: ClusteringConfig,
    runs: int,
    cluster_share: float,
) -> np.ndarray:
    """`[runs, n_subcomponents]` cluster ids (-1: not alive in that run's windows), each run cut
    at `cluster_share` clusters per alive subcomponent."""
    used = min(n_tokens, config.max_tokens or n_tokens)
    ensemble = np.full((runs, len(store.indptr) - 1), -1, dtype=np.int32)
    for part in range(runs):
        subset, subset_tokens = window_subset(store, used, length, part, runs)
        run_config = replace(config, max_tokens=None, seed=config.seed + part)
        alive, _ = binarised_columns(subset, config.activation_threshold, subset_tokens)
        target = max(1, round(len(alive) * cluster_share))
        result = merge_to_the_end(
            subset, subset_tokens, run_config, stop_after=max(len(alive) - target, 0)
        )
        ensemble[part] = assignments_at(result.initial_groups, result.merges, len(result.merges))
    return ensemble
