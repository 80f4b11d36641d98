"""Shared fixtures: a small random study written once per test session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.study_factory import write_random_study


@pytest.fixture(scope="session")
def random_study_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_random_study(tmp_path_factory.mktemp("template") / "random-study")


@pytest.fixture
def random_study(random_study_template: Path, tmp_path: Path) -> Path:
    """A private copy each test may damage."""
    return Path(shutil.copytree(random_study_template, tmp_path / "random-study"))


@pytest.fixture(scope="session")
def micro_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the `micro` target model, trained once per test session."""
    from dashboard.models.demo import PRESETS, train_tiny_llama

    data_dir = tmp_path_factory.mktemp("micro-data")
    train_tiny_llama(data_dir / "models" / "micro", PRESETS["micro"])
    return data_dir


@pytest.fixture(scope="session")
def micro_decomposition(micro_data_dir: Path) -> Path:
    """The `micro` decomposition preset, trained once per test session."""
    import torch

    from dashboard.decomposition.presets import PRESETS
    from dashboard.decomposition.train import decompose

    out = micro_data_dir / "decompositions" / "micro"
    decompose(PRESETS["micro"], out, micro_data_dir, torch.device("cpu"))
    return out


@pytest.fixture(scope="session")
def micro_study(micro_data_dir: Path, micro_decomposition: Path) -> Path:
    """The `micro` study (decomposition, harvest, clustering), built once per test session."""
    import torch

    from dashboard.pipeline.build import build_study
    from dashboard.pipeline.presets import BUILD_PRESETS

    out = micro_data_dir / "micro"
    return build_study("micro", BUILD_PRESETS["micro"], micro_data_dir, out, torch.device("cpu"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI (`ATLAS_CI=1`, set by `.ci/run`) a skipped test fails the run: none drops out
    quietly."""
    import os

    if not os.environ.get("ATLAS_CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter is not None else []
    if skipped:
        reporter.write_line(
            f"ATLAS_CI: {len(skipped)} test(s) skipped, which CI does not allow: "
            + ", ".join(report.nodeid for report in skipped),
            red=True,
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
