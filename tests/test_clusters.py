import numpy as np
import pandas as pd
import pytest

from dashboard.study.clusters import assignments_at


def merges(rows: list[tuple[int, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["group_a", "group_b"])


def test_replays_merges_up_to_an_iteration() -> None:
    """Five initial groups (clusters 0-4); merge k forms cluster 5 + k."""
    initial = np.array([0, 1, -1, 2, 3, 4], dtype=np.int32)
    history = merges([(3, 4), (0, 1), (0, 3), (0, 2)])
    assert assignments_at(initial, history, 0).tolist() == [0, 1, -1, 2, 3, 4]
    assert assignments_at(initial, history, 1).tolist() == [0, 1, -1, 2, 5, 5]
    assert assignments_at(initial, history, 2).tolist() == [6, 6, -1, 2, 5, 5]
    assert assignments_at(initial, history, 3).tolist() == [7, 7, -1, 2, 7, 7]
    assert assignments_at(initial, history, 4).tolist() == [8, 8, -1, 8, 8, 8]


def test_long_chains_resolve_to_their_root() -> None:
    n = 1000
    initial = np.arange(n, dtype=np.int32)
    history = merges([(n - 2 - i, n - 1 - i) for i in range(n - 1)])
    assert set(assignments_at(initial, history, n - 1).tolist()) == {n + n - 2}


def test_iteration_outside_the_history_is_refused() -> None:
    with pytest.raises(ValueError, match=r"iteration 3 is outside the merge history \[0, 2\]"):
        assignments_at(np.arange(3), merges([(0, 1), (0, 2)]), 3)
