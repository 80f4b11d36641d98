"""The record of a build in progress: read back until cleared, ignored once its process died."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dashboard.study.build_progress import (
    clear_progress,
    progress_path,
    read_progress,
    write_progress,
)


def test_a_record_is_read_until_cleared(tmp_path: Path) -> None:
    study = tmp_path / "demo"
    assert read_progress(study) is None
    write_progress(study, "harvest", workers="local", harvest={"shards_done": 1})
    first = read_progress(study)
    assert first["stage"] == "harvest" and first["harvest"] == {"shards_done": 1}
    write_progress(study, "clustering", workers="local")
    second = read_progress(study)
    assert second["stage"] == "clustering" and "harvest" not in second
    assert second["started_at"] == first["started_at"] <= second["updated_at"]
    assert progress_path(study) == tmp_path / ".demo.build.json"
    assert not study.exists()  # nothing is written inside the study
    clear_progress(study)
    assert read_progress(study) is None


def test_the_record_of_a_dead_build_is_ignored(tmp_path: Path) -> None:
    study = tmp_path / "demo"
    write_progress(study, "harvest")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = json.loads(progress_path(study).read_text()) | {"pid": int(dead.stdout)}
    progress_path(study).write_text(json.dumps(record))
    assert read_progress(study) is None
    progress_path(study).write_text("{not json")
    assert read_progress(study) is None
