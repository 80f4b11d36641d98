"""The study format, version 1: which files a study holds and what each must contain."""

from __future__ import annotations

from dataclasses import dataclass, field

SCHEMA_VERSION = 1
MANIFEST_NAME = "study.json"
PROVENANCE_KEYS = ("target_model", "decomposition", "dataset", "clustering_config")


@dataclass(frozen=True)
class TableSpec:
    """A Parquet table: required columns and their Arrow type names; extra columns are allowed."""

    path: str
    columns: dict[str, str]
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class ArraySpec:
    """A `.npy` array, memory-mapped on read."""

    path: str
    dtype: str
    ndim: int
    required: bool = True
    description: str = ""


FileSpec = TableSpec | ArraySpec


@dataclass(frozen=True)
class ManifestField:
    name: str
    type: type | tuple[type, ...]
    description: str
    required: bool = True
    children: tuple[ManifestField, ...] = field(default=())


MANIFEST_FIELDS: tuple[ManifestField, ...] = (
    ManifestField("schema_version", int, f"format version; this reader supports {SCHEMA_VERSION}"),
    ManifestField("name", str, "human-readable study name"),
    ManifestField("created_at", str, "ISO 8601 UTC time the study was written"),
    ManifestField(
        "provenance",
        dict,
        "content hashes (sha256 hex) of the inputs",
        children=tuple(ManifestField(key, str, f"sha256 of the {key}") for key in PROVENANCE_KEYS),
    ),
    ManifestField("default_iteration", int, "merge-history iteration the dashboard opens at"),
    ManifestField("files", dict, "every data file: relative path -> {bytes, sha256}"),
    ManifestField(
        "settings", dict, "the harvest and clustering settings the study was built with", False
    ),
)

FILE_SPECS: tuple[FileSpec, ...] = (
    TableSpec(
        "subcomponents.parquet",
        {
            "label": "string",
            "module": "string",
            "index": "int32",
            "layer": "int32",
            "module_kind": "string",
            "firing_frequency": "float",
            "mean_ci": "float",
            "max_ci": "float",
        },
        description="one row per subcomponent, in the study's fixed label order",
    ),
    TableSpec(
        "vocab.parquet",
        {"token_id": "int32", "token": "string", "base_count": "int64"},
        description="the tokenizer's vocabulary with each token's count in the harvested windows",
    ),
    ArraySpec(
        "windows/token_ids.npy",
        "int32",
        2,
        description="[n_windows, window_length] token ids of the harvested text windows",
    ),
    ArraySpec(
        "activations/indptr.npy",
        "int64",
        1,
        description="[n_subcomponents + 1] offsets: subcomponent s owns indptr[s]:indptr[s+1]",
    ),
    ArraySpec(
        "activations/token_index.npy",
        "int32",
        1,
        description="flat position (window * window_length + offset), ascending per subcomponent",
    ),
    ArraySpec(
        "activations/ci.npy",
        "float16",
        1,
        description="causal importance in (threshold, 1] at each stored position",
    ),
    ArraySpec(
        "activations/ci_histograms.npy",
        "int64",
        2,
        required=False,
        description="[n_subcomponents, bins] counts of stored CI, bins even over (threshold, 1]",
    ),
    TableSpec(
        "examples.parquet",
        {
            "subcomponent": "int32",
            "kind": "string",
            "band": "int16",
            "rank": "int16",
            "position": "int32",
            "ci": "float",
        },
        required=False,
        description="example tokens per subcomponent: kind 'top' (band -1) or 'quantile' (band)",
    ),
    ArraySpec(
        "clustering/initial_groups.npy",
        "int32",
        1,
        description="[n_subcomponents] group of each subcomponent before any merge; -1 = dead",
    ),
    TableSpec(
        "clustering/merges.parquet",
        {
            "iteration": "int32",
            "group_a": "int32",
            "group_b": "int32",
            "cost": "double",
            "k_groups": "int32",
        },
        description="one row per merge, in order: groups a and b become a; k_groups after it",
    ),
)

SPECS_BY_PATH: dict[str, FileSpec] = {spec.path: spec for spec in FILE_SPECS}
