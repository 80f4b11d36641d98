"""Clusterings from goodfire-ai/spd's files, matched onto a study by label."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.lens_decode import decode_clusters
from dashboard.analysis.measures import ClusterAnalyses, analyse_clusters
from dashboard.analysis.study_analyses import (
    ITERATION_FILES,
    analysis_settings,
    cluster_analyses,
    lens_matrices,
    measure_inputs,
    residual_directions,
    stored_analyses,
)
from dashboard.pipeline.clustering_import import ClusteringImportError, replace_clustering
from dashboard.study import Study, validate_study
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import StudyView


@pytest.fixture
def study_copy(micro_study: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(micro_study, tmp_path / "micro"))


def partition(study: Study, iteration: int) -> set[frozenset[str]]:
    """The clusters at an iteration, as sets of labels (dead subcomponents left out)."""
    labels = study.subcomponents["label"].to_numpy()
    assignments = cluster_assignments(study, iteration)
    return {
        frozenset(labels[assignments == c]) for c in set(assignments[assignments >= 0].tolist())
    }


def spd_history(labels: list[str], pairs: list[tuple[int, int]]) -> np.ndarray:
    """spd's GroupMerge: merged group takes the smaller index, higher indices shift down."""
    idxs = np.arange(len(labels))
    rows = []
    for i, j in pairs:
        a, b = sorted((i, j))
        idxs = np.where(idxs == b, a, idxs)
        idxs = np.where(idxs > b, idxs - 1, idxs)
        rows.append(idxs.copy())
    return np.array(rows, dtype=np.int16)


def groups_of(labels: list[str], row: np.ndarray) -> set[frozenset[str]]:
    return {frozenset(np.array(labels)[row == g]) for g in np.unique(row)}


def test_cluster_mapping(study_copy: Path) -> None:
    study = Study(study_copy)
    labels = study.subcomponents["label"].tolist()
    rng = np.random.default_rng(0)
    chosen = [labels[i] for i in rng.permutation(len(labels))[:60]]  # spd's order, some left out
    clusters = {label: (None if n % 5 == 0 else n % 7) for n, label in enumerate(chosen)}
    mapping = study_copy.parent / "cluster_mapping_e-1234.json"
    mapping.write_text(
        json.dumps(
            {
                "ensemble_id": "e-1234",
                "notes": "",
                "spd_run": "goodfire/spd/x",
                "n_iterations": 10,
                "run_idx": 0,
                "clusters": clusters,
            }
        )
    )
    merges, default = replace_clustering(study_copy, mapping, 0, None)
    assert validate_study(study_copy) == []
    imported = Study(study_copy)
    assert imported.default_iteration == default == merges
    expected = {frozenset(lab for lab, g in clusters.items() if g == group) for group in range(7)}
    expected |= {frozenset([lab]) for lab, g in clusters.items() if g is None}
    assert partition(imported, default) == expected
    unlisted = set(labels) - set(chosen)
    dead = imported.subcomponents["label"][imported.array("clustering/initial_groups.npy") < 0]
    assert set(dead) == unlisted
    # the build's stability ensemble described the old clustering: a mapping has none
    assert "clustering/ensemble.npy" in study.manifest["files"]
    assert "clustering/ensemble.npy" not in imported.manifest["files"]
    assert imported.manifest["settings"]["stability"]["runs"] == 0
    assert stored_analyses(imported).clusters["stability"].isna().all()
    assert imported.provenance["decomposition"] == study.provenance["decomposition"]
    assert (study_copy / "activations/ci.npy").read_bytes() == (
        study.path / "activations/ci.npy"
    ).read_bytes()


def write_mapping(study: Study, path: Path, n_groups: int, seed: int) -> Path:
    """A `cluster_mapping_*.json` putting most of the study's labels into `n_groups` groups."""
    labels = study.subcomponents["label"].tolist()
    rng = np.random.default_rng(seed)
    chosen = [labels[i] for i in rng.permutation(len(labels))[: len(labels) - 4]]
    groups = rng.integers(0, n_groups, size=len(chosen)).tolist()
    path.write_text(json.dumps({"clusters": dict(zip(chosen, groups, strict=True))}))
    return path


def computed_on_demand(study: Study, iteration: int) -> ClusterAnalyses:
    """What the dashboard computes at an iteration the study does not store."""
    return analyse_clusters(measure_inputs(study), cluster_assignments(study, iteration))


def assert_same_analyses(stored: ClusterAnalyses, computed: ClusterAnalyses) -> None:
    for name in ("clusters", "tokens", "members", "coactivation"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(computed, name))
    assert stored.arrays.keys() == computed.arrays.keys()
    for name, array in computed.arrays.items():
        np.testing.assert_array_equal(stored.arrays[name], array)


def test_import_stores_the_analyses_of_its_default_iteration(
    study_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first page at the imported iteration reads stored measures, map and decodings that
    equal what computing them on demand gives; the iteration-independent files are kept."""
    before = Study(study_copy)
    mapping = write_mapping(before, study_copy.parent / "cluster_mapping_e-7.json", 12, seed=5)
    kept = {
        relative: (study_copy / relative).read_bytes()
        for relative in before.manifest["files"]
        if relative.startswith(("lenses/", "analyses/token_group"))
        and relative not in ITERATION_FILES
    }
    _, default = replace_clustering(study_copy, mapping, 0, None)
    progress = capsys.readouterr().out
    for stage in ("measures of 12 clusters at iteration", "lens decodings of", "map of 12"):
        assert f"import-clustering: {stage}" in progress

    assert validate_study(study_copy) == []
    study = Study(study_copy)
    assert StudyView(study, study.default_iteration).is_stored
    settings = analysis_settings(study)
    assert settings["iteration"] == default
    assert settings["config"] == analysis_settings(before)["config"]
    assert {"measures_s", "decodings_s", "map_s", "lenses_s"} <= settings["timings"].keys()
    assert all((study_copy / relative).read_bytes() == data for relative, data in kept.items())

    stored = stored_analyses(study)
    computed = computed_on_demand(study, default)
    assert_same_analyses(stored, computed)
    assert_same_analyses(cluster_analyses(study, default), stored)
    clusters = sorted(set(cluster_assignments(study, default).tolist()) - {-1})
    assert stored.clusters["cluster"].tolist() == clusters

    stored_map = study.table("analyses/map.parquet")
    assert StudyView(study, default).map().equals(stored_map)
    computed_map = cluster_map(
        computed.clusters, computed.members, study.subcomponents, computed.arrays
    )
    assert stored_map["cluster"].tolist() == computed_map["cluster"].tolist() == clusters
    pd.testing.assert_frame_equal(stored_map, computed_map)

    directions, points = residual_directions(study)
    pd.testing.assert_frame_equal(
        study.table("lenses/cluster_decodings.parquet"),
        decode_clusters(lens_matrices(study), directions, points, computed.members, 10),
    )


def test_import_into_a_study_without_lenses(random_study: Path) -> None:
    """Measures and map are stored; there are no cluster decodings to store."""
    mapping = write_mapping(Study(random_study), random_study.parent / "mapping.json", 5, seed=1)
    _, default = replace_clustering(random_study, mapping, 0, None)
    assert validate_study(random_study) == []
    study = Study(random_study)
    assert StudyView(study, default).is_stored
    assert_same_analyses(stored_analyses(study), computed_on_demand(study, default))
    assert study.table("analyses/map.parquet")["cluster"].tolist() == sorted(
        set(cluster_assignments(study, default).tolist()) - {-1}
    )
    assert "lenses/cluster_decodings.parquet" not in study.manifest["files"]


def test_history_zip_every_iteration(study_copy: Path) -> None:
    study = Study(study_copy)
    labels = [
        study.subcomponents["label"][i]
        for i in np.random.default_rng(1).permutation(len(study.subcomponents))[:40]
    ]
    rng = np.random.default_rng(2)
    pairs, k = [], len(labels)
    for _ in range(25):
        i, j = rng.choice(k, size=2, replace=False)
        pairs.append((int(i), int(j)))
        k -= 1
    rows = spd_history(labels, pairs)
    padded = np.vstack([rows, -np.ones((5, len(labels)), dtype=np.int16)])  # an early stop
    archive_path = study_copy.parent / "history.zip"
    with zipfile.ZipFile(archive_path, "w") as archive:
        for name, array in (
            ("merge.group_idxs.npy", padded),
            (
                "merge.k_groups.npy",
                np.array([len(labels) - 1 - t for t in range(25)] + [0] * 5, dtype=np.int16),
            ),
            ("selected_pairs.npy", np.array(pairs + [(-1, -1)] * 5, dtype=np.int16)),
        ):
            buffer = io.BytesIO()
            np.save(buffer, array)
            archive.writestr(name, buffer.getvalue())
        archive.writestr("labels.txt", "\n".join(labels))
        archive.writestr(
            "metadata.json",
            json.dumps({"c_components": len(labels), "n_iters_current": 25, "labels": labels}),
        )
    merges, default = replace_clustering(study_copy, archive_path, 0, 10)
    assert (merges, default) == (25, 10)
    imported = Study(study_copy)
    for t in (1, 10, 25):
        assert partition(imported, t) == groups_of(labels, rows[t - 1])


def test_ensemble_run(study_copy: Path) -> None:
    study = Study(study_copy)
    labels = sorted(study.subcomponents["label"][:30])
    runs = []
    for seed in (3, 4):
        rng = np.random.default_rng(seed)
        pairs = [tuple(int(x) for x in rng.choice(30 - t, 2, replace=False)) for t in range(12)]
        runs.append(spd_history(labels, pairs))
    merge_array = np.stack(runs)
    ensemble = study_copy.parent / "e-abcd"
    ensemble.mkdir()
    np.savez_compressed(ensemble / "ensemble_merge_array.npz", merge_array=merge_array)
    (ensemble / "ensemble_meta.json").write_text(
        json.dumps({"component_labels": labels, "n_ensemble": 2, "n_iters_min": 12})
    )
    replace_clustering(study_copy, ensemble, 1, None)
    imported = Study(study_copy)
    assert partition(imported, 12) == groups_of(labels, runs[1][-1])
    # the other run is the stability ensemble: its groups after 12 merges, by label
    stored = np.asarray(imported.array("clustering/ensemble.npy"))
    position = {label: i for i, label in enumerate(imported.subcomponents["label"])}
    listed = [position[label] for label in labels]
    assert stored.shape == (1, len(imported.subcomponents))
    assert groups_of(labels, stored[0, listed]) == groups_of(labels, runs[0][-1])
    assert (np.delete(stored[0], listed) == -1).all()  # not in the ensemble
    assert imported.manifest["settings"]["stability"] == {"runs": 1, "kind": "spd ensemble"}
    clusters = stored_analyses(imported).clusters
    assert clusters.loc[clusters["size"] >= 2, "stability"].between(0, 1).all()
    with pytest.raises(ClusteringImportError, match="run 2 is not among its 2"):
        replace_clustering(study_copy, ensemble, 2, None)


def test_unknown_labels_are_named_and_nothing_changes(study_copy: Path) -> None:
    before = (study_copy / "study.json").read_bytes()
    mapping = study_copy.parent / "cluster_mapping_bad.json"
    mapping.write_text(
        json.dumps({"clusters": {"h.9.mlp.c_fc:3": 1, "model.layers.0.mlp.up_proj:0": 1}})
    )
    with pytest.raises(
        ClusteringImportError,
        match=r"1 label\(s\) are not subcomponents of this study: h\.9\.mlp\.c_fc:3",
    ):
        replace_clustering(study_copy, mapping, 0, None)
    assert (study_copy / "study.json").read_bytes() == before


def test_command_line(study_copy: Path, tmp_path: Path) -> None:
    env = {**os.environ, "ATLAS_DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "dashboard.cli",
            "import-clustering",
            str(study_copy),
            str(tmp_path / "missing.json"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 2
    assert "missing.json: not a cluster mapping" in result.stderr


def test_a_full_study_from_spd_outputs(tmp_path: Path) -> None:
    """import-spd, then build from that decomposition, then import spd's clustering."""
    import dataclasses

    import torch

    from dashboard.decomposition.spd_import import import_spd_run
    from dashboard.pipeline.build import build_study
    from dashboard.pipeline.harvest import HarvestConfig
    from dashboard.pipeline.presets import BUILD_PRESETS
    from tests.decomposition.spd_format import (
        LLAMA_SIMPLE,
        llama_simple_state,
        write_pretrain_run,
        write_spd_run,
    )
    from tests.decomposition.test_spd_import import modules_of, spd_config

    generator = torch.Generator().manual_seed(12)
    state = llama_simple_state(LLAMA_SIMPLE, generator)
    pretrain = write_pretrain_run(tmp_path / "pretrain", state, LLAMA_SIMPLE)
    write_spd_run(tmp_path / "run", state, modules_of(state), spd_config("vector_mlp"), generator)
    decomposition = tmp_path / "imported"
    import_spd_run(tmp_path / "run", pretrain, decomposition, tmp_path)
    preset = dataclasses.replace(
        BUILD_PRESETS["micro"],
        harvest=HarvestConfig(n_tokens=4096, window_length=32, batch_size=32),
    )
    study_path = build_study(
        "from-spd",
        preset,
        tmp_path,
        tmp_path / "from-spd",
        torch.device("cpu"),
        decomposition_dir=decomposition,
    )
    study = Study(study_path)
    assert validate_study(study_path) == []
    assert study.subcomponents["label"].tolist()[:2] == [
        "h.0.mlp.gate_proj:0",
        "h.0.mlp.gate_proj:1",
    ]
    clusters = {f"h.{layer}.mlp.gate_proj:{c}": c % 2 for layer in (0, 1) for c in range(7)}
    mapping = tmp_path / "cluster_mapping_e-0.json"
    mapping.write_text(json.dumps({"clusters": clusters}))
    replace_clustering(study_path, mapping, 0, None)
    assert partition(Study(study_path), 12) == {
        frozenset(label for label, group in clusters.items() if group == g) for g in (0, 1)
    }
