"""The tuned lens (Belrose et al. 2023): an affine translator per residual point, trained so that
the model's own read-out of the translated stream matches its final next-token distribution.

The translator of point `l` maps `h -> h + A_l h + b_l`. `A_l` and `b_l` start at zero, so the
untrained lens is the logit lens. The loss is KL(final distribution || lens distribution), with the
final distribution read from point `n_layers`. The model itself is frozen throughout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from dashboard.pipeline.anatomy import Anatomy, anatomy_of


@dataclass(frozen=True)
class TunedLensConfig:
    steps: int = 300
    batch_tokens: int = 512
    learning_rate: float = 1e-2
    weight_decay: float = 1e-3
    seed: int = 0
    heldout_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not 0 < self.heldout_fraction < 1:
            raise ValueError(f"heldout_fraction {self.heldout_fraction} is outside (0, 1)")
        if self.steps < 0 or self.batch_tokens < 1:
            raise ValueError("steps must be >= 0 and batch_tokens >= 1")

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class TunedLens:
    """Translator of point `l`: `h -> h + h @ weights[l].T + bias[l]` (row-vector `h`)."""

    weights: np.ndarray  # [n_layers, d_model, d_model] float32, the A matrices
    bias: np.ndarray  # [n_layers, d_model] float32
    report: dict

    @property
    def n_layers(self) -> int:
        return len(self.weights)


@contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Within the block no parameter of `module` takes gradients; the flags are restored after."""
    flags = [(parameter, parameter.requires_grad) for parameter in module.parameters()]
    for parameter, _ in flags:
        parameter.requires_grad_(False)
    try:
        yield
    finally:
        for parameter, flag in flags:
            parameter.requires_grad_(flag)


def log_probabilities(anatomy: Anatomy, residual: torch.Tensor) -> torch.Tensor:
    """Next-token log-probabilities the model reads from a float32 residual, as float32."""
    logits = anatomy.logits(residual.to(anatomy.unembedding.weight.dtype))
    return F.log_softmax(logits.float(), dim=-1)


def kl_per_token(final_log_probs: torch.Tensor, lens_log_probs: torch.Tensor) -> torch.Tensor:
    """KL(final || lens) in nats for each row."""
    return F.kl_div(lens_log_probs, final_log_probs, reduction="none", log_target=True).sum(-1)


def translate(residual: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return residual + residual @ weight.T + bias


def lens_kl(
    model: nn.Module,
    residuals: np.ndarray,
    weights: np.ndarray,
    bias: np.ndarray,
    device: torch.device,
    batch_tokens: int = 4096,
) -> np.ndarray:
    """Mean KL(final || lens) per point `[n_layers]` over every token of `residuals`
    `[n_layers + 1, n_tokens, d_model]`; zero `weights` and `bias` give the logit lens."""
    anatomy = anatomy_of(model)
    n_layers, n_tokens = len(weights), residuals.shape[1]
    weights_t = torch.from_numpy(np.asarray(weights, dtype=np.float32)).to(device)
    bias_t = torch.from_numpy(np.asarray(bias, dtype=np.float32)).to(device)
    totals = np.zeros(n_layers, dtype=np.float64)
    with torch.no_grad():
        for start in range(0, n_tokens, batch_tokens):
            rows = slice(start, start + batch_tokens)
            batch = torch.from_numpy(residuals[:, rows]).to(device, torch.float32)
            final = log_probabilities(anatomy, batch[n_layers])
            for point in range(n_layers):
                lens = log_probabilities(
                    anatomy, translate(batch[point], weights_t[point], bias_t[point])
                )
                totals[point] += float(kl_per_token(final, lens).double().sum())
    return totals / n_tokens


def train_tuned_lens(
    model: nn.Module, residuals: np.ndarray, config: TunedLensConfig, device: torch.device
) -> TunedLens:
    """Fit translators on the first tokens of `residuals` `[n_layers + 1, n_tokens, d_model]`;
    the report compares held-out KL of the logit lens and the tuned lens at each point."""
    started = time.perf_counter()
    anatomy = anatomy_of(model)
    n_layers, d_model = anatomy.n_layers, anatomy.d_model
    if residuals.shape[0] != n_layers + 1 or residuals.shape[2] != d_model:
        raise ValueError(
            f"residuals {residuals.shape} do not match {n_layers + 1} points of width {d_model}"
        )
    n_tokens = residuals.shape[1]
    n_train = n_tokens - max(1, round(n_tokens * config.heldout_fraction))
    if n_train < 1:
        raise ValueError(f"{n_tokens} tokens leave none to train on")

    generator = np.random.default_rng(config.seed)
    weights = torch.zeros(n_layers, d_model, d_model, device=device, requires_grad=True)
    bias = torch.zeros(n_layers, d_model, device=device, requires_grad=True)
    optimizer = torch.optim.AdamW(
        [
            {"params": [weights], "weight_decay": config.weight_decay},
            {"params": [bias], "weight_decay": 0.0},
        ],
        lr=config.learning_rate,
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 1.0 - step / max(1, config.steps)
    )
    loss_value = float("nan")
    with frozen(model):
        for _ in tqdm(range(config.steps), desc="tuned lens", leave=False):
            rows = np.sort(generator.integers(0, n_train, config.batch_tokens))
            batch = torch.from_numpy(residuals[:, rows]).to(device, torch.float32)
            with torch.no_grad():
                final = log_probabilities(anatomy, batch[n_layers])
            loss = sum(
                kl_per_token(
                    final,
                    log_probabilities(
                        anatomy, translate(batch[point], weights[point], bias[point])
                    ),
                ).mean()
                for point in range(n_layers)
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            loss_value = loss.item()

    weights_np = weights.detach().cpu().numpy()
    bias_np = bias.detach().cpu().numpy()
    heldout = residuals[:, n_train:]
    zeros_weights, zeros_bias = np.zeros_like(weights_np), np.zeros_like(bias_np)
    report = {
        "train_tokens": n_train,
        "heldout_tokens": n_tokens - n_train,
        "final_train_loss": loss_value,
        "logit_lens_kl": lens_kl(model, heldout, zeros_weights, zeros_bias, device).tolist(),
        "tuned_lens_kl": lens_kl(model, heldout, weights_np, bias_np, device).tolist(),
        "seconds": time.perf_counter() - started,
        "config": config.to_json(),
    }
    return TunedLens(weights_np, bias_np, report)
