"""The science report: the chance of co-clustering, and the report of the micro study with and
without explanation scores, through the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.measures import reliability_labels
from dashboard.analysis.science import science_report
from dashboard.analysis.stability import chance_co_clustering
from dashboard.analysis.study_analyses import cluster_analyses
from dashboard.cli import main
from dashboard.stores.database import Database
from dashboard.stores.explanations import Explanation, ExplanationStore, Score
from dashboard.study import Study


def test_chance_co_clustering_counts_pairs_in_one_cluster() -> None:
    # run 0: sizes 2 and 2 of 4 -> 2 pairs of 6; run 1: one cluster of 3, one unseen -> 3 of 3
    ensemble = np.array([[0, 0, 1, 1], [5, 5, 5, -1]])
    assert chance_co_clustering(ensemble) == pytest.approx((2 / 6 + 1.0) / 2)
    assert np.isnan(chance_co_clustering(np.array([[0, -1, -1]])))


def test_the_report_gives_each_measure_s_distribution_and_the_labels(
    micro_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    study = Study(micro_study)
    iteration = study.default_iteration
    clusters = cluster_analyses(study, iteration).clusters
    report = science_report(study, iteration, None)
    lumps = int(reliability_labels(clusters).str.contains("lump").sum())
    assert (
        f"| lump | two members or more, chance-corrected cohesion under 0.05 | {lumps} |" in report
    )
    median = clusters.loc[clusters["size"] >= 2, "stability"].median()
    assert "| `stability` | pairs kept together across the runs |" in report
    assert f"{median:.3g}" in report
    assert "No explanation of this study's clusters has been scored yet" in report

    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = ExplanationStore(Database(store_url))
    for cluster, detection in zip(clusters["cluster"][:4], (0.9, 0.7, 0.6, 0.3), strict=True):
        store.put(
            Explanation(
                study.name,
                iteration,
                "cluster",
                str(cluster),
                "model",
                "m",
                "x",
                detection,
                scores=(Score("detection", detection, 0.5), Score("intruder", 0.3, 0.2)),
            )
        )
    scored = science_report(study, iteration, store.newest_scores(study.name, iteration))
    assert "own explanation scored above the random one for 75% of 4 clusters" in scored
    assert "intruder: mean 0.300 against chance 0.2 over 4 clusters" in scored
    assert "| `detection` |" in scored and "| 4 | 0.625 |" in scored

    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", store_url)
    out = tmp_path / "science.md"
    assert main(["science", str(micro_study), "--out", str(out)]) == 0
    assert out.read_text() == scored
    assert f"wrote {out}" in capsys.readouterr().out
    pd.testing.assert_frame_equal(clusters, cluster_analyses(study, iteration).clusters)


def test_build_writes_the_science_report_when_asked(
    micro_data_dir: Path, micro_study: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`build --science-doc` (the study is up to date: only the report is written)."""
    monkeypatch.setenv("ATLAS_DATA_DIR", str(micro_data_dir))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'store.sqlite3'}")
    out = tmp_path / "science.md"
    argv = ["build", "--preset", "micro", "--out", str(micro_study), "--device", "cpu"]
    assert main([*argv, "--science-doc", str(out)]) == 0
    study = Study(micro_study)
    assert out.read_text() == science_report(study, study.default_iteration, None)
