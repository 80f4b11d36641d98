"""Harvest: the causal importance of every subcomponent on every token of the corpus windows.

Only entries above a threshold are kept. Each batch is written as one chunk (sorted by
subcomponent, then position) and renamed into place when complete, so an interrupted harvest
continues with the first missing chunk. `sparse_store.assemble` turns the chunks into the
study's per-subcomponent column store.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dashboard.decomposition.api import Decomposition
from dashboard.models.datasets import corpus_windows


@dataclass(frozen=True)
class HarvestConfig:
    n_tokens: int = 1_048_576
    window_length: int = 128
    batch_size: int = 32
    threshold: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.threshold < 1:
            raise ValueError(f"harvest threshold {self.threshold} is outside (0, 1)")
        if self.n_tokens < self.window_length:
            raise ValueError(
                f"n_tokens {self.n_tokens} is less than one window of {self.window_length}"
            )

    @property
    def n_windows(self) -> int:
        return self.n_tokens // self.window_length

    def to_json(self) -> dict:
        return asdict(self)


def harvest_windows(decomposition: Decomposition, config: HarvestConfig) -> np.ndarray:
    """The first `n_windows` training windows of the corpus in the target's tokenizer."""
    windows = corpus_windows(decomposition.tokenizer, config.window_length, config.seed).train
    if len(windows) < config.n_windows:
        raise ValueError(
            f"the corpus holds {len(windows) * config.window_length:,} tokens in windows of "
            f"{config.window_length}; {config.n_tokens:,} were requested"
        )
    return np.ascontiguousarray(windows[: config.n_windows])


def chunk_path(work_dir: Path, batch: int) -> Path:
    return work_dir / "chunks" / f"chunk_{batch:06d}.npz"


@torch.no_grad()
def batch_entries(
    decomposition: Decomposition, input_ids: torch.Tensor, threshold: float, first_position: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subcomponent, flat position, CI) of the entries above threshold, by subcomponent."""
    ci = decomposition.causal_importances(input_ids)
    subcomponents, positions, values = [], [], []
    offset = 0
    for path in decomposition.module_paths:  # modules in label order, so the result stays sorted
        by_subcomponent = ci[path].flatten(0, 1).T  # a view: [C, tokens]
        # nonzero walks the logical order: by subcomponent, then position
        local, tokens = torch.nonzero(by_subcomponent > threshold, as_tuple=True)
        values.append(by_subcomponent[local, tokens])
        subcomponents.append(local + offset)
        positions.append(tokens + first_position)
        offset += by_subcomponent.shape[0]
    return (
        torch.cat(subcomponents).cpu().numpy().astype(np.int32),
        torch.cat(positions).cpu().numpy().astype(np.int32),
        torch.cat(values).cpu().numpy().astype(np.float16),
    )


def run_harvest(
    decomposition: Decomposition, config: HarvestConfig, work_dir: Path, windows: np.ndarray
) -> list[Path]:
    """Write every missing chunk; return all chunk paths in order."""
    (work_dir / "chunks").mkdir(parents=True, exist_ok=True)
    n_batches = -(-len(windows) // config.batch_size)
    paths = [chunk_path(work_dir, batch) for batch in range(n_batches)]
    missing = [batch for batch, path in enumerate(paths) if not path.exists()]
    progress = tqdm(total=n_batches, initial=n_batches - len(missing), desc="harvest",
                    unit="batch", mininterval=1.0)  # fmt: skip
    for batch in missing:
        rows = windows[batch * config.batch_size : (batch + 1) * config.batch_size]
        input_ids = torch.from_numpy(rows).long().to(decomposition.device)
        subcomponents, positions, values = batch_entries(
            decomposition,
            input_ids,
            config.threshold,
            batch * config.batch_size * config.window_length,
        )
        draft = paths[batch].with_suffix(".partial.npz")
        np.savez(draft, subcomponent=subcomponents, position=positions, ci=values)
        os.replace(draft, paths[batch])
        progress.update()
    progress.close()
    return paths
