"""The harvest sharded over Celery workers, as `spd-atlas build --workers celery` runs it: one
task per missing shard on queue `harvest`, served by `spd-atlas worker --queue harvest`
(`harvest_worker.py`) on any host that sees the data directory at the same path.

A task is acknowledged only when its shard is written (`acks_late`): the shard of a worker killed
mid-way goes back to the queue once ATLAS_HARVEST_VISIBILITY_SECONDS have passed, and another
worker computes it. A shard that raises is tried MAX_ATTEMPTS times; then its worker writes
`<shard>.failed` beside the shards and the build stops, naming the shard and the error. The build
reads only the work directory: a shard is done when its directory is there.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dashboard.atomic import write_atomically
from dashboard.pipeline.harvest import (
    HarvestConfig,
    HarvestFigures,
    HarvestStoppedError,
    Shard,
    ShardProgress,
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


class HarvestShardError(HarvestStoppedError):
    """A shard failed MAX_ATTEMPTS times."""


class NoHarvestWorkerError(HarvestStoppedError):
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


def failure_path(work_dir: Path, shard: Shard) -> Path:
    """Where the worker of a shard's last failed attempt leaves its error."""
    return work_dir / "shards" / f"{shard.name}.failed"


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
    # the workers may run elsewhere: they get absolute paths
    decomposition_dir, work_dir = decomposition_dir.resolve(), work_dir.resolve()
    shards = plan_shards(len(windows), config.batch_size, shard_batches)
    (work_dir / "shards").mkdir(parents=True, exist_ok=True)
    missing = missing_shards(work_dir, shards)
    progress = ShardProgress(shards, missing, config.window_length, report)
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
    app = harvest_app(settings)
    for shard in missing:
        app.send_task(
            TASK,
            args=[str(decomposition_dir), config.to_json(), str(work_dir), shard.__dict__],
            queue=QUEUE,
        )
    app.close()
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
