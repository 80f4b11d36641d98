"""Open a study: the manifest, its tables, and its arrays memory-mapped."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from dashboard.study.lookup import entries_between
from dashboard.study.schema import MANIFEST_NAME, SPECS_BY_PATH, ArraySpec, TableSpec
from dashboard.study.validate import (
    Problem,
    StudyValidationError,
    check_listed_files,
    validate_study,
)


@dataclass(frozen=True)
class ColumnStore:
    """The harvested activations, one column per subcomponent (memory-mapped): column `s` is
    `token_index[indptr[s]:indptr[s + 1]]` (flat token positions, ascending) and its CI."""

    indptr: np.ndarray
    token_index: np.ndarray
    ci: np.ndarray

    def column(self, subcomponent: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions, CI) where one subcomponent fired."""
        start, stop = int(self.indptr[subcomponent]), int(self.indptr[subcomponent + 1])
        return (
            np.asarray(self.token_index[start:stop], dtype=np.int64),
            np.asarray(self.ci[start:stop], dtype=np.float32),
        )

    def between(self, start: int, stop: int) -> pd.DataFrame:
        """Every entry at flat positions [start, stop): subcomponent, position, ci."""
        return entries_between(self.indptr, self.token_index, self.ci, start, stop)


class Study:
    """A validated, read-only study directory. Its typed accessors below are the one place
    outside `dashboard/study/` and the pipeline that names the format's files."""

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

    def has(self, relative: str) -> bool:
        """Whether the study holds this (optional) file of the format."""
        return relative in self.manifest["files"]

    @cached_property
    def subcomponents(self) -> pd.DataFrame:
        return self.table("subcomponents.parquet")

    @cached_property
    def activations(self) -> ColumnStore:
        return ColumnStore(
            *(self.array(f"activations/{part}.npy") for part in ("indptr", "token_index", "ci"))
        )

    @cached_property
    def token_ids(self) -> np.ndarray:
        """`[windows, length]` token id of every harvested token (memory-mapped)."""
        return self.array("windows/token_ids.npy")

    @cached_property
    def flat_token_ids(self) -> np.ndarray:
        """The token id at every flat position (window * length + offset)."""
        return self.token_ids.reshape(-1)

    @cached_property
    def base_counts(self) -> np.ndarray:
        """How often each vocabulary token occurs in the harvested corpus."""
        return self.table("vocab.parquet", columns=["base_count"])["base_count"].to_numpy()

    @cached_property
    def initial_groups(self) -> np.ndarray:
        """The clustering's group of every subcomponent before any merge (-1: dead)."""
        return np.asarray(self.array("clustering/initial_groups.npy"))

    def token_group_labels(self) -> list[str] | None:
        """The label of every token group (its most frequent members), when stored."""
        if not self.has("analyses/token_group_labels.parquet"):
            return None
        return self.table("analyses/token_group_labels.parquet")["label"].tolist()

    def direction_paths(self) -> pd.DataFrame | None:
        """Per subcomponent (the index): the residual point and path of its read and write
        directions (`read_point`, `read_path`, ...), when the study has lenses."""
        if not self.has("lenses/directions.parquet"):
            return None
        return self.table("lenses/directions.parquet").set_index("subcomponent")

    def stored_member_decodings(self, subcomponent: int) -> pd.DataFrame:
        """The stored lens decodings of one subcomponent's directions (empty if none)."""
        if not self.has("lenses/member_decodings.parquet"):
            return pd.DataFrame()
        return self.table(
            "lenses/member_decodings.parquet", filters=[("subcomponent", "==", subcomponent)]
        )

    def residual_sample(self, point: int) -> np.ndarray | None:
        """`[n, d_model]` sampled residual-stream vectors at one point, when stored."""
        if not self.has("lenses/residual_sample.npy"):
            return None
        return np.asarray(self.array("lenses/residual_sample.npy")[point], np.float32)

    @cached_property
    def window_shape(self) -> tuple[int, int]:
        """(number of windows, window length)."""
        windows, length = self.token_ids.shape
        return int(windows), int(length)

    @cached_property
    def n_merges(self) -> int:
        return pq.read_metadata(self.path / "clustering/merges.parquet").num_rows
