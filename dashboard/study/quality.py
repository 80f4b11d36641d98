"""How faithful and how sparse the decomposition behind a study is, from its training report:
held-out losses of the target and of the CI-masked model, their KL, and L0 per module."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from dashboard.study.reader import Study

REPORT = "report.json"  # written by `spd-atlas decompose` next to the decomposition
SPARSE_FRACTION = 0.10  # a module whose tokens need more of its subcomponents is flagged


@dataclass(frozen=True)
class ModuleQuality:
    module: str
    components: int
    alive: int
    l0: float  # subcomponents a held-out token needs, on average (CI above the L0 threshold)
    faithfulness_error: float  # ‖W - V U‖ / ‖W‖

    @property
    def l0_fraction(self) -> float:
        return self.l0 / self.components if self.components else 0.0


@dataclass(frozen=True)
class DecompositionQuality:
    target_loss: float
    masked_loss: float  # the CI-masked model's, nats
    masked_kl: float  # KL from the target to the CI-masked model, nats per token
    modules: list[ModuleQuality]

    @property
    def loss_gap(self) -> float:
        return self.masked_loss - self.target_loss

    @property
    def mean_l0_fraction(self) -> float:
        return sum(m.l0_fraction for m in self.modules) / max(len(self.modules), 1)

    @property
    def dense_modules(self) -> list[ModuleQuality]:
        return [m for m in self.modules if m.l0_fraction > SPARSE_FRACTION]


def summary_of(report: dict) -> dict:
    """What a study keeps of its decomposition's training report (in its manifest)."""
    keys = ("target_loss", "ci_masked_loss", "ci_masked_kl", "modules")
    return {key: report[key] for key in keys if key in report}


def decomposition_quality(study: Study) -> DecompositionQuality | None:
    """The quality recorded in the study, else read from its decomposition's report; None when
    neither is there (an imported run without an evaluation, say)."""
    settings = study.manifest.get("settings") or {}
    report = settings.get("decomposition_quality")
    if report is None and settings.get("decomposition_dir"):
        try:
            report = json.loads((Path(settings["decomposition_dir"]) / REPORT).read_text())
        except (OSError, ValueError):
            return None
    return quality_from_report(report or {})


def quality_from_report(report: dict) -> DecompositionQuality | None:
    """A decomposition's `report.json` (or the part a study keeps) as its quality; None when it
    has no evaluation."""
    if "ci_masked_loss" not in report:
        return None
    return DecompositionQuality(
        target_loss=float(report["target_loss"]),
        masked_loss=float(report["ci_masked_loss"]),
        masked_kl=float(report.get("ci_masked_kl", float("nan"))),
        modules=[
            ModuleQuality(
                module=path,
                components=int(figures["C"]),
                alive=int(figures["alive"]),
                l0=float(figures["l0"]),
                faithfulness_error=float(figures["faithfulness_rel_error"]),
            )
            for path, figures in (report.get("modules") or {}).items()
        ],
    )
