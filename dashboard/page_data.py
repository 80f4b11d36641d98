"""What pages and callbacks read, memoized: in this process (lru) and across processes in the
configured cache (FileSystemCache or Redis), keyed by study version, iteration and ids."""

from __future__ import annotations

import threading
from functools import lru_cache

import numpy as np
import pandas as pd

from dashboard.analysis.cluster_examples import (
    ClusterActivation,
    Example,
    activation_in_windows,
    activation_of,
    cluster_examples,
    stored_examples,
)
from dashboard.analysis.cluster_table import cluster_table
from dashboard.analysis.measures import ClusterAnalyses
from dashboard.analysis.study_analyses import (
    cluster_analyses,
    cluster_map_at,
    has_file,
    stored_iteration,
)
from dashboard.app_state import study_by_version
from dashboard.runtime import cache
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments, vocab_tokens
from dashboard.urls import Links, single


def loaded_study(version: str) -> Study:
    """The study a page's store names by version."""
    return study_by_version(version)


def links_of(study: Study, store: dict) -> Links:
    """The internal links of a page whose store names its study and iteration."""
    return Links.of(store, study.default_iteration)


def parse_iteration(study: Study, text: str | list[str] | None) -> int:
    """The `iteration=` of a URL; the study's default when absent. Raises ValueError if bad."""
    value = single(text)
    if value is None or value == "":
        return study.default_iteration
    if not value.isdigit() or int(value) > study.n_merges:
        raise ValueError(
            f"iteration {value!r} is not in the merge history: use 0 to {study.n_merges}"
        )
    return int(value)


def is_stored(study: Study, iteration: int) -> bool:
    return iteration == stored_iteration(study)


def one_at_a_time(key: tuple) -> threading.Lock:
    """The lock under which this process computes `key` (a page's callbacks all ask for the
    same analyses at once: one computes, the others then read the cache)."""
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


_locks_guard = threading.Lock()
_locks: dict[tuple, threading.Lock] = {}


@cache.memoize()
def computed_analyses(version: str, iteration: int) -> ClusterAnalyses:
    return cluster_analyses(loaded_study(version), iteration)


def analyses_at(study: Study, iteration: int) -> ClusterAnalyses:
    """Stored analyses at the analysed iteration (read once per process), else computed once."""
    if is_stored(study, iteration) and has_file(study, "analyses/clusters.parquet"):
        return cluster_analyses(study, iteration)
    with one_at_a_time(("analyses", study.version, iteration)):
        return computed_analyses(study.version, iteration)


@lru_cache(maxsize=8)
def list_table(version: str, iteration: int) -> pd.DataFrame:
    """The list page's table (measures, modules, sparklines, top tokens) at one iteration."""
    study = loaded_study(version)
    return cluster_table(analyses_at(study, iteration), study.subcomponents, vocab_tokens(study))


@cache.memoize()
def computed_map(version: str, iteration: int) -> pd.DataFrame:
    return cluster_map_at(loaded_study(version), iteration)


def map_at(study: Study, iteration: int) -> pd.DataFrame:
    if is_stored(study, iteration):
        return cluster_map_at(study, iteration)
    analyses_at(study, iteration)  # the map is made from them: computed once, under their lock
    with one_at_a_time(("map", study.version, iteration)):
        return computed_map(study.version, iteration)


def warm_list(study: Study) -> bool:
    """Read the list's table and map at the study's default iteration into this process, when
    the study stores them, so that its first visitor does not wait for the reading; whether it
    did."""
    iteration = study.default_iteration
    if not is_stored(study, iteration):
        return False
    list_table(study.version, iteration)
    map_at(study, iteration)
    return True


def members_of(study: Study, iteration: int, cluster: int) -> np.ndarray:
    """Subcomponent indices of a cluster at an iteration (empty when there is no such cluster)."""
    return np.flatnonzero(cluster_assignments(study, iteration) == cluster)


def examples_of(
    study: Study, iteration: int, cluster: int
) -> tuple[list[Example], ClusterActivation]:
    """A cluster's examples, and its activation on (at least) their windows: stored examples
    need only those windows read; without them, its activation on every token is folded."""
    analyses = analyses_at(study, iteration)
    _, length = study.window_shape
    if analyses.examples is None:
        activation = cluster_activation(study.version, iteration, cluster)
        return cluster_examples(activation, length), activation
    examples = stored_examples(analyses.examples, cluster)
    activation = activation_in_windows(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        study.array("activations/ci.npy"),
        members_of(study, iteration, cluster),
        [example.window for example in examples],
        length,
    )
    return examples, activation


@lru_cache(maxsize=32)
def cluster_activation(version: str, iteration: int, cluster: int) -> ClusterActivation:
    study = loaded_study(version)
    return activation_of(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        study.array("activations/ci.npy"),
        members_of(study, iteration, cluster),
    )
