"""Open a study: the manifest, its tables, and its arrays memory-mapped."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dashboard.study.schema import MANIFEST_NAME, SPECS_BY_PATH, ArraySpec, TableSpec
from dashboard.study.validate import (
    Problem,
    StudyValidationError,
    check_listed_files,
    validate_study,
)


class Study:
    """A validated, read-only study directory."""

    def __init__(self, path: Path):
        self.path = Path(path).resolve()
        problems = validate_study(self.path, deep=False)
        if problems:
            raise StudyValidationError(self.path, problems)
        self.manifest_bytes = (self.path / MANIFEST_NAME).read_bytes()
        self.manifest: dict[str, Any] = json.loads(self.manifest_bytes)

    def changed_on_disk(self) -> list[Problem]:
        """Files that are gone or whose size differs from the manifest since it was opened."""
        return check_listed_files(self.path, self.manifest["files"], deep=False)

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def provenance(self) -> dict[str, str]:
        return self.manifest["provenance"]

    @property
    def default_iteration(self) -> int:
        return self.manifest["default_iteration"]

    @cached_property
    def version(self) -> str:
        """Short content hash of the manifest: changes whenever any file of the study changes."""
        return hashlib.sha256(self.manifest_bytes).hexdigest()[:16]

    def table(
        self, relative: str, columns: list[str] | None = None, filters: list | None = None
    ) -> pd.DataFrame:
        """A table, or the rows matching pyarrow `filters` (read without loading the rest)."""
        if not isinstance(SPECS_BY_PATH.get(relative), TableSpec):
            raise KeyError(f"{relative} is not a table of the study format")
        return pq.read_table(self.path / relative, columns=columns, filters=filters).to_pandas()

    def array(self, relative: str) -> np.ndarray:
        """A read-only memory map of a `.npy` array."""
        if not isinstance(SPECS_BY_PATH.get(relative), ArraySpec):
            raise KeyError(f"{relative} is not an array of the study format")
        return np.load(self.path / relative, mmap_mode="r")

    @cached_property
    def subcomponents(self) -> pd.DataFrame:
        return self.table("subcomponents.parquet")

    @cached_property
    def window_shape(self) -> tuple[int, int]:
        """(number of windows, window length)."""
        windows, length = self.array("windows/token_ids.npy").shape
        return int(windows), int(length)

    @cached_property
    def n_merges(self) -> int:
        return pq.read_metadata(self.path / "clustering/merges.parquet").num_rows
