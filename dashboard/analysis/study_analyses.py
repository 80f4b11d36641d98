"""The analyses of a study: read back what `build` stored, or compute them for any iteration."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from dashboard.analysis.lens_decode import LensMatrices
from dashboard.analysis.measures import ClusterAnalyses, MeasureInputs, analyse_clusters
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


def has_file(study: Study, relative: str) -> bool:
    return relative in study.manifest["files"]


def analysis_settings(study: Study) -> dict:
    """What `build` recorded about its analyses (iteration, lens reports, ...), or {}."""
    return (study.manifest.get("settings") or {}).get("analyses") or {}


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
    return MeasureInputs(
        indptr=study.array("activations/indptr.npy"),
        token_index=study.array("activations/token_index.npy"),
        ci=study.array("activations/ci.npy"),
        token_ids=study.array("windows/token_ids.npy"),
        base_count=study.table("vocab.parquet", columns=["base_count"])["base_count"].to_numpy(),
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
    return ClusterAnalyses(**tables, arrays=arrays)


@lru_cache(maxsize=8)
def _cluster_analyses(study: Study, version: str, iteration: int) -> ClusterAnalyses:
    del version  # keys the cache on the study's content
    if iteration == analysis_settings(study).get("iteration"):
        stored = stored_analyses(study)
        if stored is not None:
            return stored
    return analyse_clusters(measure_inputs(study), cluster_assignments(study, iteration))


def cluster_analyses(study: Study, iteration: int) -> ClusterAnalyses:
    """Every per-cluster measure at `iteration`: stored for the default one, else computed."""
    return _cluster_analyses(study, study.version, iteration)


def write_cluster_analyses(write_table, write_array, analyses: ClusterAnalyses) -> None:
    """Store analyses through a `StudyWriter`'s `write_table` / `write_array`."""
    for name in TABLES:
        write_table(f"analyses/{name}.parquet", getattr(analyses, name))
    for name, array in analyses.arrays.items():
        write_array(f"analyses/{name}.npy", array)


def lens_matrices(study: Study) -> LensMatrices | None:
    if not has_file(study, "lenses/logit.npy"):
        return None
    return LensMatrices(
        logit=study.array("lenses/logit.npy"),
        embedding=study.array("lenses/embedding.npy"),
        tuned_weights=study.array("lenses/tuned_weights.npy"),
        sae_points=np.asarray(study.array("lenses/sae_points.npy")),
        sae_decoder=study.array("lenses/sae_decoder.npy"),
    )


def residual_directions(study: Study) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """({side: [n_subcomponents, d_model]}, {side: [n_subcomponents] residual point})."""
    table: pd.DataFrame = study.table("lenses/directions.parquet")
    directions = {side: study.array(f"lenses/{side}_directions.npy") for side in ("read", "write")}
    points = {side: table[f"{side}_point"].to_numpy() for side in ("read", "write")}
    return directions, points
