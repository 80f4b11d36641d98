"""A store on a full disk: a clear error, nothing half-written, nothing stored before lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from dashboard.stores.content import CausalMask, ContentStore
from dashboard.stores.database import Database, StoreError
from dashboard.stores.explanations import Explanation, ExplanationStore

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (mounting one needs root: see `as_root_of_a_namespace`)."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)], check=True
    )
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def as_root_of_a_namespace(test: str) -> None:
    """Run `test` of this file again, alone, as root of a user and mount namespace of its own
    (`unshare`), where it may mount a tmpfs; fail with its output if it fails."""
    completed = subprocess.run(
        [
            *("unshare", "--user", "--map-root-user", "--mount"),
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            f"{__file__}::{test}",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "1 passed" in completed.stdout


def test_a_full_disk_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        as_root_of_a_namespace("test_a_full_disk_is_a_clear_error_and_loses_nothing")
        return
    with small_disk(tmp_path) as disk:
        filled_up(disk)


def filled_up(disk: Path) -> None:
    database = Database(f"sqlite:///{disk / 'atlas.sqlite3'}")
    masks, explanations = ContentStore(database), ExplanationStore(database)
    stored: list[str] = []
    with pytest.raises(StoreError, match="full") as refused:
        for index in range(10_000):
            text = f"explanation {index}: " + "words " * 100
            explanations.put(Explanation("s", 1, "cluster", str(index), "person", "ada", text))
            stored.append(text)
            masks.put_mask(CausalMask("decomposition", {f"m:{index}": 1.0}), label=f"mask {index}")
    assert "the store refused a statement" in str(refused.value)
    assert len(stored) > 10  # the disk filled up on the way, not at once
    kept = {e.target: e.text for e in explanations.of_study("s", 1)}
    assert [kept[str(i)] for i in range(len(stored))] == stored  # every stored text, intact
    assert str(len(stored)) not in kept  # the refused one is not half there
    first = CausalMask("decomposition", {"m:0": 1.0})
    assert masks.mask(first.hash)[0] == first
