"""The harvest sharded over Celery workers: one task per shard on queue `harvest`.

`spd-atlas worker --queue harvest` serves the queue on any host that sees the data directory at
the same path. A worker loads the decomposition on its first task (never before a fork: the
pool is `solo`), reads its windows from the harvest's work directory, and writes its shard as
`harvest.harvest_shard` does in one process, so the result is the same byte for byte.

A message is acknowledged only when its shard is written (`acks_late`): the shard of a worker
killed mid-way goes back to the queue once ATLAS_HARVEST_VISIBILITY_SECONDS have passed, and
another worker computes it. A shard that raises is tried MAX_ATTEMPTS times; then the worker
writes `<shard>.failed` beside the shards and `spd-atlas build` stops, naming the shard and the
error. The coordinator reads only the work directory: a shard is done when its directory is.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dashboard.atomic import write_atomically
from dashboard.pipeline.harvest import (
    HarvestConfig,
    HarvestFigures,
    Shard,
    ShardProgress,
    harvest_shard,
    missing_shards,
    plan_shards,
    remove_drafts,
    shard_dir,
)
from dashboard.runtime import make_celery, queue_served, redis_client
from dashboard.settings import Settings

QUEUE = "harvest"
TASK = "atlas.harvest_shard"
MAX_ATTEMPTS = 3
WINDOWS_FILE = "windows.npy"
POLL_SECONDS = 0.25


class HarvestShardError(RuntimeError):
    """A shard failed MAX_ATTEMPTS times."""


class NoHarvestWorkerError(RuntimeError):
    """No worker serves the harvest queue."""


def harvest_app(settings: Settings) -> Any:
    """The Celery app of the harvest queue. Its unacknowledged messages are kept under keys of
    their own, so the short visibility timeout here never redelivers another queue's jobs."""
    app = make_celery(settings)
    app.conf.update(
        task_routes={TASK: {"queue": QUEUE}},
        task_ignore_result=True,  # the shard's directory is its result
        broker_transport_options={
            "visibility_timeout": settings.harvest_visibility_seconds,
            "unacked_key": "atlas:harvest:unacked",
            "unacked_index_key": "atlas:harvest:unacked_index",
            "unacked_mutex_key": "atlas:harvest:unacked_mutex",
            # sweep for abandoned shards every second (kombu's default: every 100 s)
            "unacked_restore_interval": 1,
            "unacked_restore_throttle": 1,
        },
    )
    return app


celery_app = harvest_app(Settings.from_env())


def failure_path(work_dir: Path, shard: Shard) -> Path:
    return work_dir / "shards" / f"{shard.name}.failed"


@lru_cache(maxsize=1)
def worker_decomposition(decomposition_dir: str) -> Any:
    """The decomposition on this worker's device, loaded on the first task and kept."""
    import torch

    from dashboard.decomposition import load_decomposition
    from dashboard.models.loading import resolve_device

    settings = Settings.from_env()
    if settings.torch_threads:
        torch.set_num_threads(settings.torch_threads)
    return load_decomposition(Path(decomposition_dir), device=str(resolve_device(settings.device)))


class ShardTask(celery_app.Task):
    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        """The last attempt failed: leave the error where the coordinator looks."""
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


def save_windows(work_dir: Path, windows: np.ndarray) -> None:
    """The windows the workers read, written once (they depend only on the harvest's inputs,
    which name the work directory)."""
    path = work_dir / WINDOWS_FILE
    if path.is_file():
        return

    def write(draft: Path) -> None:
        with draft.open("wb") as handle:
            np.save(handle, windows)

    write_atomically(path, write)


def harvest_on_workers(
    decomposition_dir: Path,
    config: HarvestConfig,
    work_dir: Path,
    windows: np.ndarray,
    shard_batches: int,
    settings: Settings,
    report: Callable[[HarvestFigures], None] | None = None,
    worker_wait_seconds: float = 60.0,
) -> list[Path]:
    """Send every missing shard to the harvest queue and wait for all of them; return all shard
    directories in order. `report` gets the progress (`HarvestFigures`) as shards finish."""
    shards = plan_shards(len(windows), config.batch_size, shard_batches)
    (work_dir / "shards").mkdir(parents=True, exist_ok=True)
    missing = missing_shards(work_dir, shards)
    progress = ShardProgress(
        shards, config.window_length, [s for s in shards if s not in missing], report
    )
    try:
        if missing:
            wait_for_shards(decomposition_dir, config, work_dir, windows, missing, settings,
                            progress, worker_wait_seconds)  # fmt: skip
    finally:
        progress.close()
    remove_drafts(work_dir)
    return [shard_dir(work_dir, shard) for shard in shards]


def wait_for_shards(
    decomposition_dir: Path,
    config: HarvestConfig,
    work_dir: Path,
    windows: np.ndarray,
    missing: list[Shard],
    settings: Settings,
    progress: ShardProgress,
    worker_wait_seconds: float,
) -> None:
    save_windows(work_dir, windows)
    for shard in missing:  # an earlier run's failures are tried again
        failure_path(work_dir, shard).unlink(missing_ok=True)
    client = redis_client(settings.redis_url)
    unserved_since = time.monotonic()
    while not queue_served(client, QUEUE):
        if time.monotonic() - unserved_since > worker_wait_seconds:
            raise NoHarvestWorkerError(
                f"no worker serves the harvest queue on {settings.redis_url}: start one with "
                "`spd-atlas worker --queue harvest` on a host that sees "
                f"{work_dir} and {decomposition_dir}"
            )
        time.sleep(POLL_SECONDS)
    for shard in missing:
        celery_app.send_task(
            TASK,
            args=[str(decomposition_dir), config.to_json(), str(work_dir), shard.__dict__],
            queue=QUEUE,
        )
    pending = {shard.name: shard for shard in missing}
    unserved_since = None
    while pending:
        names = set(os.listdir(work_dir / "shards"))
        for name, shard in list(pending.items()):
            if name in names:
                del pending[name]
                progress.shard_done(shard)
            elif f"{name}.failed" in names:
                error = json.loads(failure_path(work_dir, shard).read_text())["error"]
                raise HarvestShardError(
                    f"harvest shard {shard.index} (windows {shard.first_window:,} to "
                    f"{shard.stop_window:,}) failed {MAX_ATTEMPTS} times: {error}. "
                    f"The {len(pending) - 1} other unfinished shards go on; rerun the build "
                    "to resume"
                )
        if pending and not queue_served(client, QUEUE):
            unserved_since = unserved_since or time.monotonic()
            if time.monotonic() - unserved_since > worker_wait_seconds:
                raise NoHarvestWorkerError(
                    f"no harvest worker has answered for {worker_wait_seconds:g} s with "
                    f"{len(pending)} shards unfinished; start one, then rerun the build to resume"
                )
        else:
            unserved_since = None
        time.sleep(POLL_SECONDS)
