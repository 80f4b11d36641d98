"""The analyses of a study: read back what `build` stored, or compute them for any iteration."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from dashboard.analysis.lens_decode import decode_clusters
from dashboard.analysis.lenses import LensMatrices, decoding_arrays
from dashboard.analysis.measures import (
    ClusterAnalyses,
    MeasureInputs,
    analyse_clusters,
    independent_cohesion,
    with_cohesion_null,
)
from dashboard.analysis.sae_features import TopKSae
from dashboard.analysis.stability import ENSEMBLE_FILE, with_stability
from dashboard.study.merge_tree import CLUSTER_IDS
from dashboard.study.reader import Study
from dashboard.study.summary import cluster_assignments

TABLES = ("clusters", "tokens", "members", "coactivation")
ARRAYS = (
    "ci_histogram",
    "window_max_histogram",
    "position_mass",
    "argmax_position",
    "token_group_histogram",
)
DEFAULT_HISTOGRAM_BINS = 20
DECODING_ITEMS = 10  # lens items kept at each end of a cluster's decoding
# What `build` stores about the clusters of one iteration, its `analysis_settings` "iteration"
EXAMPLES_FILE = "analyses/examples.parquet"
ITERATION_FILES = (
    *(f"analyses/{name}.parquet" for name in TABLES),
    EXAMPLES_FILE,
    *(f"analyses/{name}.npy" for name in ARRAYS),
    "analyses/map.parquet",
    "lenses/cluster_decodings.parquet",
)


def has_file(study: Study, relative: str) -> bool:
    return relative in study.manifest["files"]


def analysis_settings(study: Study) -> dict:
    """What `build` recorded about its analyses (iteration, lens reports, ...), or {}."""
    return (study.manifest.get("settings") or {}).get("analyses") or {}


def stored_iteration(study: Study) -> int | None:
    """The iteration whose analyses the study stores, if they name clusters by the ids of
    `dashboard/study/merge_tree.py` (analyses stored before those ids are computed anew)."""
    settings = analysis_settings(study)
    return settings.get("iteration") if settings.get("cluster_ids") == CLUSTER_IDS else None


def measure_inputs(study: Study) -> MeasureInputs:
    settings = study.manifest.get("settings") or {}
    groups = (
        np.asarray(study.array("analyses/token_groups.npy"))
        if has_file(study, "analyses/token_groups.npy")
        else None
    )
    histograms = (
        study.array("activations/ci_histograms.npy")
        if has_file(study, "activations/ci_histograms.npy")
        else None
    )
    store = study.activations
    return MeasureInputs(
        indptr=store.indptr,
        token_index=store.token_index,
        ci=store.ci,
        token_ids=study.token_ids,
        base_count=study.base_counts,
        subcomponents=study.subcomponents,
        threshold=float(settings.get("harvest", {}).get("threshold", 0.0)),
        bins=histograms.shape[1] if histograms is not None else DEFAULT_HISTOGRAM_BINS,
        token_groups=groups,
        n_token_groups=int(groups.max()) + 1 if groups is not None and len(groups) else 0,
    )


def stored_analyses(study: Study) -> ClusterAnalyses | None:
    """The precomputed analyses of the study's default iteration, if `build` stored them."""
    if not has_file(study, "analyses/clusters.parquet"):
        return None
    tables = {name: study.table(f"analyses/{name}.parquet") for name in TABLES}
    arrays = {
        name: np.asarray(study.array(f"analyses/{name}.npy"))
        for name in ARRAYS
        if has_file(study, f"analyses/{name}.npy")
    }
    examples = study.table(EXAMPLES_FILE) if has_file(study, EXAMPLES_FILE) else None
    if "cohesion_null" not in tables["clusters"]:  # stored before the null was measured
        null = independent_cohesion(
            study.activations.indptr,
            cluster_assignments(
                study, analysis_settings(study).get("iteration", study.default_iteration)
            ),
            tables["clusters"]["cluster"].to_numpy(),
            int(np.prod(study.window_shape)),
        )
        tables["clusters"] = with_cohesion_null(tables["clusters"], null)
    if "stability" not in tables["clusters"]:  # stored before stability was measured
        tables["clusters"], tables["members"] = with_stability(
            tables["clusters"], tables["members"], None
        )
    return ClusterAnalyses(**tables, arrays=arrays, examples=examples)


def stability_ensemble(study: Study, iteration: int) -> np.ndarray | None:
    """The study's stability ensemble, if it has one and it was cut for `iteration` (the
    analysed iteration): no other iteration's clusters are measured against it."""
    if iteration != stored_iteration(study) or not has_file(study, ENSEMBLE_FILE):
        return None
    return np.asarray(study.array(ENSEMBLE_FILE))


@lru_cache(maxsize=8)
def _cluster_analyses(study: Study, version: str, iteration: int) -> ClusterAnalyses:
    del version  # keys the cache on the study's content
    if iteration == stored_iteration(study):
        stored = stored_analyses(study)
        if stored is not None:
            return stored
    return analyse_clusters(
        measure_inputs(study),
        cluster_assignments(study, iteration),
        ensemble=stability_ensemble(study, iteration),
    )


def cluster_analyses(study: Study, iteration: int) -> ClusterAnalyses:
    """Every per-cluster measure at `iteration`: stored for the default one, else computed.
    For the command line (autointerp, reports); pages read `dashboard/study_view.py`, whose
    cache also serves other processes."""
    return _cluster_analyses(study, study.version, iteration)


def write_cluster_analyses(write_table, write_array, analyses: ClusterAnalyses) -> None:
    """Store analyses through a `StudyWriter`'s `write_table` / `write_array`."""
    for name in TABLES:
        write_table(f"analyses/{name}.parquet", getattr(analyses, name))
    for name, array in analyses.arrays.items():
        write_array(f"analyses/{name}.npy", array)
    if analyses.examples is not None:
        write_table(EXAMPLES_FILE, analyses.examples)


def lens_matrices(study: Study) -> LensMatrices | None:
    """The stored arrays the lenses decode with (memory-mapped), or None without lenses."""
    matrices = {
        array.name: study.array(array.path)
        for array in decoding_arrays()
        if has_file(study, array.path)
    }
    return matrices or None


def residual_directions(study: Study) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({side: [n_subcomponents, d_model]}, {side: [n_subcomponents] residual point})."""
    table: pd.DataFrame = study.table("lenses/directions.parquet")
    directions = {side: study.array(f"lenses/{side}_directions.npy") for side in ("read", "write")}
    points = {side: table[f"{side}_point"].to_numpy() for side in ("read", "write")}
    return directions, points


def stored_cluster_decodings(study: Study, cluster: int) -> pd.DataFrame | None:
    """The decodings `build` stored for a cluster of its analysed iteration, if it did."""
    if not has_file(study, "lenses/cluster_decodings.parquet"):
        return None
    return study.table("lenses/cluster_decodings.parquet", filters=[("cluster", "==", cluster)])


def computed_decodings(
    study: Study, members: pd.DataFrame, top: int = DECODING_ITEMS
) -> pd.DataFrame:
    """Lens decodings of the clusters of `members` (subcomponent, cluster, share) from the
    stored directions: cluster, side, lens, end, rank, item, score (empty without lenses)."""
    matrices = lens_matrices(study)
    if matrices is None or members.empty:
        return pd.DataFrame(columns=["cluster", "side", "lens", "end", "rank", "item", "score"])
    directions, points = residual_directions(study)
    return decode_clusters(matrices, directions, points, members, top)


def cluster_decodings(
    study: Study, iteration: int, cluster: int, top: int = DECODING_ITEMS
) -> pd.DataFrame:
    """Lens decodings of one cluster: read from the study at its analysed iteration, computed
    from the stored directions at any other one."""
    if iteration == stored_iteration(study):
        stored = stored_cluster_decodings(study, cluster)
        if stored is not None:
            return stored
    members = cluster_analyses(study, iteration).members
    return computed_decodings(study, members[members["cluster"] == cluster], top)


def stored_map(study: Study) -> pd.DataFrame | None:
    """The map of the clusters at the analysed iteration, if `build` stored it."""
    return study.table("analyses/map.parquet") if has_file(study, "analyses/map.parquet") else None


def stored_sae(study: Study, point: int) -> TopKSae | None:
    """The SAE trained at a residual point, or None."""
    if not has_file(study, "lenses/sae_points.npy"):
        return None
    points = np.asarray(study.array("lenses/sae_points.npy")).tolist()
    if point not in points:
        return None
    slot = points.index(point)
    parts = {
        name: np.asarray(study.array(f"lenses/sae_{name}.npy")[slot])
        for name in ("encoder", "encoder_bias", "decoder", "decoder_bias")
    }
    k = int(analysis_settings(study).get("config", {}).get("sae", {}).get("k", 16))
    return TopKSae(**parts, k=k, report={})


def sampled_token_groups(study: Study) -> np.ndarray | None:
    """Token group of every token of the stored residual sample (plane-view colours)."""
    if not has_file(study, "lenses/residual_positions.npy") or not has_file(
        study, "analyses/token_groups.npy"
    ):
        return None
    positions = np.asarray(study.array("lenses/residual_positions.npy"))
    tokens = study.flat_token_ids[positions]
    return np.asarray(study.array("analyses/token_groups.npy"))[tokens]
