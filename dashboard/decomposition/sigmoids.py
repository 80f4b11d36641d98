"""Hard sigmoids that squash CI-function outputs into [0, 1], with leaky gradients (SPD paper)."""

from __future__ import annotations

from collections.abc import Callable

import torch

LEAK = 0.01
Squash = Callable[[torch.Tensor], torch.Tensor]


class _LowerLeakyHard(torch.autograd.Function):
    """clamp(x, 0, 1) forward; below zero only a gradient that would raise x leaks through."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        return x.clamp(0, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        inside = (x > 0) & (x <= 1)
        leaking = (x <= 0) & (grad < 0)
        return torch.where(inside, grad, torch.where(leaking, LEAK * grad, torch.zeros_like(grad)))


def lower_leaky_hard(x: torch.Tensor) -> torch.Tensor:
    return _LowerLeakyHard.apply(x)


def upper_leaky_hard(x: torch.Tensor) -> torch.Tensor:
    """clamp(x, 0, 1), continuing with slope LEAK above 1."""
    return torch.where(x > 1, 1 + LEAK * (x - 1), x.clamp(0, 1))


def leaky_hard(x: torch.Tensor) -> torch.Tensor:
    """Slope LEAK below 0, identity on [0, 1], flat at 1 above."""
    return torch.where(x > 0, x.clamp(max=1), LEAK * x)


def hard(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1)


SQUASHES: dict[str, Squash] = {
    "normal": torch.sigmoid,
    "hard": hard,
    "leaky_hard": leaky_hard,
    "upper_leaky_hard": upper_leaky_hard,
}


def squash_pair(sigmoid_type: str) -> tuple[Squash, Squash]:
    """(lower, upper): `lower` gives masks and reported CI; `upper` feeds importance minimality.

    `leaky_hard` is the paper's pair of lower- and upper-leaky hard sigmoids; any other type uses
    the one function for both.
    """
    if sigmoid_type == "leaky_hard":
        return lower_leaky_hard, upper_leaky_hard
    if sigmoid_type not in SQUASHES:
        raise ValueError(
            f"sigmoid_type {sigmoid_type!r}: expected one of {', '.join(sorted(SQUASHES))}"
        )
    return SQUASHES[sigmoid_type], SQUASHES[sigmoid_type]
