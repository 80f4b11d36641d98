"""What pages and callbacks read of a study at one iteration: `StudyView`, behind one cache
policy (`per_study`). Pages and callbacks name no file of the study format: they read through
the view, or through `Study`'s typed accessors (`dashboard/study/reader.py`).

The cache policy, the same embedded and scaled: a result is keyed by study version, then its
other arguments (iteration, ids), and kept in this process (an LRU). What is costly to compute
at an iteration the study does not store (its analyses, its map) is also kept in the
configured shared cache (files embedded, Redis scaled), computed by one request of a process at
a time while the others wait for it and then read it. Outside a served app (the command
line, a test) only this process keeps it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache, wraps
from typing import ParamSpec, TypeVar

import numpy as np
import pandas as pd
from flask import has_app_context

from dashboard.analysis.activity import (
    ClusterActivation,
    activation_in_windows,
    cluster_activation,
    window_entries,
)
from dashboard.analysis.cluster_examples import Example, cluster_examples, stored_examples
from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.cluster_table import cluster_table
from dashboard.analysis.component_tokens import firing_token_table
from dashboard.analysis.measures import ClusterAnalyses, analyse_clusters
from dashboard.analysis.study_analyses import (
    computed_decodings,
    measure_inputs,
    stability_ensemble,
    stored_analyses,
    stored_cluster_decodings,
    stored_iteration,
    stored_map,
)
from dashboard.app_state import remember_study, study_by_version
from dashboard.runtime import cache
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments, vocab_tokens
from dashboard.urls import Links, single

Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")


def per_study(
    maxsize: int = 32, shared: bool = False
) -> Callable[[Callable[Arguments, Result]], Callable[Arguments, Result]]:
    """Memoize a function whose first argument is a study version (see the module docstring);
    `shared`: also in the configured cache, computed once at a time per process."""

    def decorate(function: Callable[Arguments, Result]) -> Callable[Arguments, Result]:
        if not shared:
            return lru_cache(maxsize=maxsize)(function)
        across_processes = cache.memoize()(function)

        @lru_cache(maxsize=maxsize)
        @wraps(function)
        def once(*args):
            if not has_app_context():  # the command line, a test: this process only
                return function(*args)
            with one_at_a_time((function.__qualname__, *args)):
                return across_processes(*args)

        return once

    return decorate


def one_at_a_time(key: tuple) -> threading.Lock:
    """The lock under which this process computes `key` (a page's callbacks all ask for the
    same analyses at once: one computes, the others then read the cache)."""
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


_locks_guard = threading.Lock()
_locks: dict[tuple, threading.Lock] = {}


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


@dataclass(frozen=True)
class StudyView:
    """A study at one iteration of its merge history, as pages read it: stored where `build`
    stored it, computed on demand (and cached) anywhere else."""

    study: Study
    iteration: int

    def __post_init__(self) -> None:
        remember_study(self.study)  # the cached readers below find it by its version

    @classmethod
    def of(cls, store: dict) -> StudyView:
        """The view a page's store names (`version`, `iteration`)."""
        return cls(loaded_study(store["version"]), store["iteration"])

    @property
    def version(self) -> str:
        return self.study.version

    @property
    def is_stored(self) -> bool:
        """Whether `build` stored the analyses of this iteration."""
        return self.iteration == stored_iteration(self.study)

    def assignments(self) -> np.ndarray:
        """Cluster id of every subcomponent (-1: dead)."""
        return cluster_assignments(self.study, self.iteration)

    def members(self, cluster: int) -> np.ndarray:
        """Subcomponent indices of a cluster (empty when there is no such cluster)."""
        return np.flatnonzero(self.assignments() == cluster)

    def analyses(self) -> ClusterAnalyses:
        """Every per-cluster measure: read once per process where stored, else computed once."""
        return analyses_at(self.version, self.iteration)

    def list_table(self) -> pd.DataFrame:
        """The list page's table (measures, modules, sparklines, top tokens)."""
        return list_table_at(self.version, self.iteration)

    def map(self) -> pd.DataFrame:
        """The 3D/2D map of the clusters (UMAP runs when it is not stored)."""
        return map_at(self.version, self.iteration)

    def activation(self, cluster: int) -> ClusterActivation:
        """A cluster's activation on every token."""
        return activation_at(self.version, self.iteration, cluster)

    def examples(self, cluster: int) -> tuple[list[Example], ClusterActivation]:
        """A cluster's examples, and its activation on (at least) their windows: stored examples
        need only those windows read; without them, its activation on every token is folded."""
        analyses = self.analyses()
        _, length = self.study.window_shape
        if analyses.examples is None:
            activation = self.activation(cluster)
            return cluster_examples(activation, length), activation
        examples = stored_examples(analyses.examples, cluster)
        activation = activation_in_windows(
            self.study.activations,
            self.members(cluster),
            [example.window for example in examples],
            length,
        )
        return examples, activation

    def decodings(self, cluster: int) -> pd.DataFrame:
        """Lens decodings of a cluster's directions: side, lens, end, rank, item, score."""
        if self.is_stored:
            stored = stored_cluster_decodings(self.study, cluster)
            if stored is not None:
                return stored
        members = self.analyses().members
        return computed_decodings(self.study, members[members["cluster"] == cluster])

    def window_entries(self, window: int) -> pd.DataFrame:
        """Every stored entry in a window: offset, subcomponent, cluster (-1: dead), ci."""
        _, length = self.study.window_shape
        return window_entries(self.study.activations, window, length, self.assignments())

    def token(self, window: int, offset: int) -> str:
        """The text of one harvested token."""
        return vocab_tokens(self.study)[int(self.study.token_ids[window, offset])]

    def window_tokens(self, window: int) -> list[str]:
        """The text of every token of a window."""
        tokens = vocab_tokens(self.study)
        return [tokens[token_id] for token_id in self.study.token_ids[window].tolist()]


def component_tokens(study: Study, subcomponent: int) -> pd.DataFrame:
    """The tokens one subcomponent fires on (see `firing_token_table`)."""
    positions, values = study.activations.column(subcomponent)
    return firing_token_table(
        study.flat_token_ids[positions], values, study.base_counts, vocab_tokens(study)
    )


@per_study(maxsize=8)
def analyses_at(version: str, iteration: int) -> ClusterAnalyses:
    study = loaded_study(version)
    if iteration == stored_iteration(study):
        stored = stored_analyses(study)
        if stored is not None:
            return stored
    return computed_analyses(version, iteration)


@per_study(maxsize=8, shared=True)
def computed_analyses(version: str, iteration: int) -> ClusterAnalyses:
    study = loaded_study(version)
    return analyse_clusters(
        measure_inputs(study),
        cluster_assignments(study, iteration),
        ensemble=stability_ensemble(study, iteration),
    )


@per_study(maxsize=8)
def list_table_at(version: str, iteration: int) -> pd.DataFrame:
    study = loaded_study(version)
    analyses = analyses_at(version, iteration)
    return cluster_table(analyses, study.subcomponents, vocab_tokens(study))


@per_study(maxsize=4)
def map_at(version: str, iteration: int) -> pd.DataFrame:
    study = loaded_study(version)
    if iteration == stored_iteration(study):
        stored = stored_map(study)
        if stored is not None:
            return stored
    analyses_at(version, iteration)  # the map is made from them: computed once, under their lock
    return computed_map(version, iteration)


@per_study(maxsize=4, shared=True)
def computed_map(version: str, iteration: int) -> pd.DataFrame:
    study = loaded_study(version)
    analyses = analyses_at(version, iteration)
    return cluster_map(analyses.clusters, analyses.members, study.subcomponents, analyses.arrays)


@per_study(maxsize=32)
def activation_at(version: str, iteration: int, cluster: int) -> ClusterActivation:
    view = StudyView(loaded_study(version), iteration)
    return cluster_activation(view.study.activations, view.members(cluster))


def warm_list(study: Study) -> bool:
    """Read the list's table and map at the study's default iteration into this process, when
    the study stores them, so that its first visitor does not wait for the reading; whether it
    did."""
    view = StudyView(study, study.default_iteration)
    if not view.is_stored:
        return False
    view.list_table()
    view.map()
    return True
