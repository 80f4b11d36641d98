"""Harvest: the causal importance of every subcomponent on every token of the corpus windows.

Only entries above a threshold are kept. The windows are cut into shards of whole batches; each
shard is computed on its own (in this process, or by a Celery worker: `harvest_workers.py`) and
written as its part of the column store into a directory renamed into place when complete. A
shard already written is never computed again, so an interrupted harvest continues with the
missing shards, and the shards' size does not change a byte of the result:
`sparse_store.assemble` joins them into the study's per-subcomponent column store.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable
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


@dataclass(frozen=True)
class Shard:
    """Windows [first_window, stop_window) of a harvest: whole batches, computed as one unit."""

    index: int
    first_window: int
    stop_window: int

    @property
    def name(self) -> str:
        return f"windows_{self.first_window:08d}_{self.stop_window:08d}"

    def n_tokens(self, window_length: int) -> int:
        return (self.stop_window - self.first_window) * window_length


DEFAULT_SHARD_BATCHES = 8


class HarvestStoppedError(RuntimeError):
    """The harvest cannot finish: what stopped it, and how to resume."""


def plan_shards(n_windows: int, batch_size: int, shard_batches: int) -> list[Shard]:
    """The shards of `shard_batches` batches (the last may be short) that cover every window."""
    if shard_batches < 1:
        raise ValueError(f"a shard holds at least one batch, not {shard_batches}")
    size = batch_size * shard_batches
    return [
        Shard(index, first, min(first + size, n_windows))
        for index, first in enumerate(range(0, n_windows, size))
    ]


def shard_dir(work_dir: Path, shard: Shard) -> Path:
    """Where a finished shard lies; it exists only once the shard is complete."""
    return work_dir / "shards" / shard.name


def harvest_shard(
    decomposition: Decomposition,
    config: HarvestConfig,
    windows: np.ndarray,
    shard: Shard,
    work_dir: Path,
) -> Path:
    """Compute one shard batch by batch and write it as a column store of its own (`indptr`,
    `token_index`, `ci`) into a private draft directory renamed into place; a shard already
    there (another worker's, or an earlier run's) is kept as it is."""
    final = shard_dir(work_dir, shard)
    if final.is_dir():
        return final
    parts = []
    for first in range(shard.first_window, shard.stop_window, config.batch_size):
        rows = np.asarray(windows[first : min(first + config.batch_size, shard.stop_window)])
        input_ids = torch.from_numpy(rows).long().to(decomposition.device)
        parts.append(
            batch_entries(decomposition, input_ids, config.threshold, first * config.window_length)
        )
    subcomponents, positions, values = (
        np.concatenate(column) for column in zip(*parts, strict=True)
    )
    # each batch is sorted by subcomponent then position, and the batches come in position
    # order: a stable sort by subcomponent sorts the shard the same way
    order = np.argsort(subcomponents, kind="stable")
    n_subcomponents = len(decomposition.labels)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(subcomponents, minlength=n_subcomponents))])
    draft = final.parent / f".{shard.name}.{uuid.uuid4().hex}.partial"
    draft.mkdir(parents=True)
    np.save(draft / "indptr.npy", indptr.astype(np.int64))
    np.save(draft / "token_index.npy", positions[order])
    np.save(draft / "ci.npy", values[order])
    try:
        os.rename(draft, final)
    except OSError:  # another worker finished it first: the same bytes are already there
        shutil.rmtree(draft)
        if not final.is_dir():
            raise
    return final


def remove_drafts(work_dir: Path) -> None:
    """Drafts left by a process killed mid-shard (a finished shard never leaves one)."""
    for draft in (work_dir / "shards").glob(".*.partial"):
        shutil.rmtree(draft, ignore_errors=True)


@dataclass(frozen=True)
class HarvestFigures:
    """How far a harvest has got: what the progress bar and the study page show."""

    shards_done: int
    shards_total: int
    tokens_done: int
    tokens_total: int
    tokens_per_second: float  # over the shards computed by this run
    eta_seconds: float | None  # None until this run has finished a shard

    def to_json(self) -> dict:
        return asdict(self)


class ShardProgress:
    """Shards done, tokens per second and the ETA, on a tqdm bar and passed to `report`."""

    def __init__(
        self,
        shards: list[Shard],
        missing: list[Shard],
        window_length: int,
        report: Callable[[HarvestFigures], None] | None = None,
    ) -> None:
        done = [shard for shard in shards if shard not in missing]
        self.window_length = window_length
        self.shards_total = len(shards)
        self.tokens_total = sum(shard.n_tokens(window_length) for shard in shards)
        self.shards_done = len(done)
        self.tokens_before = sum(shard.n_tokens(window_length) for shard in done)
        self.tokens_now = 0  # computed by this run
        self.report = report
        self.started = time.perf_counter()
        self.bar = tqdm(
            total=self.tokens_total,
            initial=self.tokens_before,
            desc="harvest",
            unit="tok",
            unit_scale=True,
            mininterval=1.0,
        )
        self.bar.set_postfix_str(self.shards_text, refresh=False)
        self.publish()

    @property
    def shards_text(self) -> str:
        return f"shards {self.shards_done}/{self.shards_total}"

    def figures(self) -> HarvestFigures:
        elapsed = time.perf_counter() - self.started
        rate = self.tokens_now / elapsed if self.tokens_now and elapsed > 0 else 0.0
        remaining = self.tokens_total - self.tokens_before - self.tokens_now
        return HarvestFigures(
            shards_done=self.shards_done,
            shards_total=self.shards_total,
            tokens_done=self.tokens_before + self.tokens_now,
            tokens_total=self.tokens_total,
            tokens_per_second=round(rate, 1),
            eta_seconds=round(remaining / rate, 1) if rate else None,
        )

    def publish(self) -> None:
        if self.report is not None:
            self.report(self.figures())

    def shard_done(self, shard: Shard) -> None:
        tokens = shard.n_tokens(self.window_length)
        self.shards_done += 1
        self.tokens_now += tokens
        self.bar.set_postfix_str(self.shards_text, refresh=False)
        self.bar.update(tokens)
        self.publish()

    def close(self) -> None:
        self.bar.close()


def missing_shards(work_dir: Path, shards: list[Shard]) -> list[Shard]:
    return [shard for shard in shards if not shard_dir(work_dir, shard).is_dir()]


def run_harvest(
    decomposition: Decomposition,
    config: HarvestConfig,
    work_dir: Path,
    windows: np.ndarray,
    shard_batches: int = DEFAULT_SHARD_BATCHES,
    report: Callable[[HarvestFigures], None] | None = None,
) -> list[Path]:
    """Compute every missing shard in this process; return all shard directories in order."""
    shards = plan_shards(len(windows), config.batch_size, shard_batches)
    missing = missing_shards(work_dir, shards)
    progress = ShardProgress(shards, missing, config.window_length, report)
    for shard in missing:
        harvest_shard(decomposition, config, windows, shard, work_dir)
        progress.shard_done(shard)
    progress.close()
    remove_drafts(work_dir)
    return [shard_dir(work_dir, shard) for shard in shards]
