"""The GPU worker of the scaled mode: a Celery app whose one task runs inference operations.

`spd-atlas worker` runs it on queue `gpu`, one process (`-P solo`): the model is loaded inside
that process on its first task, never before a fork, and kept for the next ones. A job past its
time limit cannot be interrupted inside torch: the worker records the job as failed and exits
with LIMIT_EXIT_CODE, and `spd-atlas worker` starts a fresh one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dashboard.app_state import open_study, settings
from dashboard.inference.resident import LIMIT_EXIT_CODE
from dashboard.inference.results import to_json
from dashboard.inference.service import QUEUE, TASK, InlineService
from dashboard.runtime import make_celery

celery_app = make_celery(settings())
celery_app.conf.task_routes = {TASK: {"queue": QUEUE}}
SERVICE: InlineService | None = None
log = logging.getLogger("atlas.inference")


class JobTimeLimitError(RuntimeError):
    """A job ran past its time limit; its worker stopped."""


@contextmanager
def stopped_past(limit: float | None, task_id: str, operation: str) -> Iterator[None]:
    """Exit the worker if the block runs past `limit` seconds, once the job is marked failed."""
    if limit is None:
        yield
        return

    def stop() -> None:
        message = f"the job ({operation}) passed its time limit of {limit:g} s and was stopped"
        log.error("%s: restarting the worker", message)
        celery_app.backend.mark_as_failure(task_id, JobTimeLimitError(message))
        os._exit(LIMIT_EXIT_CODE)

    timer = threading.Timer(limit, stop)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


@celery_app.task(name=TASK, bind=True)
def run_operation(
    task, study_path: str, operation: str, arguments: dict, limit: float | None = None
) -> dict:
    """Run one operation on the study's decomposition, loading it on first use; its result in
    JSON form."""
    global SERVICE
    if SERVICE is None:
        SERVICE = InlineService(settings(), keep=1)
    path = Path(study_path)
    study = open_study(path, (path / "study.json").stat().st_mtime_ns)
    with stopped_past(limit, task.request.id, operation):
        return to_json(SERVICE.call(study, operation, arguments))
