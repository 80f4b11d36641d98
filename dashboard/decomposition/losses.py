"""The SPD loss terms (Bushnaq, Braun, Sharkey et al. 2025)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dashboard.decomposition.model import DecomposedModel, Deltas, Masks

EPS = 1e-12


def kl_to_target(logits: torch.Tensor, target_logits: torch.Tensor) -> torch.Tensor:
    """Mean over positions of KL(target ‖ model) of the next-token distributions."""
    target_log_probs = F.log_softmax(target_logits, dim=-1)
    per_position = F.kl_div(
        F.log_softmax(logits, dim=-1), target_log_probs, log_target=True, reduction="none"
    ).sum(-1)
    return per_position.mean()


def faithfulness_loss(weight_deltas: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean squared entry of `W - V U` over every decomposed weight."""
    squared = sum(delta.pow(2).sum() for delta in weight_deltas.values())
    return squared / sum(delta.numel() for delta in weight_deltas.values())


def stochastic_masks(ci: dict[str, torch.Tensor], sampling: str) -> Masks:
    """`m = g + (1 - g) r`: r uniform in [0, 1) (`continuous`) or 0/1 (`binomial`)."""
    if sampling == "continuous":
        return {path: g + (1 - g) * torch.rand_like(g) for path, g in ci.items()}
    if sampling == "binomial":
        return {path: g + (1 - g) * torch.randint_like(g, 0, 2) for path, g in ci.items()}
    raise ValueError(f"sampling {sampling!r}: expected continuous or binomial")


def delta_masks(
    weight_deltas: dict[str, torch.Tensor] | None, shape: torch.Size, device: torch.device
) -> Deltas:
    """The delta component of each module switched on by a uniform random amount per token."""
    if weight_deltas is None:
        return {}
    return {
        path: (delta, torch.rand(shape, device=device)) for path, delta in weight_deltas.items()
    }


def stochastic_recon_loss(
    model: DecomposedModel,
    input_ids: torch.Tensor,
    target_logits: torch.Tensor,
    ci: dict[str, torch.Tensor],
    weight_deltas: dict[str, torch.Tensor] | None,
    n_samples: int,
    sampling: str,
    modules: list[str] | None = None,
) -> torch.Tensor:
    """KL to the target under random masks: all modules at once (`modules=None`), or each alone."""
    losses = []
    for _ in range(n_samples):
        masks = stochastic_masks(ci, sampling)
        deltas = delta_masks(weight_deltas, input_ids.shape, input_ids.device)
        groups = [list(masks)] if modules is None else [[path] for path in modules]
        for group in groups:
            logits = model.forward_masked(
                input_ids,
                {path: masks[path] for path in group},
                {path: deltas[path] for path in group if path in deltas},
            )
            losses.append(kl_to_target(logits, target_logits))
    return torch.stack(losses).mean()


def importance_minimality_loss(
    ci_upper: dict[str, torch.Tensor], pnorm: float, scales: dict[str, float]
) -> torch.Tensor:
    """Σ over modules (each times its scale) and subcomponents of the mean over tokens of
    `(g + eps)^p`."""
    total = 0.0
    for path, g in ci_upper.items():
        total = total + scales[path] * (g + EPS).pow(pnorm).flatten(0, -2).mean(0).sum()
    return total
