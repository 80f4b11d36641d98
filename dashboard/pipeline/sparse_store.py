"""The per-subcomponent column store built from harvest chunks, and its per-subcomponent stats."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ArrayFactory = Callable[[str, str, tuple[int, ...]], np.ndarray]


@dataclass
class ColumnStore:
    indptr: np.ndarray  # [n_subcomponents + 1]
    token_index: np.ndarray  # [nnz] flat positions, ascending within each subcomponent
    ci: np.ndarray  # [nnz]

    def column(self, subcomponent: int) -> tuple[np.ndarray, np.ndarray]:
        start, stop = self.indptr[subcomponent], self.indptr[subcomponent + 1]
        return self.token_index[start:stop], self.ci[start:stop]


def load_shard(directory: Path) -> ColumnStore:
    """A harvest shard's own column store (`harvest.harvest_shard`), memory-mapped."""
    return ColumnStore(
        *(
            np.load(directory / f"{name}.npy", mmap_mode="r")
            for name in ("indptr", "token_index", "ci")
        )
    )


def assemble(shards: list[Path], n_subcomponents: int, make_array: ArrayFactory) -> ColumnStore:
    """Join the shards' column stores (in position order) into one: sizes from their `indptr`s,
    then each shard's entries placed after the earlier shards' entries of the same subcomponent.

    `make_array(name, dtype, shape)` provides the (memory-mapped) output arrays, so the store is
    written straight into the study draft without a second copy in memory.
    """
    counts = np.zeros(n_subcomponents, dtype=np.int64)
    for directory in shards:
        counts += np.diff(load_shard(directory).indptr)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    total = int(indptr[-1])
    token_index = make_array("activations/token_index.npy", "int32", (total,))
    ci = make_array("activations/ci.npy", "float16", (total,))
    cursor = indptr[:-1].copy()
    for directory in shards:
        shard = load_shard(directory)
        shard_counts = np.diff(shard.indptr)
        owner = np.repeat(np.arange(n_subcomponents), shard_counts)
        destination = cursor[owner] + (np.arange(len(owner)) - shard.indptr[owner])
        token_index[destination] = shard.token_index
        ci[destination] = shard.ci
        cursor += shard_counts
    return ColumnStore(indptr, token_index, ci)


@dataclass
class SubcomponentStats:
    firing_frequency: np.ndarray  # share of harvested tokens with CI above the threshold
    mean_ci: np.ndarray  # mean CI over those tokens
    max_ci: np.ndarray
    histograms: np.ndarray  # [n_subcomponents, bins] counts over (threshold, 1]


def subcomponent_stats(
    store: ColumnStore, n_tokens: int, threshold: float, bins: int
) -> SubcomponentStats:
    n_subcomponents = len(store.indptr) - 1
    counts = np.diff(store.indptr)
    owner = np.repeat(np.arange(n_subcomponents), counts)
    values = np.asarray(store.ci, dtype=np.float32)
    sums = np.bincount(owner, weights=values, minlength=n_subcomponents)
    maxima = np.zeros(n_subcomponents, dtype=np.float32)
    np.maximum.at(maxima, owner, values)
    edges = np.linspace(threshold, 1.0, bins + 1)
    bin_index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    histograms = np.bincount(owner * bins + bin_index, minlength=n_subcomponents * bins)
    return SubcomponentStats(
        firing_frequency=(counts / n_tokens).astype(np.float32),
        mean_ci=np.where(counts > 0, sums / np.maximum(counts, 1), 0).astype(np.float32),
        max_ci=maxima,
        histograms=histograms.reshape(n_subcomponents, bins).astype(np.int64),
    )
