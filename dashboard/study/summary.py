"""Small read-outs of a study used by several pages."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from dashboard.study.clusters import assignments_at
from dashboard.study.merge_tree import MergeTree, merge_tree
from dashboard.study.reader import Study


@dataclass(frozen=True)
class StudyCounts:
    subcomponents: int
    alive: int
    modules: int
    windows: int
    window_length: int
    stored_activations: int
    merges: int


def study_counts(study: Study) -> StudyCounts:
    subcomponents = study.subcomponents
    windows, length = study.window_shape
    return StudyCounts(
        subcomponents=len(subcomponents),
        alive=int((study.array("clustering/initial_groups.npy") >= 0).sum()),
        modules=subcomponents["module"].nunique(),
        windows=windows,
        window_length=length,
        stored_activations=len(study.array("activations/ci.npy")),
        merges=study.n_merges,
    )


@lru_cache(maxsize=16)
def _assignments(study: Study, version: str, iteration: int) -> np.ndarray:
    del version  # keys the cache on the study's content
    merges = study.table("clustering/merges.parquet", columns=["group_a", "group_b"])
    return assignments_at(study.array("clustering/initial_groups.npy"), merges, iteration)


def cluster_assignments(study: Study, iteration: int) -> np.ndarray:
    """Cluster id of every subcomponent at `iteration` (-1 = dead), cached per study version."""
    return _assignments(study, study.version, iteration)


def cluster_sizes(study: Study, iteration: int) -> pd.Series:
    """Members per cluster, largest first."""
    assignments = cluster_assignments(study, iteration)
    sizes = pd.Series(assignments[assignments >= 0]).value_counts()
    sizes.index.name = "cluster"
    return sizes.rename("size")


@lru_cache(maxsize=4)
def _vocab_tokens(study: Study, version: str) -> list[str]:
    del version
    return study.table("vocab.parquet", columns=["token"])["token"].tolist()


def vocab_tokens(study: Study) -> list[str]:
    return _vocab_tokens(study, study.version)


@lru_cache(maxsize=4)
def _merge_tree(study: Study, version: str) -> MergeTree:
    del version
    merges = study.table("clustering/merges.parquet", columns=["group_a", "group_b", "cost"])
    return merge_tree(study.array("clustering/initial_groups.npy"), merges)


def study_merge_tree(study: Study) -> MergeTree:
    """The study's merge history as a tree of stable cluster ids, cached per study version."""
    return _merge_tree(study, study.version)


@lru_cache(maxsize=4)
def _mdl_curve(study: Study, version: str) -> tuple[np.ndarray, np.ndarray] | None:
    del version
    merges = study.table("clustering/merges.parquet")
    if "mdl_total" not in merges:
        return None
    return np.arange(1, len(merges) + 1), merges["mdl_total"].to_numpy(np.float64)


def mdl_curve(study: Study) -> tuple[np.ndarray, np.ndarray] | None:
    """MDL total after each iteration (from 1), if the history records it; read once per study
    version (the list page draws it on every visit)."""
    return _mdl_curve(study, study.version)
