"""The model-side operations of the inference service (torch). Inputs and results are plain
JSON-ready values, so the same calls run inline or in a Celery worker."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dashboard.decomposition.api import Decomposition
from dashboard.inference.limits import MAX_TOKENS
from dashboard.models.target import target_logits


class InputTooLongError(ValueError):
    """A text longer than the service accepts."""


def encode(decomposition: Decomposition, text: str) -> torch.Tensor:
    ids = decomposition.encode(text)
    if ids.shape[1] == 0:
        raise ValueError("the text has no tokens")
    if ids.shape[1] > MAX_TOKENS:
        raise InputTooLongError(
            f"the text has {ids.shape[1]:,} tokens; the limit is {MAX_TOKENS:,} per text"
        )
    return ids


def token_strings(decomposition: Decomposition, ids: torch.Tensor) -> list[str]:
    return [decomposition.tokenizer.decode([int(i)]) for i in ids[0]]


def flat_ci(decomposition: Decomposition, ids: torch.Tensor) -> np.ndarray:
    """`[seq, n_subcomponents]` CI in the study's label order (module by module)."""
    with torch.no_grad():
        per_module = decomposition.causal_importances(ids)
    return (
        torch.cat([per_module[path][0] for path in decomposition.module_paths], dim=-1)
        .cpu()
        .numpy()
    )


def probe(decomposition: Decomposition, text: str, threshold: float) -> dict:
    """Tokens of `text` and every (position, subcomponent, CI) above `threshold`."""
    ids = encode(decomposition, text)
    ci = flat_ci(decomposition, ids)
    positions, subcomponents = np.nonzero(ci > threshold)
    return {
        "tokens": token_strings(decomposition, ids),
        "position": positions.tolist(),
        "subcomponent": subcomponents.tolist(),
        "ci": np.round(ci[positions, subcomponents], 4).tolist(),
    }


def prompt_importance(decomposition: Decomposition, prompts: list[str], aggregate: str) -> list:
    """Per subcomponent, the max or mean CI over every token of every prompt."""
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate {aggregate!r}: expected max or mean")
    if not prompts:
        raise ValueError("the prompt set is empty")
    stacked = np.concatenate([flat_ci(decomposition, encode(decomposition, p)) for p in prompts])
    values = stacked.max(axis=0) if aggregate == "max" else stacked.mean(axis=0)
    return np.round(values, 6).tolist()


def module_masks(decomposition: Decomposition, values: np.ndarray) -> dict[str, torch.Tensor]:
    """Split a `[n_subcomponents]` mask into the per-module masks of the masked forward."""
    masks, start = {}, 0
    for path in decomposition.module_paths:
        count = decomposition.model.component(path).n_components
        masks[path] = torch.as_tensor(
            values[start : start + count], dtype=torch.float32, device=decomposition.device
        )
        start += count
    return masks


def masked_inference(
    decomposition: Decomposition, values: list[float], prompts: list[str], top_k: int = 5
) -> dict:
    """For each prompt: both models' top-k next tokens, per-position loss and KL; a summary."""
    masks = module_masks(decomposition, np.asarray(values, dtype=np.float32))
    results, kls, loss_differences, agreements = [], [], [], []
    for prompt in prompts:
        ids = encode(decomposition, prompt)
        with torch.no_grad():
            target = target_logits(decomposition.target, ids)[0].float()
            masked = decomposition.forward_masked(ids, masks)[0].float()
        target_log, masked_log = F.log_softmax(target, -1), F.log_softmax(masked, -1)
        kl = (target_log.exp() * (target_log - masked_log)).sum(-1)
        following = ids[0, 1:]
        target_loss = -target_log[:-1].gather(-1, following[:, None])[:, 0]
        masked_loss = -masked_log[:-1].gather(-1, following[:, None])[:, 0]
        target_top = target_log.topk(top_k, -1)
        masked_top = masked_log.topk(top_k, -1)
        agreement = (target_top.indices[:, 0] == masked_top.indices[:, 0]).float()
        results.append(
            {
                "tokens": token_strings(decomposition, ids),
                "kl": np.round(kl.cpu().numpy(), 5).tolist(),
                "target_loss": np.round(target_loss.cpu().numpy(), 4).tolist(),
                "masked_loss": np.round(masked_loss.cpu().numpy(), 4).tolist(),
                "target_top": [
                    [decomposition.tokenizer.decode([int(i)]) for i in row]
                    for row in target_top.indices.cpu()
                ],
                "masked_top": [
                    [decomposition.tokenizer.decode([int(i)]) for i in row]
                    for row in masked_top.indices.cpu()
                ],
            }
        )
        kls.append(kl.mean().item())
        if len(following):
            loss_differences.append((masked_loss - target_loss).mean().item())
        agreements.append(agreement.mean().item())
    return {
        "prompts": results,
        "summary": {
            "mean_kl": float(np.mean(kls)),
            "loss_difference": float(np.mean(loss_differences)) if loss_differences else 0.0,
            "top1_agreement": float(np.mean(agreements)),
        },
    }


def heldout_prompts(decomposition: Decomposition, count: int = 8, characters: int = 240) -> list:
    """Openings of documents the models never trained on (the corpus's held-out split)."""
    from dashboard.models.corpus import split_documents, wiki_documents
    from dashboard.models.datasets import HELDOUT_FRACTION

    del decomposition  # the split is the same for every model trained here
    held_out = split_documents(wiki_documents(), HELDOUT_FRACTION, seed=0).heldout
    return [document[:characters].rsplit(" ", 1)[0] for document in held_out[:count]]


OPERATIONS = {
    "heldout_prompts": heldout_prompts,
    "probe": probe,
    "prompt_importance": prompt_importance,
    "masked_inference": masked_inference,
}
