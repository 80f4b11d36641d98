"""Check a study directory against the schema; every problem names its file and field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from dashboard.study.provenance import sha256_file
from dashboard.study.schema import (
    FILE_SPECS,
    MANIFEST_FIELDS,
    MANIFEST_NAME,
    SCHEMA_VERSION,
    ArraySpec,
    ManifestField,
    TableSpec,
)

# Arrow spells some types two ways; both are accepted for the schema's name.
ARROW_TYPE_ALIASES = {"string": {"string", "large_string"}}


@dataclass(frozen=True)
class Problem:
    file: str
    field: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else self.file
        return f"{where}: {self.message}"


class StudyValidationError(ValueError):
    """A study directory does not match the format; `problems` lists every mismatch."""

    def __init__(self, path: Path, problems: list[Problem]):
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {problem}" for problem in problems)
        super().__init__(f"study {path} is not valid ({len(problems)} problem(s)):\n{lines}")


def validate_study(path: Path, deep: bool = True) -> list[Problem]:
    """Return every problem found; `deep` also checks hashes and scans values."""
    path = Path(path)
    if not path.is_dir():
        return [Problem(str(path), None, "not a directory")]
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        return [Problem(MANIFEST_NAME, None, "missing: a study directory needs a manifest")]
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return [Problem(MANIFEST_NAME, None, f"unreadable JSON ({error})")]
    problems = check_manifest(manifest)
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        return problems
    if not isinstance(manifest.get("files"), dict):
        return problems
    problems += check_listed_files(path, manifest["files"], deep)
    problems += check_file_formats(path, manifest["files"])
    if not problems:  # cross-file checks need every file readable and the manifest whole
        problems += check_consistency(path, manifest, deep)
    return problems


def check_manifest(manifest: Any) -> list[Problem]:
    if not isinstance(manifest, dict):
        return [Problem(MANIFEST_NAME, None, "must be a JSON object")]
    problems = check_fields(manifest, MANIFEST_FIELDS, prefix="")
    version = manifest.get("schema_version")
    if isinstance(version, int) and version != SCHEMA_VERSION:
        problems.append(
            Problem(
                MANIFEST_NAME,
                "schema_version",
                f"is {version}, this version of SPD Atlas reads schema version {SCHEMA_VERSION}",
            )
        )
    return problems


def check_fields(obj: dict, fields: tuple[ManifestField, ...], prefix: str) -> list[Problem]:
    problems = []
    for spec in fields:
        name = f"{prefix}{spec.name}"
        if spec.name not in obj:
            if spec.required:
                problems.append(Problem(MANIFEST_NAME, name, f"missing ({spec.description})"))
            continue
        value = obj[spec.name]
        # bool is an int in Python; the format never means a bool where it says int.
        if isinstance(value, bool) or not isinstance(value, spec.type):
            expected = getattr(spec.type, "__name__", str(spec.type))
            problems.append(
                Problem(MANIFEST_NAME, name, f"is {json.dumps(value)[:60]}, expected {expected}")
            )
            continue
        if spec.children:
            problems += check_fields(value, spec.children, prefix=f"{name}.")
    return problems


def check_listed_files(root: Path, files: dict, deep: bool) -> list[Problem]:
    problems = []
    for spec in FILE_SPECS:
        if spec.required and spec.path not in files:
            problems.append(
                Problem(MANIFEST_NAME, f"files.{spec.path}", "missing from the manifest")
            )
    for rel, entry in files.items():
        relative = PurePosixPath(rel)
        if relative.is_absolute() or ".." in relative.parts:
            problems.append(Problem(MANIFEST_NAME, f"files.{rel}", "must stay inside the study"))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("bytes"), int):
            problems.append(Problem(MANIFEST_NAME, f"files.{rel}", "needs {bytes, sha256}"))
            continue
        file_path = root / rel
        if not file_path.is_file():
            problems.append(Problem(rel, None, "missing (listed in the manifest)"))
            continue
        size = file_path.stat().st_size
        if size != entry["bytes"]:
            problems.append(
                Problem(rel, None, f"is {size} bytes, the manifest says {entry['bytes']}")
            )
        elif deep and sha256_file(file_path) != entry.get("sha256"):
            problems.append(Problem(rel, None, "content does not match its sha256 in the manifest"))
    return problems


def check_file_formats(root: Path, files: dict) -> list[Problem]:
    problems = []
    for spec in FILE_SPECS:
        file_path = root / spec.path
        if spec.path not in files or not file_path.is_file():
            continue
        if isinstance(spec, TableSpec):
            problems += check_table(file_path, spec)
        else:
            problems += check_array(file_path, spec)
    return problems


def check_table(file_path: Path, spec: TableSpec) -> list[Problem]:
    try:
        schema = pq.read_schema(file_path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        return [Problem(spec.path, None, f"not a readable Parquet file ({error})")]
    problems = []
    for column, expected in spec.columns.items():
        if column not in schema.names:
            problems.append(Problem(spec.path, column, f"missing column (expected {expected})"))
            continue
        actual = str(schema.field(column).type)
        if actual not in ARROW_TYPE_ALIASES.get(expected, {expected}):
            problems.append(Problem(spec.path, column, f"has type {actual}, expected {expected}"))
    return problems


def read_npy_header(file_path: Path) -> tuple[np.dtype, tuple[int, ...]]:
    """Read dtype and shape from a `.npy` header without loading the data."""
    with open(file_path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        reader = {
            (1, 0): np.lib.format.read_array_header_1_0,
            (2, 0): np.lib.format.read_array_header_2_0,
        }.get(version)
        if reader is None:
            raise ValueError(f"unsupported .npy version {version}")
        shape, _, dtype = reader(handle)
    return dtype, shape


def check_array(file_path: Path, spec: ArraySpec) -> list[Problem]:
    try:
        dtype, shape = read_npy_header(file_path)
    except Exception as error:  # numpy raises ValueError or others for a damaged header
        return [Problem(spec.path, None, f"not a readable .npy file ({error})")]
    problems = []
    if dtype != np.dtype(spec.dtype):
        problems.append(Problem(spec.path, "dtype", f"is {dtype}, expected {spec.dtype}"))
    if len(shape) != spec.ndim:
        problems.append(
            Problem(spec.path, "shape", f"is {shape}, expected {spec.ndim} dimension(s)")
        )
    return problems


def check_consistency(root: Path, manifest: dict, deep: bool) -> list[Problem]:
    """Checks across files: lengths that must agree, and (deep) value ranges."""
    subcomponents = pq.read_table(
        root / "subcomponents.parquet", columns=["label", "module", "index"]
    )
    vocab_rows = pq.read_metadata(root / "vocab.parquet").num_rows
    merges = pq.read_table(root / "clustering/merges.parquet").to_pandas()
    token_ids = np.load(root / "windows/token_ids.npy", mmap_mode="r")
    indptr = np.load(root / "activations/indptr.npy", mmap_mode="r")
    token_index = np.load(root / "activations/token_index.npy", mmap_mode="r")
    ci = np.load(root / "activations/ci.npy", mmap_mode="r")
    groups = np.load(root / "clustering/initial_groups.npy", mmap_mode="r")
    n_sub = subcomponents.num_rows
    problems = []

    def expect(ok: bool, file: str, field: str | None, message: str) -> None:
        if not ok:
            problems.append(Problem(file, field, message))

    expect(
        len(indptr) == n_sub + 1,
        "activations/indptr.npy",
        "shape",
        f"has {len(indptr)} entries, expected n_subcomponents + 1 = {n_sub + 1}",
    )
    expect(
        len(token_index) == len(ci),
        "activations/ci.npy",
        "shape",
        f"has {len(ci)} entries, token_index.npy has {len(token_index)}",
    )
    expect(
        len(indptr) == 0 or int(indptr[-1]) == len(ci),
        "activations/indptr.npy",
        "values",
        f"last offset {int(indptr[-1]) if len(indptr) else None} != {len(ci)} stored entries",
    )
    expect(
        len(groups) == n_sub,
        "clustering/initial_groups.npy",
        "shape",
        f"has {len(groups)} entries, expected one per subcomponent ({n_sub})",
    )
    expect(
        0 <= manifest["default_iteration"] <= len(merges),
        MANIFEST_NAME,
        "default_iteration",
        f"is {manifest['default_iteration']}, the merge history has {len(merges)} merges",
    )
    expect(
        bool((merges["iteration"].to_numpy() == np.arange(len(merges))).all()),
        "clustering/merges.parquet",
        "iteration",
        "must count 0, 1, 2, ... in order",
    )
    if problems or not deep:
        return problems

    labels = subcomponents.column("label").to_pylist()
    expected_labels = [
        f"{module}:{index}"
        for module, index in zip(
            subcomponents.column("module").to_pylist(),
            subcomponents.column("index").to_pylist(),
            strict=True,
        )
    ]
    expect(
        labels == expected_labels, "subcomponents.parquet", "label", "must equal '<module>:<index>'"
    )
    expect(len(set(labels)) == n_sub, "subcomponents.parquet", "label", "labels must be unique")
    expect(
        token_ids.size == 0 or (int(token_ids.min()) >= 0 and int(token_ids.max()) < vocab_rows),
        "windows/token_ids.npy",
        "values",
        f"token ids must lie in [0, {vocab_rows}) (the vocabulary size)",
    )
    expect(
        bool((np.diff(indptr) >= 0).all()), "activations/indptr.npy", "values", "must not decrease"
    )
    expect(
        len(token_index) == 0
        or (int(token_index.min()) >= 0 and int(token_index.max()) < token_ids.size),
        "activations/token_index.npy",
        "values",
        f"positions must lie in [0, {token_ids.size}) (windows x window length)",
    )
    steps = np.diff(token_index.astype(np.int64))
    boundaries = np.asarray(indptr[1:-1]) - 1
    steps_inside = np.delete(steps, boundaries[(boundaries >= 0) & (boundaries < len(steps))])
    expect(
        bool((steps_inside > 0).all()),
        "activations/token_index.npy",
        "values",
        "positions must ascend strictly within each subcomponent",
    )
    expect(
        len(ci) == 0 or (float(ci.min()) > 0 and float(ci.max()) <= 1),
        "activations/ci.npy",
        "values",
        "causal importances must lie in (0, 1]",
    )
    alive_groups = np.asarray(groups)[np.asarray(groups) >= 0]
    expect(
        bool((groups >= -1).all()) and len(np.unique(alive_groups)) == len(alive_groups),
        "clustering/initial_groups.npy",
        "values",
        "each alive subcomponent starts in its own group (ids >= 0, distinct); -1 marks dead ones",
    )
    known = set(alive_groups.tolist())
    for row in merges.itertuples():
        if row.group_a not in known or row.group_b not in known or row.group_a >= row.group_b:
            problems.append(
                Problem(
                    "clustering/merges.parquet",
                    f"row {row.iteration}",
                    f"merges groups {row.group_a} and {row.group_b}: "
                    "both must exist at that point and group_a < group_b",
                )
            )
            break
        known.discard(row.group_b)
        expect(
            row.k_groups == len(known),
            "clustering/merges.parquet",
            f"row {row.iteration}",
            f"k_groups is {row.k_groups}, {len(known)} groups remain",
        )
    return problems
