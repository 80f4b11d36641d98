"""The one call every target model answers: token ids in, next-token logits out."""

from __future__ import annotations

import torch
from torch import nn
from transformers import PreTrainedModel


def target_logits(model: nn.Module, input_ids: torch.Tensor) -> torch.Tensor:
    """Hugging Face models return an output object; the spd pretraining models return logits."""
    if isinstance(model, PreTrainedModel):
        return model(input_ids=input_ids, use_cache=False).logits
    return model(input_ids)


def context_length(model: nn.Module) -> int | None:
    """The longest input the model takes, when its config says."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "block_size", "n_ctx"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    return None
