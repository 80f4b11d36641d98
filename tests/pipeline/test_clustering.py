"""The merge loop against a direct dense implementation of spd's, and its bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.pipeline.clustering import ClusteringConfig, TokenSet, merge_to_the_end
from dashboard.pipeline.sparse_store import ColumnStore


def store_from_dense(ci: np.ndarray) -> ColumnStore:
    """A column store of a dense `[tokens, subcomponents]` CI array (test sizes only)."""
    positions, values, indptr = [], [], [0]
    for column in ci.T:
        nonzero = np.flatnonzero(column)
        positions.append(nonzero)
        values.append(column[nonzero])
        indptr.append(indptr[-1] + len(nonzero))
    return ColumnStore(
        np.array(indptr, dtype=np.int64),
        np.concatenate(positions).astype(np.int32),
        np.concatenate(values).astype(np.float16),
    )


def spd_reference_merges(mask: np.ndarray, alpha: float) -> list[tuple[int, int]]:
    """spd's merge loop written out densely: the cheapest pair each time, ties by index."""
    mask = mask.astype(np.float64)
    n_tokens = mask.shape[0]
    coact = mask.T @ mask
    sizes = np.ones(mask.shape[1])
    ids = list(range(mask.shape[1]))
    merged = []
    while len(ids) > 1:
        k = len(ids)
        normalised = coact / n_tokens
        s = np.diag(normalised)
        s_i, s_j = s[:, None], s[None, :]
        r_i, r_j = sizes[:, None], sizes[None, :]
        coact_or = s_i + s_j - normalised
        s_other = (s.sum() - s_i - s_j) * np.log2((k - 1) / k)
        bits = coact_or * np.log2(k - 1) - s_i * np.log2(k) - s_j * np.log2(k)
        penalty = coact_or * (r_i + r_j) - s_i * r_i - s_j * r_j
        costs = s_other + bits + alpha * penalty
        upper_i, upper_j = np.triu_indices(k, 1)
        best = int(np.argmin(costs[upper_i, upper_j]))
        i, j = int(upper_i[best]), int(upper_j[best])
        merged.append((ids[i], ids[j]))
        group = np.maximum(mask[:, i], mask[:, j])
        row = group @ mask
        coact[i, :] = row
        coact[:, i] = row
        coact[i, i] = group.sum()
        mask[:, i] = group
        sizes[i] += sizes[j]
        coact = np.delete(np.delete(coact, j, 0), j, 1)
        mask = np.delete(mask, j, 1)
        sizes = np.delete(sizes, j)
        del ids[j]
    return merged


def random_activations(n_tokens: int, n_subcomponents: int, seed: int) -> np.ndarray:
    """Sparse CI with structure: subcomponents share latent 'features', so some coactivate."""
    rng = np.random.default_rng(seed)
    features = rng.random((n_tokens, 6)) < 0.08
    loadings = rng.random((6, n_subcomponents)) < 0.3
    fires = (features.astype(int) @ loadings.astype(int) > 0) | (
        rng.random((n_tokens, n_subcomponents)) < 0.02
    )
    return np.where(fires, rng.uniform(0.2, 1.0, fires.shape), 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("alpha", [1.0, 0.1])
def test_deterministic_mode_gives_spd_merge_sequence(seed: int, alpha: float) -> None:
    ci = random_activations(400, 30, seed)
    ci[:, 5] = 0.0  # one dead subcomponent
    ci[:, 7] = ci[:, 3]  # an exact duplicate: ties must go by index
    result = merge_to_the_end(
        store_from_dense(ci), 400, ClusteringConfig(activation_threshold=0.1, alpha=alpha)
    )
    alive = np.flatnonzero((ci > 0.1).any(0))
    assert 5 not in alive
    expected = spd_reference_merges(ci[:, alive] > 0.1, alpha)
    assert list(zip(result.merges.group_a, result.merges.group_b, strict=True)) == expected
    assert result.merges.k_groups.tolist() == list(range(len(alive) - 1, 0, -1))
    assert result.initial_groups[5] == -1
    assert result.initial_groups[alive].tolist() == list(range(len(alive)))


def test_default_iteration_minimises_the_mdl_total() -> None:
    result = merge_to_the_end(
        store_from_dense(random_activations(300, 20, 3)), 300, ClusteringConfig()
    )
    totals = result.merges.mdl_total.to_numpy()
    assert 0 <= result.default_iteration <= len(totals)
    if result.default_iteration > 0:
        assert totals[result.default_iteration - 1] == totals.min()


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_mdl_totals_follow_spds_formula(alpha: float) -> None:
    """spd's `compute_mdl_cost`, written out: MDL = Σ_i s_i (log2 k + alpha r(P_i)), with s_i
    the number of tokens on which group i fires, k the number of groups and r(P_i) its size;
    recomputed from scratch after every merge of the sequence."""
    ci = random_activations(300, 20, 3)
    result = merge_to_the_end(
        store_from_dense(ci), 300, ClusteringConfig(activation_threshold=0.1, alpha=alpha)
    )
    fires = (ci > 0.1)[:, (ci > 0.1).any(0)]
    members = {group: [group] for group in range(fires.shape[1])}
    expected = []
    for a, b in zip(result.merges.group_a, result.merges.group_b, strict=True):
        members[int(a)] += members.pop(int(b))
        k = len(members)
        expected.append(
            sum(
                fires[:, group].any(1).sum() * (np.log2(k) + alpha * len(group))
                for group in members.values()
            )
        )
    np.testing.assert_allclose(result.merges.mdl_total.to_numpy(), expected, rtol=1e-9)


@pytest.mark.parametrize("mode", ["range", "mcmc"])
def test_sampled_modes_are_seeded(mode: str) -> None:
    store = store_from_dense(random_activations(200, 15, 4))
    config = ClusteringConfig(mode=mode, seed=7)
    first = merge_to_the_end(store, 200, config).merges
    again = merge_to_the_end(store, 200, config).merges
    assert first[["group_a", "group_b"]].equals(again[["group_a", "group_b"]])
    assert (first.group_a < first.group_b).all()
    assert len(first) == 14


def test_token_sets_agree_in_both_representations() -> None:
    rng = np.random.default_rng(0)
    n = 4096
    small = np.sort(rng.choice(n, 30, replace=False))
    large = np.sort(rng.choice(n, 1500, replace=False))
    a, b = TokenSet.from_sorted(small, n), TokenSet.from_sorted(large, n)
    assert a.bits is None and b.bits is not None
    assert a.intersection(b).tolist() == np.intersect1d(small, large).tolist()
    assert b.intersection(a).tolist() == np.intersect1d(small, large).tolist()
    assert a.union(b).as_positions().tolist() == np.union1d(small, large).tolist()
    assert a.union(a).as_positions().tolist() == small.tolist()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("activation_threshold", 1.2, "activation threshold 1.2 is outside"),
        ("mode", "greedy", "clustering mode 'greedy'"),
    ],
)
def test_bad_configs_are_named(field: str, value, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClusteringConfig(**{field: value})
