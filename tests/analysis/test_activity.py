"""The one rule for a cluster's activation: the max CI of its members, per position."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.analysis.activity import cluster_activity, entries_activity


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
    stored = cluster_activity(indptr, token_index, ci, assignments).table()
    listed = entries_activity(np.array([0, 0, 1, 2, 2]), token_index, ci, assignments).table()
    assert stored.equals(listed)
