"""Rank-1 subcomponents of one linear module: `W ≈ Σ_c U[c] ⊗ V[:, c]`."""

from __future__ import annotations

import math

import torch
from torch import nn
from transformers.pytorch_utils import Conv1D


def dense_weight(module: nn.Module) -> torch.Tensor:
    """A linear weight as `[d_out, d_in]` (nn.Linear's layout; Conv1D stores it transposed)."""
    if isinstance(module, Conv1D):
        return module.weight.T
    if isinstance(module, nn.Linear):
        return module.weight
    raise TypeError(f"{type(module).__name__} is not a linear layer (nn.Linear or Conv1D)")


class Subcomponents(nn.Module):
    """`V [d_in, C]` reads, `U [C, d_out]` writes; the target's bias is kept, never masked."""

    def __init__(self, d_in: int, d_out: int, n_components: int, bias: torch.Tensor | None):
        super().__init__()
        self.V = nn.Parameter(torch.randn(d_in, n_components) / math.sqrt(d_in))
        self.U = nn.Parameter(torch.randn(n_components, d_out) / math.sqrt(n_components))
        self.register_buffer("bias", None if bias is None else bias.detach().clone())

    @property
    def n_components(self) -> int:
        return self.V.shape[1]

    def weight(self) -> torch.Tensor:
        """The sum of all subcomponents as `[d_out, d_in]`."""
        return (self.V @ self.U).T

    def inner_acts(self, x: torch.Tensor) -> torch.Tensor:
        """`x · V[:, c]` for every subcomponent: `[..., C]`."""
        return x @ self.V

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None = None,
        delta: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """`((x @ V) * mask) @ U`, plus `delta_mask * (x @ (W - V U).T)` and the bias."""
        return self.from_inner_acts(x, self.inner_acts(x), mask, delta)

    def from_inner_acts(
        self,
        x: torch.Tensor,
        acts: torch.Tensor,
        mask: torch.Tensor | None = None,
        delta: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """`forward` given `acts = inner_acts(x)`."""
        if mask is not None:
            acts = acts * mask
        out = acts @ self.U
        if delta is not None:
            weight_delta, delta_mask = delta
            out = out + delta_mask.unsqueeze(-1) * (x @ weight_delta.T)
        if self.bias is not None:
            out = out + self.bias
        return out
