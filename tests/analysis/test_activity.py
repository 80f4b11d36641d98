"""The one rule for a cluster's activation: the max CI of its members, per position."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.analysis import activity
from dashboard.analysis.activity import cluster_activation, cluster_activity, entries_activity
from dashboard.study.reader import ColumnStore


def test_a_cluster_fires_with_its_strongest_member_and_dead_ones_are_left_out() -> None:
    assignments = np.array([10, 10, 11, -1])
    activity = entries_activity(
        subcomponents=np.array([0, 1, 2, 0, 3]),
        positions=np.array([3, 3, 5, 5, 3]),
        ci=np.array([0.2, 0.7, 0.4, 0.9, 1.0]),
        assignments=assignments,
    )
    rows = activity.table().sort_values(["cluster", "position"])
    assert rows[["position", "cluster"]].values.tolist() == [[3, 10], [5, 10], [5, 11]]
    assert rows["ci"].tolist() == pytest.approx([0.7, 0.9, 0.4])
    assert activity.member_entries.tolist() == [3, 1]
    strongest = activity.strongest("offset")
    assert strongest[["offset", "cluster"]].values.tolist() == [[3, 10], [5, 10]]


def test_ties_go_to_the_lower_cluster_id() -> None:
    activity = entries_activity(
        np.array([0, 1]), np.array([2, 2]), np.array([0.5, 0.5]), np.array([7, 4])
    )
    assert activity.strongest()["cluster"].tolist() == [4]


def test_the_store_and_its_entries_give_the_same_activity() -> None:
    indptr = np.array([0, 2, 3, 5])
    token_index = np.array([1, 4, 4, 0, 4])
    ci = np.array([0.3, 0.6, 0.8, 0.5, 0.1], dtype=np.float16)
    assignments = np.array([0, 0, 1])
    stored = cluster_activity(ColumnStore(indptr, token_index, ci), assignments).table()
    listed = entries_activity(np.array([0, 0, 1, 2, 2]), token_index, ci, assignments).table()
    assert stored.equals(listed)


def test_cluster_activation_is_the_max_over_members() -> None:
    indptr = np.array([0, 3, 5, 7])
    token_index = np.array([1, 4, 9, 4, 6, 0, 9])
    ci = np.array([0.5, 0.2, 0.3, 0.7, 0.4, 0.9, 0.1], dtype=np.float16)
    store = ColumnStore(indptr, token_index, ci)
    activation = cluster_activation(store, np.array([0, 1]))
    assert activation.positions.tolist() == [1, 4, 6, 9]
    assert activation.values.tolist() == pytest.approx([0.5, 0.7, 0.4, 0.3], abs=1e-3)
    activation = cluster_activation(store, np.array([2, 0]))
    assert activation.positions.tolist() == [0, 1, 4, 9]
    assert activation.values.tolist() == pytest.approx([0.9, 0.5, 0.2, 0.3], abs=1e-3)
    assert cluster_activation(store, np.array([], dtype=int)).positions.size == 0


@pytest.mark.parametrize("members", [[0], [3, 1], [0, 1, 2, 3, 4, 5], []])
def test_dense_and_sorted_folds_agree(members: list[int], monkeypatch) -> None:
    """A large cluster is folded into a dense vector, a small one sorted: the same answer."""
    rng = np.random.default_rng(7)
    columns = [
        np.sort(rng.choice(5000, size=size, replace=False)) for size in (900, 40, 0, 3000, 1, 2500)
    ]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in columns])])
    token_index = np.concatenate(columns).astype(np.int32)
    ci = rng.uniform(0.1, 1, size=len(token_index)).astype(np.float16)
    answers = []
    for ratio in (0, 10**9):  # never dense, always dense
        monkeypatch.setattr(activity, "DENSE_FOLD_RATIO", ratio)
        answers.append(
            activity.cluster_activation(ColumnStore(indptr, token_index, ci), np.array(members))
        )
    sorted_fold, dense_fold = answers
    assert np.array_equal(sorted_fold.positions, dense_fold.positions)
    assert np.array_equal(sorted_fold.values, dense_fold.values)
    dense_positions, dense_values = dense_fold.positions, dense_fold.values
    expected = {}
    for m in members:
        for position, value in zip(columns[m], ci[indptr[m] : indptr[m + 1]], strict=True):
            expected[int(position)] = max(expected.get(int(position), -1.0), float(value))
    assert dense_positions.tolist() == sorted(expected)
    assert dense_values.tolist() == [expected[p] for p in sorted(expected)]
