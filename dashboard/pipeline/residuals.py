"""The residual stream of a target model at chosen points, for every token of a set of windows."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dashboard.models.target import target_logits
from dashboard.pipeline.anatomy import anatomy_of


def collect_residuals(
    model: nn.Module,
    windows: np.ndarray,
    points: list[int],
    batch_size: int,
    device: torch.device,
) -> np.ndarray:
    """`[len(points), n_windows * length, d_model]` float32; row `window * length + offset`."""
    anatomy = anatomy_of(model)
    n_windows, length = windows.shape
    residuals = np.empty((len(points), n_windows * length, anatomy.d_model), dtype=np.float32)
    with torch.no_grad(), anatomy.capture(points) as captured:
        for start in tqdm(range(0, n_windows, batch_size), desc="residuals", leave=False):
            batch = torch.from_numpy(np.asarray(windows[start : start + batch_size])).long()
            target_logits(model, batch.to(device))
            rows = slice(start * length, (start + len(batch)) * length)
            for slot, point in enumerate(points):
                residuals[slot, rows] = (
                    captured[point].reshape(-1, anatomy.d_model).float().cpu().numpy()
                )
    return residuals
