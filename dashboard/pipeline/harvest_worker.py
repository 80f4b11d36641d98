"""`spd-atlas worker --queue harvest`: the Celery app whose one task computes a harvest shard.

The decomposition is loaded on the first task, on this worker's device (`ATLAS_DEVICE`), in its
one process (`-P solo`: nothing is forked after torch starts), and kept for the next shards. The
shard is written as `harvest.harvest_shard` writes it in one process, so the bytes are the same.
A task that raises is retried until MAX_ATTEMPTS; after the last, the error is left beside the
shards for the build to report (`harvest_workers.py`, which sends the tasks).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from dashboard.atomic import write_atomically
from dashboard.decomposition import load_decomposition
from dashboard.decomposition.api import Decomposition
from dashboard.models.loading import resolve_device
from dashboard.pipeline.harvest import HarvestConfig, Shard, harvest_shard
from dashboard.pipeline.harvest_workers import (
    MAX_ATTEMPTS,
    TASK,
    WINDOWS_FILE,
    failure_path,
    harvest_app,
)
from dashboard.settings import Settings

celery_app = harvest_app(Settings.from_env())


@lru_cache(maxsize=1)
def worker_decomposition(decomposition_dir: str) -> Decomposition:
    """The decomposition on this worker's device, loaded on the first task and kept."""
    settings = Settings.from_env()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return load_decomposition(Path(decomposition_dir), device=str(resolve_device(settings.device)))


class ShardTask(celery_app.Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """The last attempt failed: leave the error where the build looks."""
        work_dir, shard = Path(args[2]), Shard(**args[3])
        record = {"shard": shard.index, "error": f"{type(exc).__name__}: {exc}"}
        write_atomically(
            failure_path(work_dir, shard), lambda draft: draft.write_text(json.dumps(record))
        )


@celery_app.task(
    name=TASK,
    base=ShardTask,
    autoretry_for=(Exception,),
    max_retries=MAX_ATTEMPTS - 1,
    default_retry_delay=1,
)
def harvest_shard_task(decomposition_dir: str, config: dict, work_dir: str, shard: dict) -> None:
    """Compute one shard of a harvest and write it into the work directory."""
    work = Path(work_dir)
    windows = np.load(work / WINDOWS_FILE, mmap_mode="r")
    harvest_shard(
        worker_decomposition(decomposition_dir), HarvestConfig(**config), windows, Shard(**shard),
        work,
    )  # fmt: skip
