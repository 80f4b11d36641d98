"""A build in progress, as `spd-atlas build` records it beside the study it is writing.

The record is `<data dir>/.<study name>.build.json`: the stage, the harvest's figures (shards
done, tokens per second, ETA), where the shards are computed, and which process writes it. The
study page reads it, so a researcher who opens a study while it is being built sees how far it
has got. It goes when the build ends; one left by a build that died on this host is ignored.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from dashboard.atomic import write_atomically


def progress_path(study_dir: Path) -> Path:
    return study_dir.parent / f".{study_dir.name}.build.json"


def write_progress(study_dir: Path, stage: str, **fields: object) -> None:
    """Record the build's current stage and figures (replacing the last record atomically)."""
    path = progress_path(study_dir)
    previous = read_progress(study_dir) or {}
    record = {
        "stage": stage,
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started_at": previous.get("started_at", time.time()),
        "updated_at": time.time(),
        **fields,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, lambda draft: draft.write_text(json.dumps(record)))


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def read_progress(study_dir: Path) -> dict | None:
    """The build's record, or None: no build, or one whose process on this host is gone."""
    try:
        record = json.loads(progress_path(study_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    if (
        record.get("host") == socket.gethostname()
        and isinstance(pid, int)
        and not process_alive(pid)
    ):
        return None
    return record


def clear_progress(study_dir: Path) -> None:
    progress_path(study_dir).unlink(missing_ok=True)
