"""The analyse stage on the micro study: stored analyses agree with the model and with the
numbers recomputed from the study."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dashboard.analysis.distributions import measure_distributions
from dashboard.analysis.lens_decode import decode_clusters
from dashboard.analysis.lenses import LENSES
from dashboard.analysis.measures import analyse_clusters, makeup_matrix, member_coactivation
from dashboard.analysis.plane import plane_view
from dashboard.analysis.sae_features import encode
from dashboard.analysis.study_analyses import (
    analysis_settings,
    cluster_analyses,
    cluster_decodings,
    lens_matrices,
    measure_inputs,
    residual_directions,
    sampled_token_groups,
    stability_ensemble,
    stored_analyses,
    stored_sae,
)
from dashboard.decomposition import load_decomposition
from dashboard.pipeline.anatomy import anatomy_of
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments
from dashboard.study_view import StudyView


@pytest.fixture(scope="module")
def study(micro_study: Path) -> Study:
    return Study(micro_study)


@pytest.fixture(scope="module")
def decomposition(micro_study: Path):
    return load_decomposition(micro_study.parent / "decompositions" / "micro")


def test_stored_analyses_equal_a_fresh_computation(study: Study) -> None:
    iteration = study.default_iteration
    assert analysis_settings(study)["iteration"] == iteration
    stored = stored_analyses(study)
    fresh = analyse_clusters(
        measure_inputs(study),
        cluster_assignments(study, iteration),
        ensemble=stability_ensemble(study, iteration),
    )
    assert stored.clusters["stability"].notna().any()  # the build ran the ensemble
    pd.testing.assert_frame_equal(stored.clusters, fresh.clusters, check_dtype=False)
    pd.testing.assert_frame_equal(stored.members, fresh.members, check_dtype=False)
    pd.testing.assert_frame_equal(stored.tokens, fresh.tokens, check_dtype=False)
    assert stored.arrays.keys() == fresh.arrays.keys()
    for name, array in stored.arrays.items():
        np.testing.assert_allclose(array, fresh.arrays[name])
    map_table = study.table("analyses/map.parquet")
    assert map_table["cluster"].tolist() == stored.clusters["cluster"].tolist()
    assert np.isfinite(map_table[["x", "y", "z", "x2", "y2"]].to_numpy()).all()


def test_any_other_iteration_is_computed(study: Study) -> None:
    other = cluster_analyses(study, 5)
    alive = int((study.array("clustering/initial_groups.npy") >= 0).sum())
    assert len(other.clusters) == alive - 5
    assert other.clusters["size"].sum() == alive
    assert cluster_analyses(study, 5) is other  # cached


def test_directions_match_the_modules_they_compose(study: Study, decomposition) -> None:
    """r · x must equal what the subcomponent reads from the real module input built from x."""
    directions, _ = residual_directions(study)
    labels = study.subcomponents["label"].tolist()
    target = decomposition.target
    anatomy = anatomy_of(target)
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.normal(size=(5, anatomy.d_model)), dtype=torch.float32)
    for module, source, mlp in (
        ("model.layers.1.self_attn.o_proj", "model.layers.1.self_attn.v_proj", False),
        ("model.layers.0.mlp.down_proj", "model.layers.0.mlp.up_proj", True),
        ("model.layers.1.mlp.gate_proj", None, True),
    ):
        rows = [i for i, label in enumerate(labels) if label.startswith(f"{module}:")]
        V = decomposition.model.component(module).V.detach()
        inner = x * anatomy.input_norm_weight(1 if "layers.1" in module else 0, mlp=mlp)
        if source is not None:
            inner = target.get_submodule(source)(inner)
            if "v_proj" in source:  # each query head reads its key/value head
                heads = inner.reshape(len(x), anatomy.n_kv_heads, anatomy.head_dim)
                repeat = anatomy.n_heads // anatomy.n_kv_heads
                inner = heads.repeat_interleave(repeat, dim=1).reshape(len(x), -1)
        expected = (inner @ V).numpy()
        got = x.numpy() @ np.asarray(directions["read"][rows]).T
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    writes = study.table("lenses/directions.parquet").set_index("subcomponent")
    down = [i for i, label in enumerate(labels) if label.startswith("model.layers.0.mlp.down_proj")]
    np.testing.assert_allclose(
        directions["write"][down],
        decomposition.model.component("model.layers.0.mlp.down_proj").U.detach().numpy(),
        rtol=1e-6,
    )
    assert (writes.loc[down, "write_path"] == "direct").all()
    assert (writes.loc[down, "write_point"] == 1).all()


def test_logit_lens_recovers_tokens_planted_through_the_unembedding(study: Study) -> None:
    matrices = lens_matrices(study)
    unembedding = np.asarray(matrices["logit"], np.float64).T  # [vocab, d] gain folded in
    planted = np.linalg.pinv(unembedding).T  # row t: the least-squares direction for token t
    vocab = len(unembedding)
    last = np.full(vocab, len(matrices["tuned_weights"]))  # past every translator: logit lens
    for lens, points in ((LENSES["logit"], np.zeros(vocab, int)), (LENSES["tuned"], last)):
        top = lens.score(matrices, lens.prepare(matrices, planted, points)).argmax(axis=1)
        assert (top == np.arange(vocab)).mean() > 0.8
    embedding = np.asarray(matrices["embedding"], np.float32)
    lens = LENSES["embedding"]
    top = lens.score(matrices, lens.prepare(matrices, embedding, last))
    assert (top.argmax(axis=1) == np.arange(vocab)).all()


def test_tuned_lens_beats_the_logit_lens_and_saes_reconstruct(study: Study) -> None:
    report = analysis_settings(study)["report"]
    tuned, logit = report["tuned_lens"]["tuned_lens_kl"], report["tuned_lens"]["logit_lens_kl"]
    assert all(ours < base for ours, base in zip(tuned, logit, strict=True))
    assert set(report["sae"]) == {str(p) for p in study.array("lenses/sae_points.npy")}
    assert all(sae["heldout_fvu"] < 0.5 for sae in report["sae"].values())
    features = study.table("lenses/sae_features.parquet")
    assert (features.loc[features["frequency"] > 0, "label"] != "").all()


def test_decodings_and_plane_view_of_a_cluster(study: Study) -> None:
    analyses = stored_analyses(study)
    decodings = study.table("lenses/cluster_decodings.parquet")
    assert set(decodings["lens"]) == {"logit", "embedding", "tuned", "sae"}
    assert set(decodings["cluster"]) <= set(analyses.clusters["cluster"])
    members = analyses.members
    cluster = int(members["cluster"].value_counts().index[0])
    chosen = members[members["cluster"] == cluster]
    directions, points = residual_directions(study)
    subcomponents = chosen["subcomponent"].to_numpy()
    reads = np.asarray(directions["read"])[subcomponents]
    writes = np.asarray(directions["write"])[subcomponents]
    usable = ~np.isnan(reads).any(axis=1)
    first, second = reads[usable][:2] if usable.sum() > 1 else (reads[usable][0], writes[0])
    sample = study.array("lenses/residual_sample.npy")
    view = plane_view(
        sample[int(points["read"][subcomponents[usable][0]])],
        first,
        second,
        reads,
        writes,
        chosen["share"].to_numpy(),
    )
    assert view.coordinates.shape == (sample.shape[1], 2)
    assert np.isfinite(view.field).all()


def test_on_demand_reads_at_other_iterations(study: Study) -> None:
    stored_iteration = study.default_iteration
    analyses = cluster_analyses(study, stored_iteration)
    cluster = int(analyses.clusters["cluster"].iloc[0])
    stored = cluster_decodings(study, stored_iteration, cluster)
    members = analyses.members[analyses.members["cluster"] == cluster]
    directions, points = residual_directions(study)
    fresh = decode_clusters(lens_matrices(study), directions, points, members, 10)
    merged = stored.merge(fresh, on=["side", "lens", "end", "rank"], suffixes=("", "_fresh"))
    assert len(merged) == len(stored) > 0
    assert (merged["item"] == merged["item_fresh"]).mean() > 0.95  # float16 vs float32 ties
    other = cluster_analyses(study, 3)
    other_cluster = int(other.clusters["cluster"].iloc[-1])
    assert not cluster_decodings(study, 3, other_cluster).empty
    assert cluster_decodings(study, 3, 10_000).empty
    other_map = StudyView(study, 3).map()
    assert other_map["cluster"].tolist() == other.clusters["cluster"].tolist()


def test_makeup_member_coactivation_and_distributions(study: Study) -> None:
    analyses = stored_analyses(study)
    cluster = int(analyses.members["cluster"].value_counts().index[0])
    members = analyses.members.loc[analyses.members["cluster"] == cluster, "subcomponent"]
    matrix = makeup_matrix(study.subcomponents, members.to_numpy())
    assert matrix.to_numpy().sum() == len(members)
    counts = member_coactivation(
        study.array("activations/indptr.npy"),
        study.array("activations/token_index.npy"),
        members.to_numpy(),
    )
    assert (np.diag(counts) == np.diff(study.array("activations/indptr.npy"))[members]).all()
    assert (counts == counts.T).all() and (counts <= np.diag(counts)).all()
    distributions = {d.measure: d for d in measure_distributions(analyses.clusters)}
    assert {"size", "firing_frequency", "token_entropy", "depth_mean"} <= set(distributions)
    assert all(d.counts.sum() == len(analyses.clusters) for d in distributions.values())


def test_plane_colours_from_the_stored_sae_and_token_groups(study: Study) -> None:
    point = int(study.array("lenses/sae_points.npy")[0])
    sae = stored_sae(study, point)
    sample = np.asarray(study.array("lenses/residual_sample.npy")[point], np.float32)
    indices, values = encode(sae, sample)
    assert indices.shape == (len(sample), sae.k) and (values >= 0).all()
    assert stored_sae(study, 99) is None
    groups = sampled_token_groups(study)
    assert groups.shape == (len(sample),)
    assert groups.max() < len(study.table("analyses/token_group_labels.parquet"))


def test_reading_analyses_never_imports_torch(micro_study: Path) -> None:
    code = (
        "import sys\n"
        "from dashboard.study import Study\n"
        "from dashboard.analysis import study_analyses as sa\n"
        f"study = Study({str(micro_study)!r})\n"
        "analyses = sa.cluster_analyses(study, 2)\n"
        "sa.cluster_decodings(study, 2, int(analyses.clusters['cluster'][0]))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
