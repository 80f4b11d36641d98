"""gunicorn's server hooks for `spd-atlas serve`: in embedded mode, the resident inference
process starts and stops with the server (one per host, shared by every worker)."""

from __future__ import annotations

import os
import subprocess
from typing import Any

from dashboard.inference import resident
from dashboard.settings import Settings

STARTED: list[subprocess.Popen] = []


def on_starting(server: Any) -> None:
    """Before the workers start: the resident process, owned by this (the master) process."""
    os.environ[resident.SERVER_PID_VARIABLE] = str(os.getpid())  # for one a job restarts
    settings = Settings.from_env()
    if settings.mode == "embedded" and resident.connect(settings) is None:
        server.log.info("starting the resident inference process")
        STARTED.append(resident.start(settings, os.getpid()))


def on_exit(server: Any) -> None:
    """With the server: the process started here (one a job restarted sees its owner gone)."""
    for process in STARTED:
        resident.stop(process)
