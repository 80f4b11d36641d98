"""The column store assembled from harvest shards, its stats, and the examples drawn from it."""

from pathlib import Path

import numpy as np
import pytest

from dashboard.pipeline.examples import subcomponent_examples
from dashboard.pipeline.harvest import HarvestConfig
from dashboard.pipeline.sparse_store import assemble, subcomponent_stats


def write_shard(path: Path, entries: list[tuple[int, int, float]], n_subcomponents: int) -> Path:
    """A shard's own column store, as `harvest.harvest_shard` writes it."""
    entries = sorted(entries)  # by subcomponent, then position
    counts = np.bincount([e[0] for e in entries], minlength=n_subcomponents)
    path.mkdir()
    np.save(path / "indptr.npy", np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))
    np.save(path / "token_index.npy", np.array([e[1] for e in entries], dtype=np.int32))
    np.save(path / "ci.npy", np.array([e[2] for e in entries], dtype=np.float16))
    return path


def in_memory(name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


@pytest.fixture
def store(tmp_path: Path):
    shards = [
        write_shard(tmp_path / "a", [(0, 1, 0.5), (2, 0, 0.25), (2, 3, 1.0), (0, 2, 0.75)], 4),
        write_shard(tmp_path / "b", [(2, 4, 0.5), (0, 7, 0.125)], 4),
    ]
    return assemble(shards, n_subcomponents=4, make_array=in_memory)


def test_entries_are_grouped_by_subcomponent_in_position_order(store) -> None:
    assert store.indptr.tolist() == [0, 3, 3, 6, 6]
    assert store.token_index.tolist() == [1, 2, 7, 0, 3, 4]
    assert store.ci.tolist() == [0.5, 0.75, 0.125, 0.25, 1.0, 0.5]
    positions, stored = store.column(2)
    assert stored.tolist() == [0.25, 1.0, 0.5]
    assert positions.tolist() == [0, 3, 4]


def test_stats_match_a_hand_count(store) -> None:
    stats = subcomponent_stats(store, n_tokens=8, threshold=0.1, bins=3)
    assert stats.firing_frequency.tolist() == [3 / 8, 0, 3 / 8, 0]
    assert stats.mean_ci.tolist() == pytest.approx([0.4583333, 0, 0.5833333, 0])
    assert stats.max_ci.tolist() == [0.75, 0, 1.0, 0]
    # bins over (0.1, 1]: [0.1, 0.4), [0.4, 0.7), [0.7, 1.0]
    assert stats.histograms.tolist() == [[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]]


def test_examples_take_the_top_and_every_band(store) -> None:
    examples = subcomponent_examples(store, top_k=2, bands=3, per_band=1)
    top = examples[(examples.subcomponent == 2) & (examples.kind == "top")]
    assert top.position.tolist() == [3, 4]  # CI 1.0, then the first of the two 0.5s... by CI
    quantile = examples[(examples.subcomponent == 0) & (examples.kind == "quantile")]
    assert quantile.band.tolist() == [0, 1, 2]
    assert quantile.ci.tolist() == pytest.approx([0.125, 0.5, 0.75])
    assert set(examples.subcomponent) == {0, 2}


@pytest.mark.parametrize("threshold", [0.0, 1.0, -0.2, 1.5])
def test_threshold_outside_the_unit_interval_is_refused(threshold: float) -> None:
    with pytest.raises(ValueError, match=f"harvest threshold {threshold} is outside"):
        HarvestConfig(threshold=threshold)
