"""`spd-atlas build` on the micro preset: a valid study whose numbers agree with the model."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from dashboard.decomposition import load_decomposition
from dashboard.pipeline.build import build_study, module_layer_and_kind
from dashboard.pipeline.clustering import ClusteringConfig
from dashboard.pipeline.presets import BUILD_PRESETS
from dashboard.study import Study, StudyExistsError, validate_study
from dashboard.study.summary import cluster_assignments

MICRO = BUILD_PRESETS["micro"]
CPU = torch.device("cpu")


def test_the_study_is_valid_and_complete(micro_study: Path) -> None:
    assert validate_study(micro_study) == []
    study = Study(micro_study)
    assert study.window_shape == (8192 // 32, 32)
    settings = study.manifest["settings"]
    assert set(settings) == {
        "harvest",
        "clustering",
        "examples",
        "stability",
        "analyses",
        "decomposition_dir",
        "decomposition_quality",
    }
    assert Path(settings["decomposition_dir"]) == micro_study.parent / "decompositions" / "micro"
    subcomponents = study.subcomponents
    dec = load_decomposition(study.path.parent / "decompositions" / "micro")
    assert subcomponents["label"].tolist() == dec.labels
    assert set(subcomponents["module_kind"]) >= {"mlp.down_proj", "self_attn.q_proj"}
    assert study.n_merges == int((study.array("clustering/initial_groups.npy") >= 0).sum()) - 1


def test_stored_activations_are_the_models_causal_importances(micro_study: Path) -> None:
    study = Study(micro_study)
    dec = load_decomposition(study.path.parent / "decompositions" / "micro")
    windows = study.array("windows/token_ids.npy")
    ci = dec.causal_importances(torch.from_numpy(np.array(windows[3:5])).long())
    dense = torch.cat([ci[path] for path in dec.module_paths], dim=-1).flatten(0, 1).numpy()
    indptr = study.array("activations/indptr.npy")
    token_index = study.array("activations/token_index.npy")
    values = study.array("activations/ci.npy")
    first, last = 3 * 32, 5 * 32
    for subcomponent in range(0, len(dec.labels), 7):
        positions = token_index[indptr[subcomponent] : indptr[subcomponent + 1]]
        stored = values[indptr[subcomponent] : indptr[subcomponent + 1]]
        inside = (positions >= first) & (positions < last)
        expected_positions = np.flatnonzero(dense[:, subcomponent] > 0.1) + first
        assert positions[inside].tolist() == expected_positions.tolist()
        np.testing.assert_allclose(
            stored[inside], dense[positions[inside] - first, subcomponent], atol=1e-3
        )


def test_stats_examples_and_vocabulary(micro_study: Path) -> None:
    study = Study(micro_study)
    subcomponents = study.subcomponents
    counts = np.diff(study.array("activations/indptr.npy"))
    np.testing.assert_allclose(subcomponents["firing_frequency"], counts / (8192), rtol=1e-6)
    histograms = study.array("activations/ci_histograms.npy")
    assert (histograms.sum(1) == counts).all()
    examples = study.table("examples.parquet")
    busiest = int(np.argmax(counts))
    top = examples[(examples.subcomponent == busiest) & (examples.kind == "top")]
    assert len(top) == 5
    assert top.ci.iloc[0] == pytest.approx(subcomponents["max_ci"][busiest], abs=1e-3)
    vocab = study.table("vocab.parquet")
    assert vocab["base_count"].sum() == 8192
    assert len(vocab) == 512


def test_default_iteration_and_clusters(micro_study: Path) -> None:
    study = Study(micro_study)
    merges = study.table("clustering/merges.parquet")
    assert (
        study.default_iteration == 0
        or merges.mdl_total.iloc[study.default_iteration - 1] == merges.mdl_total.min()
    )
    assignments = cluster_assignments(study, study.n_merges)
    assert len(set(assignments[assignments >= 0].tolist())) == 1


def test_stability_across_the_ensemble_of_window_subsets(micro_study: Path) -> None:
    study = Study(micro_study)
    ensemble = np.asarray(study.array("clustering/ensemble.npy"))
    runs = study.manifest["settings"]["stability"]["runs"]
    assert ensemble.shape == (runs, len(study.subcomponents)) and runs > 1
    clusters = study.table("analyses/clusters.parquet")
    measured = clusters.loc[clusters["size"] >= 2, "stability"]
    assert measured.notna().all() and measured.between(0, 1).all()
    assert clusters.loc[clusters["size"] == 1, "stability"].isna().all()
    members = study.table("analyses/members.parquet")
    assert members["stability"].dropna().between(0, 1).all()


def test_a_current_study_is_skipped_and_other_inputs_need_force(
    micro_study: Path, micro_data_dir: Path
) -> None:
    stamp = (micro_study / "study.json").stat().st_mtime_ns
    build_study("micro", MICRO, micro_data_dir, micro_study, CPU)
    assert (micro_study / "study.json").stat().st_mtime_ns == stamp
    other = dataclasses.replace(MICRO, clustering=ClusteringConfig(activation_threshold=0.5))
    with pytest.raises(StudyExistsError, match="built from other inputs; pass --force"):
        build_study("micro", other, micro_data_dir, micro_study, CPU)
    assert (micro_study / "study.json").stat().st_mtime_ns == stamp


def test_a_study_stored_under_the_older_cluster_ids_is_rebuilt(
    micro_study: Path, micro_data_dir: Path, tmp_path: Path
) -> None:
    """Analyses stored before stable cluster ids (no `cluster_ids` in their settings) are not
    read as stored, and `build` rewrites the study rather than call it up to date."""
    import json

    from dashboard.analysis.study_analyses import stored_iteration

    copy = Path(shutil.copytree(micro_study, tmp_path / "micro"))
    manifest = json.loads((copy / "study.json").read_text())
    del manifest["settings"]["analyses"]["cluster_ids"]
    (copy / "study.json").write_text(json.dumps(manifest))
    assert stored_iteration(Study(copy)) is None
    build_study("micro", MICRO, micro_data_dir, copy, CPU)
    rebuilt = Study(copy)
    assert (
        stored_iteration(rebuilt)
        == rebuilt.default_iteration
        == Study(micro_study).default_iteration
    )
    assert rebuilt.table("analyses/clusters.parquet")["cluster"].tolist() == (
        Study(micro_study).table("analyses/clusters.parquet")["cluster"].tolist()
    )


def test_an_interrupted_harvest_resumes(
    micro_study: Path, micro_data_dir: Path, tmp_path: Path
) -> None:
    work = next((micro_data_dir / "work").glob("harvest-*"))
    shards = sorted((work / "shards").glob("windows_*"))
    assert len(shards) == 4  # the micro preset's shards hold one batch each
    kept = {path.name: (path / "ci.npy").stat().st_mtime_ns for path in shards[:2]}
    for path in shards[2:]:
        shutil.rmtree(path)
    (work / "shards" / f".{shards[2].name}.killed.partial").mkdir()  # a worker's draft
    out = tmp_path / "again"
    build_study("again", MICRO, micro_data_dir, out, CPU)
    assert {path.name: (path / "ci.npy").stat().st_mtime_ns for path in shards[:2]} == kept
    assert sorted(path.name for path in (work / "shards").iterdir()) == [p.name for p in shards]
    assert not (tmp_path / ".again.build.json").exists()  # the progress record goes at the end
    assert (out / "activations/ci.npy").read_bytes() == (
        micro_study / "activations/ci.npy"
    ).read_bytes()


def test_too_few_tokens_in_the_corpus_is_named(
    micro_data_dir: Path, micro_decomposition: Path, tmp_path: Path
) -> None:
    from dashboard.pipeline.harvest import HarvestConfig

    huge = dataclasses.replace(MICRO, harvest=HarvestConfig(n_tokens=10**9, window_length=32))
    with pytest.raises(ValueError, match="1,000,000,000 were requested"):
        build_study("huge", huge, micro_data_dir, tmp_path / "huge", CPU)
    assert not (tmp_path / "huge").exists()


@pytest.mark.parametrize(
    ("path", "layer", "kind"),
    [
        ("model.layers.12.mlp.down_proj", 12, "mlp.down_proj"),
        ("h.0.attn.q_proj", 0, "attn.q_proj"),
        ("transformer.h.3.attn.c_attn", 3, "attn.c_attn"),
        ("lm_head", -1, "lm_head"),
    ],
)
def test_layer_and_kind_from_module_paths(path: str, layer: int, kind: str) -> None:
    assert module_layer_and_kind(path) == (layer, kind)


def test_report_of_the_decomposition_is_kept(micro_decomposition: Path) -> None:
    assert json.loads((micro_decomposition / "report.json").read_text())["labels"] == 272
