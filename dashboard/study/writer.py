"""Write a study into a temporary directory, validate it, and rename it into place."""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from dashboard.atomic import link_or_copy
from dashboard.study.provenance import sha256_file
from dashboard.study.schema import MANIFEST_NAME, SCHEMA_VERSION
from dashboard.study.validate import StudyValidationError, validate_study


class StudyExistsError(FileExistsError):
    """The destination already holds a study and overwriting was not asked for."""


class StudyWriter:
    """Context manager: files go to a hidden sibling directory until the study is complete.

    On a clean exit the manifest is written, the whole study is validated, and the directory is
    renamed onto `destination`; on an error or a failed validation the draft is removed and
    whatever stood at `destination` before is untouched.
    """

    def __init__(
        self,
        destination: Path,
        name: str,
        provenance: dict[str, str],
        default_iteration: int,
        overwrite: bool = False,
    ):
        self.destination = Path(destination).resolve()
        self.name = name
        self.provenance = dict(provenance)
        self.default_iteration = default_iteration
        self.overwrite = overwrite
        self.settings: dict | None = None  # recorded in the manifest when set
        self.draft: Path | None = None

    def __enter__(self) -> StudyWriter:
        if self.destination.exists() and not self.overwrite:
            raise StudyExistsError(
                f"{self.destination} already exists; pass overwrite=True (--force) to replace it"
            )
        self.destination.parent.mkdir(parents=True, exist_ok=True)
        self.draft = Path(
            tempfile.mkdtemp(prefix=f".{self.destination.name}.", dir=self.destination.parent)
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self.draft is not None
        try:
            if exc_type is None:
                self.finish()
        finally:
            if self.draft.exists():
                shutil.rmtree(self.draft)

    def path_for(self, relative: str) -> Path:
        assert self.draft is not None, "use StudyWriter as a context manager"
        target = self.draft / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def write_table(self, relative: str, table: pd.DataFrame | pa.Table) -> None:
        if isinstance(table, pd.DataFrame):
            table = pa.Table.from_pandas(table, preserve_index=False)
        pq.write_table(table, self.path_for(relative))

    def write_array(self, relative: str, array: np.ndarray) -> None:
        np.save(self.path_for(relative), array, allow_pickle=False)

    def link_file(self, relative: str, source: Path) -> None:
        """Reuse a file of an existing study: a hard link where possible, else a copy."""
        link_or_copy(source, self.path_for(relative))

    def open_array(self, relative: str, dtype: str, shape: tuple[int, ...]) -> np.memmap:
        """A writable memory map for arrays too large to build in memory."""
        return np.lib.format.open_memmap(
            self.path_for(relative), mode="w+", dtype=dtype, shape=shape
        )

    def finish(self) -> None:
        assert self.draft is not None
        files = {
            path.relative_to(self.draft).as_posix(): {
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
            }
            for path in sorted(self.draft.rglob("*"))
            if path.is_file()
        }
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "name": self.name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "provenance": self.provenance,
            "default_iteration": self.default_iteration,
            "files": files,
        }
        if self.settings is not None:
            manifest["settings"] = self.settings
        (self.draft / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        problems = validate_study(self.draft, deep=True)
        if problems:
            raise StudyValidationError(self.destination, problems)
        self.replace_destination()

    def replace_destination(self) -> None:
        """Rename the draft onto the destination; an old study is moved aside, then removed."""
        assert self.draft is not None
        retired = None
        if self.destination.exists():
            retired = Path(
                tempfile.mkdtemp(
                    prefix=f".{self.destination.name}.old.", dir=self.destination.parent
                )
            )
            self.destination.rename(retired / "study")
        self.draft.rename(self.destination)
        if retired is not None:
            shutil.rmtree(retired)
