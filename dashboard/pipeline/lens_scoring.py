"""Lens scores on a torch device: each lens's own formula (`Lens.score_with`, the one the app
runs in numpy) on its operands moved to CUDA when the build runs on one."""

from __future__ import annotations

import numpy as np
import torch

from dashboard.analysis.lens_decode import Scorer
from dashboard.analysis.lenses import LENSES, Lens, LensMatrices


def device_scorer(matrices: LensMatrices, device: torch.device) -> Scorer:
    """A scorer holding every readable lens's operands on `device` (moved there once)."""
    operands = {
        lens.name: tuple(torch.as_tensor(array, device=device) for array in lens.operands(matrices))
        for lens in LENSES.values()
        if lens.reads_from(matrices)
    }

    @torch.no_grad()
    def scorer(lens: Lens, _matrices: LensMatrices, prepared: np.ndarray) -> np.ndarray:
        vectors = torch.as_tensor(prepared, dtype=torch.float32, device=device)
        return lens.score_with(vectors, operands[lens.name]).cpu().numpy()

    return scorer
