"""Lens scores on a torch device: the same numbers as `analysis.lens_decode.score`, batched on
CUDA when the build runs on one."""

from __future__ import annotations

import numpy as np
import torch

from dashboard.analysis.lens_decode import LensMatrices, Scorer, unit_rows


def device_scorer(matrices: LensMatrices, device: torch.device) -> Scorer:
    """A scorer holding the lens matrices on `device` (moved there once)."""
    logit = torch.as_tensor(np.asarray(matrices.logit, np.float32), device=device)
    embedding = torch.as_tensor(unit_rows(matrices.embedding), device=device)
    decoder = torch.as_tensor(np.asarray(matrices.sae_decoder, np.float32), device=device)

    @torch.no_grad()
    def scorer(lens: str, _matrices: LensMatrices, prepared: np.ndarray) -> np.ndarray:
        vectors = torch.as_tensor(prepared, dtype=torch.float32, device=device)
        if lens in ("logit", "tuned"):
            scores = vectors @ logit
        elif lens == "embedding":
            scores = vectors @ embedding.T
        else:
            slots = vectors.reshape(len(vectors), len(decoder), -1)
            scores = torch.einsum("nsd,sfd->nsf", slots, decoder).reshape(len(vectors), -1)
        return scores.cpu().numpy()

    return scorer
