"""The learning-rate schedule shared by every training loop here."""

from __future__ import annotations

import math


def warmup_cosine(step: int, steps: int, warmup_steps: int, peak: float, floor: float) -> float:
    """Linear warm-up to `peak`, then cosine decay to `floor` times the peak."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))
