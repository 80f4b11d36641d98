"""The GPU worker of the scaled mode: a Celery app whose one task runs inference operations.

`spd-atlas worker` runs it on queue `gpu`, one process (`-P solo`): the model is loaded inside
that process on its first task, never before a fork, and kept for the next ones.
"""

from __future__ import annotations

from pathlib import Path

from dashboard.app_state import open_study, settings
from dashboard.inference.service import QUEUE, TASK, InlineService
from dashboard.runtime import make_celery

celery_app = make_celery(settings())
celery_app.conf.task_routes = {TASK: {"queue": QUEUE}}
SERVICE: InlineService | None = None


@celery_app.task(name=TASK)
def run_operation(study_path: str, operation: str, arguments: dict):
    """Run one operation on the study's decomposition, loading it on first use."""
    global SERVICE
    if SERVICE is None:
        SERVICE = InlineService(settings())
    path = Path(study_path)
    study = open_study(path, (path / "study.json").stat().st_mtime_ns)
    return SERVICE.run(study, operation, arguments)
