"""Stability across an ensemble of clusterings: a hand case, the ensemble of window subsets on
data with planted groups, and the stored column of a study built before it was measured."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.analysis.stability import co_clustering, with_stability
from dashboard.pipeline.clustering import ClusteringConfig
from dashboard.pipeline.stability import ensemble_assignments, window_subset
from tests.pipeline.test_clustering import store_from_dense


def test_pairs_and_members_counted_by_hand() -> None:
    assignments = np.array([0, 0, 0, 1, 1, -1, 2])
    ensemble = np.array(
        [
            [5, 5, 6, 7, 7, 3, 1],  # cluster 0: 1 of its 3 pairs together; cluster 1: 1 of 1
            [5, 5, 5, -1, 8, 3, 1],  # 3 of 3; member 3 unseen: no pair of cluster 1
            [1, 2, 3, 4, 4, 0, 0],  # 0 of 3; 1 of 1
        ]
    )
    stability = co_clustering(assignments, ensemble)
    assert stability.clusters[0] == 4 / 9 and stability.clusters[1] == 1.0
    assert np.isnan(stability.clusters[2])  # one member: no pairs
    # member 0 shares its run's cluster with 1 of 2, 2 of 2, 0 of 2 others
    assert stability.members[0] == 0.5 and stability.members[2] == 2 / 6
    assert stability.members[3] == 1.0 and np.isnan(stability.members[6])
    assert 5 not in stability.members.index  # dead in the study's clustering


def test_window_subsets_are_disjoint_and_renumbered() -> None:
    rng = np.random.default_rng(0)
    length, windows = 4, 10
    ci = (rng.random((windows * length, 3)) > 0.5) * rng.random((windows * length, 3))
    store = store_from_dense(ci.astype(np.float32))
    seen = np.zeros_like(ci)
    for part in range(3):
        subset, tokens = window_subset(store, windows * length, length, part, 3)
        mine = [w for w in range(windows) if w % 3 == part]
        assert tokens == len(mine) * length
        for column in range(3):
            start, stop = subset.indptr[column], subset.indptr[column + 1]
            tokens_seen = subset.token_index[start:stop]
            windows_seen = np.asarray(mine)[tokens_seen // length]
            np.add.at(
                seen[:, column], windows_seen * length + tokens_seen % length, subset.ci[start:stop]
            )
    np.testing.assert_allclose(seen, ci.astype(np.float16), rtol=1e-3)  # each entry once


def test_planted_groups_are_stable_and_a_chance_pair_is_not() -> None:
    """Subcomponents 0-2 always fire together, 3-5 too; 6 and 7 fire at random, apart."""
    rng = np.random.default_rng(1)
    length, windows = 16, 64
    n_tokens = length * windows
    ci = np.zeros((n_tokens, 8), np.float32)
    first, second = rng.random(n_tokens) < 0.2, rng.random(n_tokens) < 0.2
    ci[first, 0:3] = 0.9
    ci[second, 3:6] = 0.9
    ci[rng.random(n_tokens) < 0.3, 6] = 0.9
    ci[rng.random(n_tokens) < 0.3, 7] = 0.9
    store = store_from_dense(ci)
    config = ClusteringConfig(activation_threshold=0.5)
    study = np.array([0, 0, 0, 3, 3, 3, 6, 6])  # a study that grouped the random pair
    # cut at 4 groups of 8: the two planted groups, and 6 and 7 on their own
    ensemble = ensemble_assignments(store, n_tokens, length, config, 4, cluster_share=4 / 8)
    assert ensemble.shape == (4, 8)
    stability = co_clustering(study, ensemble)
    assert stability.clusters[0] == 1.0 and stability.clusters[3] == 1.0
    assert stability.clusters[6] == 0.0
    assert stability.members[6] == 0.0 and stability.members[0] == 1.0


def test_a_clustering_without_an_ensemble_has_no_stability() -> None:
    clusters = pd.DataFrame({"cluster": [0, 1]})
    members = pd.DataFrame({"subcomponent": [0, 1, 2], "cluster": [0, 0, 1]})
    clusters, members = with_stability(clusters, members, None)
    assert clusters["stability"].isna().all() and members["stability"].isna().all()
