"""`study=` and every other study name stays inside the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.study.locate import StudyNotFoundError, study_in_data_dir
from tests.study_factory import write_random_study


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("../outside", "is not allowed"),
        ("/etc", "is not allowed"),
        ("a/../../b", "is not allowed"),
        ("..", "is not allowed"),
        ("%2e%2e", "is not allowed"),
        ("", "is not allowed"),
    ],
)
def test_names_that_would_leave_the_data_dir_are_refused(
    tmp_path: Path, name: str, message: str
) -> None:
    with pytest.raises(StudyNotFoundError, match=message):
        study_in_data_dir(tmp_path, name)


def test_a_symlink_out_of_the_data_dir_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_random_study(outside / "elsewhere", seed=0)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "linked").symlink_to(outside / "elsewhere")
    with pytest.raises(StudyNotFoundError, match="points outside the data directory"):
        study_in_data_dir(data_dir, "linked")
    write_random_study(data_dir / "inside", seed=1)
    assert study_in_data_dir(data_dir, "inside") == (data_dir / "inside").resolve()
