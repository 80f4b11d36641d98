"""Per-cluster measures against a case small enough to work out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.activity import activation_in_windows, cluster_activation
from dashboard.analysis.cluster_examples import Example, cluster_examples, stored_examples
from dashboard.analysis.measures import MeasureInputs, analyse_clusters
from dashboard.analysis.statistics import entropy_rows, gini, top_per_group

# Two windows of four tokens; four subcomponents, the last one dead.
TOKEN_IDS = np.array([[0, 1, 2, 1], [3, 1, 0, 2]], dtype=np.int32)
ENTRIES = {  # subcomponent -> [(flat position, CI)]
    0: [(1, 0.55), (3, 0.95), (5, 0.35)],
    1: [(1, 0.75), (2, 0.25)],
    2: [(5, 0.65), (6, 0.45)],
    3: [],
}
ASSIGNMENTS = np.array([5, 5, 7, -1], dtype=np.int32)


def hand_case_inputs() -> MeasureInputs:
    indptr = np.cumsum([0] + [len(ENTRIES[s]) for s in range(4)])
    flat = [entry for s in range(4) for entry in ENTRIES[s]]
    subcomponents = pd.DataFrame(
        {
            "module": [
                "layers.0.attn.q_proj",
                "layers.1.mlp.up_proj",
                "layers.1.mlp.up_proj",
                "layers.1.mlp.up_proj",
            ],
            "layer": [0, 1, 1, 1],
            "module_kind": ["attn.q_proj", "mlp.up_proj", "mlp.up_proj", "mlp.up_proj"],
            "firing_frequency": [3 / 8, 2 / 8, 2 / 8, 0.0],
        }
    )
    return MeasureInputs(
        indptr=indptr.astype(np.int64),
        token_index=np.array([p for p, _ in flat], dtype=np.int32),
        ci=np.array([c for _, c in flat], dtype=np.float16),
        token_ids=TOKEN_IDS,
        base_count=np.bincount(TOKEN_IDS.ravel(), minlength=4),
        subcomponents=subcomponents,
        threshold=0.1,
        bins=9,
        token_groups=np.array([0, 1, 1, 0]),
        n_token_groups=2,
    )


@pytest.fixture(scope="module")
def analyses():
    return analyse_clusters(hand_case_inputs(), ASSIGNMENTS, top_tokens=5, top_related=5)


def row(analyses, cluster: int) -> pd.Series:
    return analyses.clusters.set_index("cluster").loc[cluster]


def test_activation_measures(analyses):
    assert analyses.clusters["cluster"].tolist() == [5, 7]
    five, seven = row(analyses, 5), row(analyses, 7)
    assert five["size"] == 2 and seven["size"] == 1
    assert five["firing_frequency"] == pytest.approx(4 / 8)
    assert seven["firing_frequency"] == pytest.approx(2 / 8)
    assert five["window_frequency"] == 1.0 and seven["window_frequency"] == 0.5
    assert five["mean_activation"] == pytest.approx((0.75 + 0.25 + 0.95 + 0.35) / 4, abs=1e-3)
    assert five["cohesion"] == pytest.approx(5 / (4 * 2))
    assert seven["cohesion"] == pytest.approx(1.0)
    histogram = analyses.arrays["ci_histogram"][analyses.row_of(5)]
    assert np.flatnonzero(histogram).tolist() == [1, 2, 6, 8]
    window_max = analyses.arrays["window_max_histogram"]
    assert np.flatnonzero(window_max[0]).tolist() == [2, 8]  # 0.35 and 0.95
    assert np.flatnonzero(window_max[1]).tolist() == [5]  # 0.65
    np.testing.assert_allclose(
        analyses.arrays["position_mass"][0], [0, 0.75 + 0.35, 0.25, 0.95], atol=1e-3
    )
    assert analyses.arrays["argmax_position"][0].tolist() == [0, 1, 0, 1]
    assert analyses.arrays["argmax_position"][1].tolist() == [0, 1, 0, 0]
    mass = np.array([0, 1.1, 0.25, 0.95])
    p = mass[mass > 0] / mass.sum()
    assert five["position_entropy"] == pytest.approx(-(p * np.log(p)).sum() / math.log(4), 1e-3)
    assert five["argmax_entropy"] == pytest.approx(math.log(2) / math.log(4))


def test_token_measures(analyses):
    tokens = analyses.tokens
    five = tokens[(tokens["cluster"] == 5) & (tokens["ranking"] == "count")]
    assert five["token_id"].tolist() == [1, 2]
    assert five["count"].tolist() == [3, 1]
    np.testing.assert_allclose(five["mass"], [0.75 + 0.95 + 0.35, 0.25], atol=1e-3)
    np.testing.assert_allclose(five["base_frequency"], [3 / 8, 2 / 8])
    np.testing.assert_allclose(five["pmi"], [math.log(2), 0.0], atol=1e-9)
    by_mass = tokens[(tokens["cluster"] == 7) & (tokens["ranking"] == "mass")]
    assert by_mass["token_id"].tolist() == [1, 0]  # 0.65 on token 1, 0.45 on token 0
    masses = np.array([2.05, 0.25])
    p = masses / masses.sum()
    assert row(analyses, 5)["token_entropy"] == pytest.approx(-(p * np.log(p)).sum(), 1e-3)
    assert row(analyses, 5)["token_concentration"] == pytest.approx(2.05 / 2.3, 1e-3)
    assert row(analyses, 5)["distinct_tokens"] == 2
    # token groups: tokens 1 and 2 form group 1
    assert analyses.arrays["token_group_histogram"].tolist() == [[0, 4], [1, 1]]


def test_makeup_measures(analyses):
    members = analyses.members.set_index("subcomponent")
    assert members.index.tolist() == [0, 1, 2]
    np.testing.assert_allclose(members["mass"], [1.85, 1.0, 1.1], atol=2e-3)
    np.testing.assert_allclose(members["share"], [1.85 / 2.85, 1.0 / 2.85, 1.0], atol=1e-3)
    five = row(analyses, 5)
    assert five["depth_mean"] == pytest.approx(1.0 / 2.85, 1e-3)
    depth = 1.0 / 2.85
    spread = math.sqrt(1.85 / 2.85 * depth**2 + 1.0 / 2.85 * (1 - depth) ** 2)
    assert five["depth_spread"] == pytest.approx(spread, 1e-3)
    assert five["attention_share"] == pytest.approx(1.85 / 2.85, 1e-3)
    assert five["n_modules"] == 2
    assert five["module_entropy"] == pytest.approx(math.log(2))
    assert five["top_module_share"] == 0.5
    assert five["member_gini"] == pytest.approx(0.1)
    assert row(analyses, 7)["top_module"] == "layers.1.mlp.up_proj"
    assert row(analyses, 7)["attention_share"] == 0.0


def test_coactivation_between_clusters(analyses):
    table = analyses.coactivation
    assert table[["cluster", "other", "count"]].values.tolist() == [[5, 7, 1], [7, 5, 1]]
    np.testing.assert_allclose(table["jaccard"], [1 / 5, 1 / 5])


def test_unknown_cluster_row(analyses):
    with pytest.raises(KeyError, match="cluster 6"):
        analyses.row_of(6)


def test_statistics_helpers():
    assert gini(np.ones(5)) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 1.0])) == pytest.approx(0.75)
    np.testing.assert_allclose(
        entropy_rows(np.array([[1.0, 1.0], [0.0, 3.0], [0.0, 0.0]])), [math.log(2), 0, 0]
    )
    chosen = top_per_group(np.array([0, 0, 0, 1, 1]), np.array([1.0, 3.0, 2.0, 5.0, 5.0]), 2)
    assert chosen.tolist() == [1, 2, 3, 4]


def test_stored_examples_are_the_ones_found_on_request(analyses):
    """The examples table holds what `cluster_examples` finds from each cluster's activation,
    and the activation read in their windows only is the full activation there."""
    inputs = hand_case_inputs()
    for cluster in (5, 7):
        members = np.flatnonzero(np.equal(ASSIGNMENTS, cluster))
        full = cluster_activation(inputs.store, members)
        examples = stored_examples(analyses.examples, cluster)
        assert examples == [
            Example(e.kind, e.band, e.window, e.offset, pytest.approx(e.activation))
            for e in cluster_examples(full, 4)
        ]
        windows = sorted({example.window for example in examples})
        narrow = activation_in_windows(inputs.store, members, windows, 4)
        for window in windows:
            assert narrow.in_window(window, 4).tolist() == full.in_window(window, 4).tolist()
    top = stored_examples(analyses.examples, 5)[0]
    assert (top.kind, top.window, top.offset) == ("top", 0, 3)  # CI 0.95 at flat position 3


def test_cohesion_against_members_firing_independently(analyses):
    five, seven = row(analyses, 5), row(analyses, 7)
    # cluster 5: members firing on 3 and 2 of 8 tokens; independent, they would give
    # (3/8 + 2/8) / (2 * (1 - 5/8 * 6/8)) = 10/17
    assert five["cohesion_null"] == pytest.approx(10 / 17)
    assert five["cohesion_ratio"] == pytest.approx((5 / 8) / (10 / 17))
    assert five["cohesion_excess"] == pytest.approx((5 / 8 - 10 / 17) / (1 - 10 / 17))
    assert seven["cohesion_null"] == pytest.approx(1.0) and seven["cohesion_excess"] == 0.0
    assert five["always_on_members"] == 0


def test_the_null_is_the_cohesion_of_members_that_fire_independently():
    from dashboard.analysis.measures import independent_cohesion

    rng = np.random.default_rng(0)
    n_tokens, frequencies = 200_000, np.array([0.02, 0.05, 0.3, 0.6])
    fires = rng.random((len(frequencies), n_tokens)) < frequencies[:, None]
    indptr = np.concatenate([[0], np.cumsum(fires.sum(1))])
    null = independent_cohesion(indptr, np.zeros(4, dtype=np.int32), np.array([0]), n_tokens)
    observed = fires.sum() / (fires.any(0).sum() * len(frequencies))
    assert null["cohesion_null"].iloc[0] == pytest.approx(observed, rel=0.01)
    assert null["always_on_members"].iloc[0] == 1  # the member firing on 60% of tokens


def test_reliability_labels():
    from dashboard.analysis.measures import reliability_labels

    clusters = pd.DataFrame(
        {
            "size": [124, 260, 2, 1, 5],
            "firing_frequency": [0.013, 1.0, 0.01, 0.9, 0.2],
            "cohesion_excess": [0.001, 0.02, 0.9, 0.0, 0.4],
            "stability": [np.nan, 0.5, 0.9, np.nan, 0.8],  # NaN: not measured
        }
    )
    assert reliability_labels(clusters).tolist() == [
        "lump",
        "always-on, lump",
        "stable",
        "always-on",  # one member: never a lump
        "stable",
    ]


def test_one_member_is_never_above_chance():
    from dashboard.analysis.measures import independent_cohesion, with_cohesion_null

    # firing on 31 of 997 tokens: its null rounds to just under 1
    null = independent_cohesion(np.array([0, 31]), np.array([0]), np.array([0]), 997)
    clusters = pd.DataFrame({"cluster": [0], "size": [1], "cohesion": [1.0]})
    measured = with_cohesion_null(clusters, null)
    assert measured["cohesion_excess"].iloc[0] == 0.0
    assert measured["cohesion_ratio"].iloc[0] == pytest.approx(1.0)


def test_a_study_stored_before_the_null_gets_it_when_read(micro_study, tmp_path) -> None:
    import hashlib
    import json
    import shutil

    from dashboard.analysis.study_analyses import stored_analyses
    from dashboard.study import Study

    copy = Path(shutil.copytree(micro_study, tmp_path / "micro"))
    path = copy / "analyses" / "clusters.parquet"
    full = pd.read_parquet(path)
    added = ["cohesion_null", "always_on_members", "cohesion_ratio", "cohesion_excess"]
    full.drop(columns=added).to_parquet(path)
    manifest_path = copy / "study.json"  # as a build before the null wrote it
    manifest = json.loads(manifest_path.read_text())
    manifest["files"]["analyses/clusters.parquet"] = {
        "bytes": path.stat().st_size,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    manifest_path.write_text(json.dumps(manifest))
    read = stored_analyses(Study(copy)).clusters
    pd.testing.assert_frame_equal(read[added], full[added], check_dtype=False)


def test_a_study_stored_before_stability_reads_as_not_measured(micro_study, tmp_path) -> None:
    import hashlib
    import json
    import shutil

    from dashboard.analysis.study_analyses import stored_analyses
    from dashboard.study import Study

    copy = Path(shutil.copytree(micro_study, tmp_path / "micro"))
    manifest_path = copy / "study.json"  # as a build before the ensemble wrote them
    manifest = json.loads(manifest_path.read_text())
    for name in ("clusters", "members"):
        path = copy / "analyses" / f"{name}.parquet"
        pd.read_parquet(path).drop(columns=["stability"]).to_parquet(path)
        manifest["files"][f"analyses/{name}.parquet"] = {
            "bytes": path.stat().st_size,
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        }
    manifest_path.write_text(json.dumps(manifest))
    read = stored_analyses(Study(copy))
    assert read.clusters["stability"].isna().all() and read.members["stability"].isna().all()
