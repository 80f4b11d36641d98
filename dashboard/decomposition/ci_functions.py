"""Causal-importance functions: predict from a module's input how much each subcomponent matters.

Three kinds, named as in goodfire-ai/spd so its checkpoints load parameter for parameter:
- `mlp`: one small MLP per subcomponent on the scalar `x · V[:, c]` (the paper's choice);
- `vector_mlp`: one small MLP per subcomponent on the whole input vector `x`;
- `shared_mlp`: one MLP from `x` to all C outputs.
Hidden layers use GELU; parameters are `layers.<i>.W` and `layers.<i>.b`.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

CI_FN_TYPES = ("mlp", "vector_mlp", "shared_mlp")


class ParallelLinear(nn.Module):
    """C independent linear maps: `[..., C, d_in] -> [..., C, d_out]`."""

    def __init__(self, n_components: int, d_in: int, d_out: int, gain: float):
        super().__init__()
        self.W = nn.Parameter(torch.randn(n_components, d_in, d_out) * gain / math.sqrt(d_in))
        self.b = nn.Parameter(torch.zeros(n_components, d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("...ci,cio->...co", x, self.W) + self.b


class DenseLinear(nn.Module):
    """`x @ W + b` with the parameter names of the checkpoint format."""

    def __init__(self, d_in: int, d_out: int, gain: float):
        super().__init__()
        self.W = nn.Parameter(torch.randn(d_in, d_out) * gain / math.sqrt(d_in))
        self.b = nn.Parameter(torch.zeros(d_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.W + self.b


def _stack(widths: list[int], make_layer) -> nn.Sequential:
    """Layers between consecutive widths, GELU between them (init gain √2 before a GELU, 1 last)."""
    layers: list[nn.Module] = []
    for position, (d_in, d_out) in enumerate(itertools.pairwise(widths)):
        last = position == len(widths) - 2
        layers.append(make_layer(d_in, d_out, 1.0 if last else math.sqrt(2)))
        if not last:
            layers.append(nn.GELU())
    return nn.Sequential(*layers)


class PerComponentMLP(nn.Module):
    """`mlp`: reads the subcomponent's own inner activation."""

    reads_inner_acts = True

    def __init__(self, n_components: int, hidden: list[int]):
        super().__init__()
        if not hidden:
            raise ValueError("ci_fn_type 'mlp' needs at least one hidden layer")
        self.layers = _stack([1, *hidden, 1], lambda i, o, g: ParallelLinear(n_components, i, o, g))

    def forward(self, inner_acts: torch.Tensor) -> torch.Tensor:
        return self.layers(inner_acts.unsqueeze(-1)).squeeze(-1)


class VectorMLP(nn.Module):
    """`vector_mlp`: a private MLP per subcomponent over the module's whole input."""

    reads_inner_acts = False

    def __init__(self, n_components: int, d_in: int, hidden: list[int]):
        super().__init__()
        if not hidden:
            raise ValueError("ci_fn_type 'vector_mlp' needs at least one hidden layer")
        self.layers = _stack(
            [d_in, *hidden, 1], lambda i, o, g: ParallelLinear(n_components, i, o, g)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first, *rest = self.layers
        hidden = torch.einsum("...i,cio->...co", x, first.W) + first.b  # no [..., C, d_in] copy
        for layer in rest:
            hidden = layer(hidden)
        return hidden.squeeze(-1)


class SharedMLP(nn.Module):
    """`shared_mlp`: one MLP from the module's input to all C outputs."""

    reads_inner_acts = False

    def __init__(self, n_components: int, d_in: int, hidden: list[int]):
        super().__init__()
        self.layers = _stack([d_in, *hidden, n_components], DenseLinear)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def make_ci_function(kind: str, n_components: int, d_in: int, hidden: list[int]) -> nn.Module:
    if kind == "mlp":
        return PerComponentMLP(n_components, hidden)
    if kind == "vector_mlp":
        return VectorMLP(n_components, d_in, hidden)
    if kind == "shared_mlp":
        return SharedMLP(n_components, d_in, hidden)
    raise ValueError(f"ci_fn_type {kind!r}: expected one of {', '.join(CI_FN_TYPES)}")
