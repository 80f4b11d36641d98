"""Shared fixtures: a small random study written once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.study_factory import write_random_study


@pytest.fixture(scope="session")
def random_study_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_study(tmp_path_factory.mktemp("template") / "random-study")


@pytest.fixture
def random_study(random_study_template: Path, tmp_path: Path) -> Path:
    """A private copy each test may damage."""
    return Path(shutil.copytree(random_study_template, tmp_path / "random-study"))
