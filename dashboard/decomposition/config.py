"""What a decomposition is made of and how it is trained; stored as `config.json`."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ModulePattern:
    """A glob over module paths (fnmatch), the number of subcomponents per matched module, and
    how much more (or less) the importance-minimality loss weighs on them than on the rest."""

    pattern: str
    C: int
    importance_minimality_scale: float = 1.0


@dataclass(frozen=True)
class LossConfig:
    """Coefficients of the SPD loss terms and the importance-minimality schedule."""

    faithfulness: float = 1e5
    stochastic_recon: float = 1.0
    stochastic_recon_layerwise: float = 1.0
    ci_masked_recon: float = 0.0  # KL with masks equal to the CI itself, no delta
    importance_minimality: float = 1e-3
    importance_minimality_warmup: float = 0.0  # fraction of training over which it ramps from 0
    pnorm: float = 2.0
    pnorm_final: float | None = None  # annealed linearly from pnorm between the two fractions
    pnorm_anneal_start: float = 0.0
    pnorm_anneal_end: float = 1.0
    n_mask_samples: int = 1
    layerwise_modules_per_step: int | None = None  # None: every module every step

    def importance_minimality_at(self, fraction: float) -> float:
        """The importance-minimality coefficient at this fraction of training."""
        if fraction >= self.importance_minimality_warmup:
            return self.importance_minimality
        return self.importance_minimality * fraction / self.importance_minimality_warmup

    def pnorm_at(self, fraction: float) -> float:
        """p of the importance-minimality loss at this fraction of training."""
        if self.pnorm_final is None or fraction <= self.pnorm_anneal_start:
            return self.pnorm
        if fraction >= self.pnorm_anneal_end:
            return self.pnorm_final
        span = self.pnorm_anneal_end - self.pnorm_anneal_start
        return self.pnorm + (self.pnorm_final - self.pnorm) * (
            (fraction - self.pnorm_anneal_start) / span
        )


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 1000
    batch_size: int = 16
    window_length: int = 64
    learning_rate: float = 2e-3
    warmup_fraction: float = 0.05
    final_lr_fraction: float = 0.1
    weight_decay: float = 0.0
    faithfulness_warmup_steps: int = 200
    faithfulness_warmup_lr: float = 1e-2
    checkpoint_every: int = 200
    eval_windows: int = 64
    seed: int = 0


@dataclass(frozen=True)
class DecompositionConfig:
    target: str  # "demo", "micro", "smollm2", or a model directory
    modules: tuple[ModulePattern, ...]
    ci_fn_type: str = "shared_mlp"
    ci_fn_hidden_dims: tuple[int, ...] = (64,)
    sigmoid_type: str = "leaky_hard"
    use_delta_component: bool = True
    sampling: str = "continuous"
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DecompositionConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"config.json: unknown field(s) {', '.join(sorted(unknown))}")
        return cls(
            **{
                **data,
                "modules": tuple(ModulePattern(**m) for m in data["modules"]),
                "ci_fn_hidden_dims": tuple(data.get("ci_fn_hidden_dims", (64,))),
                "loss": LossConfig(**data.get("loss", {})),
                "train": TrainConfig(**data.get("train", {})),
            }
        )

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_json(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> DecompositionConfig:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"cannot read {path}: {error}") from error
        return cls.from_json(data)
