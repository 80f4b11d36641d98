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


def test_cluster_activation_is_the_max_over_members() -> None:
    from dashboard.study.clusters import cluster_activations

    indptr = np.array([0, 3, 5, 7])
    token_index = np.array([1, 4, 9, 4, 6, 0, 9])
    ci = np.array([0.5, 0.2, 0.3, 0.7, 0.4, 0.9, 0.1], dtype=np.float16)
    positions, values = cluster_activations(indptr, token_index, ci, np.array([0, 1]))
    assert positions.tolist() == [1, 4, 6, 9]
    assert values.tolist() == pytest.approx([0.5, 0.7, 0.4, 0.3], abs=1e-3)
    positions, values = cluster_activations(indptr, token_index, ci, np.array([2, 0]))
    assert positions.tolist() == [0, 1, 4, 9]
    assert values.tolist() == pytest.approx([0.9, 0.5, 0.2, 0.3], abs=1e-3)
    assert cluster_activations(indptr, token_index, ci, np.array([], dtype=int))[0].size == 0


@pytest.mark.parametrize("members", [[0], [3, 1], [0, 1, 2, 3, 4, 5], []])
def test_dense_and_sorted_folds_agree(members: list[int], monkeypatch) -> None:
    """A large cluster is folded into a dense vector, a small one sorted: the same answer."""
    from dashboard.study import clusters

    rng = np.random.default_rng(7)
    columns = [
        np.sort(rng.choice(5000, size=size, replace=False)) for size in (900, 40, 0, 3000, 1, 2500)
    ]
    indptr = np.concatenate([[0], np.cumsum([len(c) for c in columns])])
    token_index = np.concatenate(columns).astype(np.int32)
    ci = rng.uniform(0.1, 1, size=len(token_index)).astype(np.float16)
    answers = []
    for ratio in (0, 10**9):  # never dense, always dense
        monkeypatch.setattr(clusters, "DENSE_FOLD_RATIO", ratio)
        answers.append(clusters.cluster_activations(indptr, token_index, ci, np.array(members)))
    (sorted_positions, sorted_values), (dense_positions, dense_values) = answers
    assert np.array_equal(sorted_positions, dense_positions)
    assert np.array_equal(sorted_values, dense_values)
    expected = {}
    for m in members:
        for position, value in zip(columns[m], ci[indptr[m] : indptr[m + 1]], strict=True):
            expected[int(position)] = max(expected.get(int(position), -1.0), float(value))
    assert dense_positions.tolist() == sorted(expected)
    assert dense_values.tolist() == [expected[p] for p in sorted(expected)]
