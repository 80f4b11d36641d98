"""Clusterings made by goodfire-ai/spd, mapped onto a study's subcomponents by label.

Three inputs: a `cluster_mapping_<id>.json` (one partition), a run's `history.zip` (the merge
sequence), an ensemble's `ensemble_merge_array.npz` + `ensemble_meta.json` (one run's sequence).
spd lists labels in its own order and leaves dead subcomponents out, so everything is matched by
label, never by position. Each becomes this project's form: initial groups plus merges.
"""

from __future__ import annotations

import json
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.lens_decode import decode_clusters
from dashboard.analysis.measures import analyse_clusters
from dashboard.analysis.stability import ENSEMBLE_FILE
from dashboard.analysis.study_analyses import (
    DECODING_ITEMS,
    ITERATION_FILES,
    analysis_settings,
    lens_matrices,
    measure_inputs,
    residual_directions,
    write_cluster_analyses,
)
from dashboard.study import Study, StudyWriter
from dashboard.study.clusters import assignments_at
from dashboard.study.merge_tree import CLUSTER_IDS
from dashboard.study.provenance import sha256_directory, sha256_file

MERGE_COLUMNS = ["iteration", "group_a", "group_b", "cost", "k_groups", "mdl_total"]


class ClusteringImportError(ValueError):
    """A clustering file that does not fit the study, with the reason."""


def label_positions(study_labels: list[str], labels: list[str], source: str) -> np.ndarray:
    index = {label: position for position, label in enumerate(study_labels)}
    unknown = [label for label in labels if label not in index]
    if unknown:
        shown = ", ".join(unknown[:5]) + (
            f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise ClusteringImportError(
            f"{source}: {len(unknown)} label(s) are not subcomponents of this study: {shown}"
        )
    return np.array([index[label] for label in labels], dtype=np.int64)


def initial_groups_for(n_subcomponents: int, members: np.ndarray) -> np.ndarray:
    """One group per listed member, numbered in study order; the rest are dead (-1)."""
    initial = np.full(n_subcomponents, -1, dtype=np.int32)
    ordered = np.sort(members)
    initial[ordered] = np.arange(len(ordered), dtype=np.int32)
    return initial


def merge_table(rows: list[tuple[int, int]], n_groups: int) -> pd.DataFrame:
    """Imported merges carry no cost; `k_groups` counts down from the number of groups."""
    table = pd.DataFrame(
        [(t, a, b, np.nan, n_groups - t - 1, np.nan) for t, (a, b) in enumerate(rows)],
        columns=MERGE_COLUMNS,
    )
    return table.astype(
        {"iteration": "int32", "group_a": "int32", "group_b": "int32", "k_groups": "int32"}
    )


def history_from_partitions(
    n_subcomponents: int, members: np.ndarray, partitions: np.ndarray
) -> tuple[np.ndarray, pd.DataFrame]:
    """Rows of group ids over `members` (the state after each merge, starting from singletons)
    -> initial groups and the merges, in this project's persistent group ids."""
    initial = initial_groups_for(n_subcomponents, members)
    persistent = initial[members].copy()
    previous = np.arange(len(members))
    rows = []
    for step, row in enumerate(partitions):
        links = np.unique(np.stack([row, previous]), axis=1)
        new_ids, counts = np.unique(links[0], return_counts=True)
        if len(new_ids) != len(np.unique(previous)) - 1 or counts.max() != 2:
            raise ClusteringImportError(f"iteration {step} is not exactly one merge of two groups")
        merged = new_ids[counts == 2][0]
        old_a, old_b = links[1][links[0] == merged]
        a, b = sorted(
            (int(persistent[previous == old_a][0]), int(persistent[previous == old_b][0]))
        )
        persistent[persistent == b] = a
        rows.append((a, b))
        previous = row
    return initial, merge_table(rows, len(members))


def import_mapping(path: Path, study_labels: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """`cluster_mapping_*.json`: `clusters: {label: group | null}`; null = a singleton."""
    try:
        data = json.loads(path.read_text())
        clusters = data["clusters"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise ClusteringImportError(f"{path}: not a cluster mapping ({error})") from error
    labels = list(clusters)
    members = label_positions(study_labels, labels, str(path))
    initial = initial_groups_for(len(study_labels), members)
    by_group: dict[object, list[int]] = {}
    for label, position in zip(labels, members.tolist(), strict=True):
        if clusters[label] is not None:
            by_group.setdefault(clusters[label], []).append(int(initial[position]))
    rows = []
    for ids in by_group.values():
        first, *rest = sorted(ids)
        rows += [(first, other) for other in rest]
    return initial, merge_table(rows, len(members))


def import_history(path: Path, study_labels: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    """A run's `history.zip`: `labels.txt` and `merge.group_idxs.npy` (state after each merge)."""
    try:
        with zipfile.ZipFile(path) as archive:
            labels = [label for label in archive.read("labels.txt").decode().split("\n") if label]
            group_idxs = np.load(archive.open("merge.group_idxs.npy"))
    except (OSError, KeyError, zipfile.BadZipFile, ValueError) as error:
        raise ClusteringImportError(f"{path}: not an spd merge history ({error})") from error
    members = label_positions(study_labels, labels, str(path))
    filled = group_idxs[(group_idxs >= 0).all(axis=1)]  # an early stop leaves rows of -1
    return history_from_partitions(len(study_labels), members, filled)


def read_ensemble(directory: Path, study_labels: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """An ensemble's merge array (`[runs, iterations, labels]`: each run's group ids after each
    merge, rows of -1 after an early stop) and the study subcomponent of each label."""
    try:
        meta = json.loads((directory / "ensemble_meta.json").read_text())
        with np.load(directory / "ensemble_merge_array.npz") as saved:
            merge_array = saved["merge_array"]
    except (OSError, KeyError, json.JSONDecodeError, ValueError) as error:
        raise ClusteringImportError(f"{directory}: not an spd ensemble ({error})") from error
    return merge_array, label_positions(study_labels, meta["component_labels"], str(directory))


def import_ensemble(
    directory: Path, study_labels: list[str], run: int
) -> tuple[np.ndarray, pd.DataFrame]:
    """One run of an ensemble's `ensemble_merge_array.npz`."""
    merge_array, members = read_ensemble(directory, study_labels)
    if not 0 <= run < merge_array.shape[0]:
        raise ClusteringImportError(
            f"{directory}: run {run} is not among its {merge_array.shape[0]}"
        )
    rows = merge_array[run]
    return history_from_partitions(len(study_labels), members, rows[(rows >= 0).all(axis=1)])


def ensemble_at(directory: Path, study_labels: list[str], run: int, iteration: int) -> np.ndarray:
    """The ensemble's other runs after `iteration` merges, as the stability ensemble of the
    imported run (`[runs, subcomponents]`; -1 for subcomponents it does not list); runs that
    stopped before `iteration` are left out."""
    merge_array, members = read_ensemble(directory, study_labels)
    others = [r for r in range(merge_array.shape[0]) if r != run]
    if iteration == 0:  # before any merge: every run is all singletons
        rows = [np.arange(len(members))] * len(others)
    else:
        after = merge_array[others, iteration - 1]
        rows = [row for row in after if (row >= 0).all()]
    ensemble = np.full((len(rows), len(study_labels)), -1, dtype=np.int32)
    for index, row in enumerate(rows):
        ensemble[index, members] = row
    return ensemble


@contextmanager
def stage(name: str, timings: dict[str, float], key: str) -> Iterator[None]:
    """Print a stage of the import as it starts and ends, and record its seconds."""
    print(f"import-clustering: {name} ...", flush=True)
    started = time.perf_counter()
    yield
    timings[key] = round(time.perf_counter() - started, 2)
    print(f"import-clustering: {name}: {timings[key]:.1f} s", flush=True)


def write_iteration_analyses(
    writer: StudyWriter,
    study: Study,
    assignments: np.ndarray,
    iteration: int,
    ensemble: np.ndarray | None = None,
) -> dict[str, float]:
    """Write what `build` stores for its default iteration (measures, with stability across
    `ensemble` if given; cluster lens decodings, map) for `assignments`, computed from the
    study's harvest and lenses with its recorded analysis settings; return the stages'
    seconds."""
    config = analysis_settings(study).get("config") or {}
    measure_options = {
        name: config[name] for name in ("top_tokens", "top_related") if name in config
    }
    map_options = {name: config[name] for name in ("seed",) if name in config}
    clusters = f"{len(np.unique(assignments[assignments >= 0]))} clusters"
    timings: dict[str, float] = {}
    with stage(f"measures of {clusters} at iteration {iteration}", timings, "measures_s"):
        analyses = analyse_clusters(
            measure_inputs(study), assignments, ensemble=ensemble, **measure_options
        )
        write_cluster_analyses(writer.write_table, writer.write_array, analyses)
    matrices = lens_matrices(study)
    if matrices is not None:
        with stage(f"lens decodings of {clusters}", timings, "decodings_s"):
            directions, points = residual_directions(study)
            top = config.get("top_items", DECODING_ITEMS)
            writer.write_table(
                "lenses/cluster_decodings.parquet",
                decode_clusters(matrices, directions, points, analyses.members, top),
            )
    with stage(f"map of {clusters} (UMAP)", timings, "map_s"):
        writer.write_table(
            "analyses/map.parquet",
            cluster_map(
                analyses.clusters,
                analyses.members,
                study.subcomponents,
                analyses.arrays,
                **map_options,
            ),
        )
    return timings


def replace_clustering(
    study_path: Path, source: Path, run: int, iteration: int | None
) -> tuple[int, int]:
    """Rewrite the study with an imported clustering and the analyses of its default iteration;
    every other file is kept as it was.

    Returns (merges, default iteration). The new study is written beside the old one and renamed
    over it only when complete and valid.
    """
    study = Study(study_path)
    labels = study.subcomponents["label"].tolist()
    if source.is_dir():
        initial, merges = import_ensemble(source, labels, run)
    elif source.suffix == ".zip":
        initial, merges = import_history(source, labels)
    else:
        initial, merges = import_mapping(source, labels)
    default = len(merges) if iteration is None else iteration
    if not 0 <= default <= len(merges):
        raise ClusteringImportError(f"iteration {iteration} is outside [0, {len(merges)}]")
    provenance = dict(study.provenance)
    provenance["clustering_config"] = (
        sha256_directory(source) if source.is_dir() else sha256_file(source)
    )
    # an ensemble directory's other runs are the stability ensemble; else there is none
    ensemble = ensemble_at(source, labels, run, default) if source.is_dir() else None
    replaced = {
        "clustering/initial_groups.npy",
        "clustering/merges.parquet",
        ENSEMBLE_FILE,
        *ITERATION_FILES,
    }
    with StudyWriter(study.path, study.name, provenance, default, overwrite=True) as writer:
        for relative in study.manifest["files"]:
            if relative not in replaced:
                writer.link_file(relative, study.path / relative)
        writer.write_array("clustering/initial_groups.npy", initial)
        writer.write_table("clustering/merges.parquet", merges)
        if ensemble is not None:
            writer.write_array(ENSEMBLE_FILE, ensemble)
        timings = write_iteration_analyses(
            writer, study, assignments_at(initial, merges, default), default, ensemble
        )
        recorded = analysis_settings(study)
        writer.settings = dict(study.manifest.get("settings", {})) | {
            "clustering": {"imported_from": str(source), "run": run},
            "stability": {
                "runs": 0 if ensemble is None else len(ensemble),
                "kind": "spd ensemble",
            },
            "analyses": recorded
            | {
                "iteration": default,
                "cluster_ids": CLUSTER_IDS,
                "timings": recorded.get("timings", {}) | timings,
            },
        }
        print("import-clustering: checking the study and renaming it into place ...", flush=True)
    return len(merges), default
