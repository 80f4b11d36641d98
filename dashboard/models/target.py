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
