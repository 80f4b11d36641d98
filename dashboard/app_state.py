"""Process-wide state the pages read: settings and the loaded study."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dashboard.settings import Settings
from dashboard.study import Study, StudyValidationError
from dashboard.study.locate import StudyNotFoundError, configured_study_path
from dashboard.study.schema import MANIFEST_NAME


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class StudyStatus:
    """The configured study, or why there is none."""

    study: Study | None
    problem: str | None


@lru_cache(maxsize=8)
def open_study(path: Path, manifest_mtime_ns: int) -> Study:
    """Open a study once per manifest version; a rewritten study is picked up."""
    del manifest_mtime_ns  # part of the cache key only
    return Study(path)


def current_study() -> StudyStatus:
    current = settings()
    if current.study is None:
        return StudyStatus(None, None)
    try:
        path = configured_study_path(current.data_dir, current.study)
        return StudyStatus(open_study(path, (path / MANIFEST_NAME).stat().st_mtime_ns), None)
    except (StudyNotFoundError, StudyValidationError, OSError) as error:
        return StudyStatus(None, str(error))
