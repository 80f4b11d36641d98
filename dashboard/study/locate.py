"""Find study directories: the configured one, or a name under the data directory."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard.study.schema import MANIFEST_NAME

STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


class StudyNotFoundError(LookupError):
    """A study name or path that names no study directory."""


def named_directory(data_dir: Path, name: str) -> Path:
    """Where the study called `name` lies or will lie: directly under `data_dir`, never outside."""
    if not STUDY_NAME.match(name):
        raise StudyNotFoundError(
            f"study name {name!r} is not allowed: use letters, digits, '.', '_' and '-' only"
        )
    path = (data_dir / name).resolve()
    if path.parent != data_dir.resolve():
        raise StudyNotFoundError(f"study {name!r} points outside the data directory")
    return path


def study_in_data_dir(data_dir: Path, name: str) -> Path:
    """The study called `name` directly under `data_dir`; names never leave it."""
    path = named_directory(data_dir, name)
    if not (path / MANIFEST_NAME).is_file():
        raise StudyNotFoundError(f"no study named {name!r} in {data_dir}")
    return path


def configured_directory(data_dir: Path, study: str) -> Path:
    """Where ATLAS_STUDY's study lies or will lie (it may not be built yet)."""
    candidate = Path(study).expanduser()
    if candidate.is_absolute() or candidate.parent != Path("."):
        return candidate.resolve()
    return named_directory(data_dir, study)


def configured_study_path(data_dir: Path, study: str) -> Path:
    """Resolve ATLAS_STUDY, which the operator sets: a study directory or a name in the data dir."""
    candidate = Path(study).expanduser()
    if candidate.is_absolute() or candidate.parent != Path("."):
        if not (candidate / MANIFEST_NAME).is_file():
            raise StudyNotFoundError(f"ATLAS_STUDY={study}: no {MANIFEST_NAME} in that directory")
        return candidate.resolve()
    return study_in_data_dir(data_dir, study)
