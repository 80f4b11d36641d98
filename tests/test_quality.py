"""The decomposition quality a study shows: from its manifest, or its decomposition's report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dashboard.study import Study
from dashboard.study.quality import decomposition_quality


def test_a_built_study_records_its_decompositions_report(micro_study: Path) -> None:
    study = Study(micro_study)
    recorded = study.manifest["settings"]["decomposition_quality"]
    report_path = Path(study.manifest["settings"]["decomposition_dir"]) / "report.json"
    report = json.loads(report_path.read_text())
    assert recorded["ci_masked_loss"] == report["ci_masked_loss"]
    quality = decomposition_quality(study)
    assert quality.loss_gap == pytest.approx(report["ci_masked_loss"] - report["target_loss"])
    assert quality.masked_kl == pytest.approx(report["ci_masked_kl"])
    assert [m.module for m in quality.modules] == list(report["modules"])
    fractions = [f["l0"] / f["C"] for f in report["modules"].values()]
    assert quality.mean_l0_fraction == pytest.approx(sum(fractions) / len(fractions))
    assert len(quality.dense_modules) == sum(f > 0.1 for f in fractions)


def test_a_study_without_a_report_has_no_quality(random_study: Path) -> None:
    assert decomposition_quality(Study(random_study)) is None
