"""The study format, version 1: which files a study holds and what each must contain."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.analysis.lenses import LensArray, LensFile, lens_files

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
    ArraySpec(
        "clustering/ensemble.npy",
        "int32",
        2,
        required=False,
        description="[runs, n_subcomponents] the stability ensemble's clusterings; -1 = unseen",
    ),
)


def analysis_array(name: str, dtype: str, ndim: int, description: str) -> ArraySpec:
    return ArraySpec(f"analyses/{name}.npy", dtype, ndim, required=False, description=description)


def lens_array(name: str, dtype: str, ndim: int, description: str) -> ArraySpec:
    return ArraySpec(f"lenses/{name}.npy", dtype, ndim, required=False, description=description)


def lens_file_spec(declared: LensFile) -> FileSpec:
    """The spec of a file a lens of the registry declares (`dashboard/analysis/lenses.py`)."""
    if isinstance(declared, LensArray):
        return lens_array(declared.name, declared.dtype, declared.ndim, declared.description)
    return TableSpec(
        declared.path, dict(declared.columns), required=False, description=declared.description
    )


# What `build` precomputes for the default iteration (docs/analyses.md); rows of every
# `analyses/*.npy` follow the ascending cluster ids of `analyses/clusters.parquet`.
ANALYSIS_SPECS: tuple[FileSpec, ...] = (
    TableSpec(
        "analyses/clusters.parquet",
        {"cluster": "int32", "size": "int64", "firing_frequency": "double"},
        required=False,
        description="one row of per-cluster measures per cluster of the default iteration",
    ),
    TableSpec(
        "analyses/tokens.parquet",
        {
            "cluster": "int32",
            "ranking": "string",
            "rank": "int16",
            "token_id": "int32",
            "count": "int64",
            "mass": "double",
            "base_frequency": "double",
            "pmi": "double",
        },
        required=False,
        description="top tokens per cluster by count and by activation mass",
    ),
    TableSpec(
        "analyses/members.parquet",
        {"subcomponent": "int32", "cluster": "int32", "mass": "double", "share": "double"},
        required=False,
        description="each alive subcomponent's CI mass and share of its cluster's member mass",
    ),
    TableSpec(
        "analyses/coactivation.parquet",
        {
            "cluster": "int32",
            "other": "int32",
            "rank": "int16",
            "count": "int64",
            "jaccard": "double",
        },
        required=False,
        description="the most coactivating other clusters of each cluster",
    ),
    TableSpec(
        "analyses/examples.parquet",
        {
            "cluster": "int32",
            "kind": "string",
            "band": "int16",
            "window": "int64",
            "offset": "int32",
            "activation": "float",
        },
        required=False,
        description="each cluster's top and quantile-band examples, as its page shows them",
    ),
    analysis_array("ci_histogram", "int64", 2, "[clusters, bins] activation histogram"),
    analysis_array("window_max_histogram", "int64", 2, "[clusters, bins] per-window maxima"),
    analysis_array("position_mass", "float64", 2, "[clusters, window_length] activation mass"),
    analysis_array("argmax_position", "int64", 2, "[clusters, window_length] argmax offsets"),
    analysis_array("token_group_histogram", "int64", 2, "[clusters, groups] firing tokens"),
    analysis_array("token_groups", "int32", 1, "[vocab] embedding k-means group of each token"),
    TableSpec(
        "analyses/token_group_labels.parquet",
        {"group": "int32", "label": "string", "size": "int64"},
        required=False,
        description="each token group labelled by its most frequent member tokens",
    ),
    TableSpec(
        "analyses/map.parquet",
        {
            "cluster": "int32",
            "x": "double",
            "y": "double",
            "z": "double",
            "x2": "double",
            "y2": "double",
        },
        required=False,
        description="3D and 2D UMAP coordinates of every cluster",
    ),
    TableSpec(
        "lenses/directions.parquet",
        {
            "subcomponent": "int32",
            "read_point": "int32",
            "read_path": "string",
            "write_point": "int32",
            "write_path": "string",
        },
        required=False,
        description="residual point and composition path of every read and write direction",
    ),
    lens_array("read_directions", "float32", 2, "[subcomponents, d_model], NaN: no path"),
    lens_array("write_directions", "float32", 2, "[subcomponents, d_model], NaN: no path"),
    # the files of each lens, as the lens registry declares them
    *(lens_file_spec(declared) for declared in lens_files()),
    lens_array("residual_sample", "float16", 3, "[points, n, d] residual stream sample"),
    lens_array("residual_positions", "int64", 1, "[n] flat token positions of the sample"),
    TableSpec(
        "lenses/member_decodings.parquet",
        {
            "subcomponent": "int32",
            "side": "string",
            "lens": "string",
            "end": "string",
            "rank": "int16",
            "item": "int32",
            "score": "float",
        },
        required=False,
        description="top and bottom lens items of every member's read and write direction",
    ),
    TableSpec(
        "lenses/cluster_decodings.parquet",
        {
            "cluster": "int32",
            "side": "string",
            "lens": "string",
            "end": "string",
            "rank": "int16",
            "item": "int32",
            "score": "float",
        },
        required=False,
        description="the same, for each cluster's share-weighted members",
    ),
)

FILE_SPECS += ANALYSIS_SPECS

SPECS_BY_PATH: dict[str, FileSpec] = {spec.path: spec for spec in FILE_SPECS}
