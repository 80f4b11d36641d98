"""Choosing the modules to decompose by glob patterns over module paths."""

from __future__ import annotations

import fnmatch

from torch import nn
from transformers.pytorch_utils import Conv1D

from dashboard.decomposition.config import ModulePattern


class ModuleMatchError(ValueError):
    """A pattern matched nothing, or two patterns matched the same module."""


def linear_module_paths(model: nn.Module) -> list[str]:
    return [
        name for name, module in model.named_modules() if isinstance(module, nn.Linear | Conv1D)
    ]


def match_modules(model: nn.Module, patterns: tuple[ModulePattern, ...]) -> dict[str, int]:
    """Module path -> C, in the model's own module order."""
    candidates = linear_module_paths(model)
    chosen: dict[str, int] = {}
    owner: dict[str, str] = {}
    for spec in patterns:
        matched = [path for path in candidates if fnmatch.fnmatchcase(path, spec.pattern)]
        if not matched:
            listing = "\n  ".join(candidates)
            raise ModuleMatchError(
                f"module pattern {spec.pattern!r} matches no linear module; "
                f"the model has:\n  {listing}"
            )
        for path in matched:
            if path in chosen:
                raise ModuleMatchError(
                    f"module {path} is matched by both {owner[path]!r} and {spec.pattern!r}"
                )
            chosen[path] = spec.C
            owner[path] = spec.pattern
    return {path: chosen[path] for path in candidates if path in chosen}


def importance_minimality_scales(
    paths: list[str], patterns: tuple[ModulePattern, ...]
) -> dict[str, float]:
    """Module path -> the scale of its importance-minimality coefficient (its pattern's)."""
    return {
        path: spec.importance_minimality_scale
        for spec in patterns
        for path in paths
        if fnmatch.fnmatchcase(path, spec.pattern)
    }
