"""Process-wide state the pages read: settings and the loaded study."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from dashboard.settings import Settings
from dashboard.study import Study, StudyValidationError
from dashboard.study.locate import (
    StudyNotFoundError,
    configured_directory,
    configured_study_path,
    named_directory,
    study_in_data_dir,
)
from dashboard.study.schema import MANIFEST_NAME


@lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@dataclass(frozen=True)
class StudyStatus:
    """The configured study, or why there is none."""

    study: Study | None
    problem: str | None


OPENED: dict[str, Study] = {}  # study version -> study, for callbacks that carry a version


class StaleStudyError(RuntimeError):
    """A page names a study version that is no longer on disk."""


@lru_cache(maxsize=8)
def open_study(path: Path, manifest_mtime_ns: int) -> Study:
    """Open a study once per manifest version; a rewritten study is picked up."""
    del manifest_mtime_ns  # part of the cache key only
    study = Study(path)
    OPENED[study.version] = study
    return study


def remember_study(study: Study) -> None:
    """Make a study opened elsewhere (the command line, a test) findable by its version."""
    OPENED.setdefault(study.version, study)


def opened(path: Path) -> StudyStatus:
    """The study at `path`, or why it cannot be shown: invalid, unreadable, or changed on disk
    since it was opened (files gone or of another size: a partial copy, a truncation)."""
    try:
        study = open_study(path, (path / MANIFEST_NAME).stat().st_mtime_ns)
        changed = study.changed_on_disk()
    except (StudyValidationError, OSError) as error:
        return StudyStatus(None, str(error))
    if changed:
        problem = StudyValidationError(study.path, changed)
        return StudyStatus(None, f"{problem}\nThe study changed on disk while served: restore it.")
    return StudyStatus(study, None)


def current_study() -> StudyStatus:
    """The study named by ATLAS_STUDY."""
    current = settings()
    if current.study is None:
        return StudyStatus(None, None)
    try:
        return opened(configured_study_path(current.data_dir, current.study))
    except StudyNotFoundError as error:
        return StudyStatus(None, str(error))


def study_status(name: str | None) -> StudyStatus:
    """The study a URL's `study=` names (a directory in the data dir), else the configured one."""
    if not name:
        return current_study()
    try:
        return opened(study_in_data_dir(settings().data_dir, name))
    except StudyNotFoundError as error:
        return StudyStatus(None, str(error))


def study_directory(name: str | None) -> Path | None:
    """The directory a URL's `study=` (else ATLAS_STUDY) names, built or not; None when it
    names none."""
    current = settings()
    try:
        if name:
            return named_directory(current.data_dir, name)
        if current.study is not None:
            return configured_directory(current.data_dir, current.study)
    except StudyNotFoundError:
        pass
    return None


def study_by_version(version: str) -> Study:
    """The open study with this content version (opening the data dir's studies if needed)."""
    if version not in OPENED:
        current_study()
        for manifest in settings().data_dir.glob(f"*/{MANIFEST_NAME}"):
            study_status(manifest.parent.name)
    if version not in OPENED:
        raise StaleStudyError(f"study version {version} is no longer available; reload the page")
    return OPENED[version]
