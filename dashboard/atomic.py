"""Writing files and directories so that readers see either the old version or the new one."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def draft_directory(destination: Path) -> Iterator[Path]:
    """A fresh sibling directory to fill; on success it replaces `destination`, on error it goes."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    draft = Path(tempfile.mkdtemp(prefix=f".{destination.name}.", dir=destination.parent))
    try:
        yield draft
        if destination.exists():
            shutil.rmtree(destination)
        draft.rename(destination)
    finally:
        if draft.exists():
            shutil.rmtree(draft)


def write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """Call `write(temporary_path)`, then rename the result onto `path`."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def link_or_copy(source: str | Path, destination: str | Path) -> None:
    """A hard link (no extra space) where the file system allows, a copy elsewhere."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)
