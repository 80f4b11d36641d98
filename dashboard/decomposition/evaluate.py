"""The final report of a decomposition: how faithful and how sparse it is on held-out text."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dashboard.decomposition.losses import delta_masks, kl_to_target, stochastic_masks
from dashboard.decomposition.model import DecomposedModel

L0_THRESHOLD = 0.1


def next_token_loss(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), input_ids[:, 1:].flatten())


@torch.no_grad()
def evaluate(
    model: DecomposedModel,
    windows: np.ndarray,
    batch_size: int,
    device: torch.device,
    use_delta_component: bool,
    sampling: str,
    seed: int,
) -> dict:
    """Held-out losses (nats) and KL to the target, and per module C, L0, alive, faithfulness."""
    torch.manual_seed(seed)
    sums = dict.fromkeys(
        (
            "target_loss",
            "ci_masked_loss",
            "stochastic_masked_loss",
            "ci_masked_kl",
            "stochastic_masked_kl",
        ),
        0.0,
    )
    active_counts = {path: 0.0 for path in model.module_paths}
    ever_alive = {
        path: torch.zeros(model.component(path).n_components, dtype=torch.bool, device=device)
        for path in model.module_paths
    }
    deltas = model.weight_deltas() if use_delta_component else None
    n_batches, n_tokens = 0, 0
    for start in range(0, len(windows), batch_size):
        input_ids = torch.from_numpy(windows[start : start + batch_size]).long().to(device)
        target, inputs = model.run_target(input_ids)
        ci = model.ci_from_inputs(inputs, with_upper=False).lower
        ci_logits = model.forward_masked(input_ids, ci)
        stochastic_logits = model.forward_masked(
            input_ids,
            stochastic_masks(ci, sampling),
            delta_masks(deltas, input_ids.shape, device),
        )
        sums["target_loss"] += float(next_token_loss(target, input_ids))
        sums["ci_masked_loss"] += float(next_token_loss(ci_logits, input_ids))
        sums["stochastic_masked_loss"] += float(next_token_loss(stochastic_logits, input_ids))
        sums["ci_masked_kl"] += float(kl_to_target(ci_logits, target))
        sums["stochastic_masked_kl"] += float(kl_to_target(stochastic_logits, target))
        for path, g in ci.items():
            firing = g > L0_THRESHOLD
            active_counts[path] += float(firing.sum())
            ever_alive[path] |= firing.flatten(0, -2).any(0)
        n_batches += 1
        n_tokens += input_ids.numel()
    report: dict = {key: value / n_batches for key, value in sums.items()}
    modules = {}
    for path in model.module_paths:
        weight = model.target_weight(path)
        component = model.component(path)
        modules[path] = {
            "C": component.n_components,
            "l0": active_counts[path] / n_tokens,
            "alive": int(ever_alive[path].sum()),
            "faithfulness_rel_error": float(
                (weight - component.weight()).norm() / weight.norm().clamp_min(1e-12)
            ),
        }
    report["modules"] = modules
    report["mean_l0_fraction"] = float(np.mean([m["l0"] / m["C"] for m in modules.values()]))
    report["eval_tokens"] = n_tokens
    report["l0_threshold"] = L0_THRESHOLD
    return report
