"""A target model with some of its linear modules decomposed into subcomponents."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from dashboard.decomposition.ci_functions import make_ci_function
from dashboard.decomposition.components import Subcomponents, dense_weight
from dashboard.decomposition.sigmoids import squash_pair
from dashboard.models.target import target_logits

Masks = dict[str, torch.Tensor]
Deltas = dict[str, tuple[torch.Tensor, torch.Tensor]]


def escape(path: str) -> str:
    """Module paths contain dots, which parameter names may not."""
    return path.replace(".", "-")


@dataclass
class CausalImportances:
    lower: dict[str, torch.Tensor]  # masks and reported CI, in [0, 1]
    upper: dict[str, torch.Tensor]  # importance minimality (leaks above 1)


class DecomposedModel(nn.Module):
    def __init__(
        self,
        target: nn.Module,
        module_sizes: dict[str, int],
        ci_fn_type: str,
        ci_fn_hidden_dims: list[int],
        sigmoid_type: str,
    ):
        super().__init__()
        self.target = target.eval().requires_grad_(False)
        self.module_paths = list(module_sizes)
        self.components = nn.ModuleDict()
        self.ci_fns = nn.ModuleDict()
        for path, n_components in module_sizes.items():
            module = target.get_submodule(path)
            d_out, d_in = dense_weight(module).shape
            self.components[escape(path)] = Subcomponents(d_in, d_out, n_components, module.bias)
            self.ci_fns[escape(path)] = make_ci_function(
                ci_fn_type, n_components, d_in, list(ci_fn_hidden_dims)
            )
        self.lower_squash, self.upper_squash = squash_pair(sigmoid_type)
        self._patch_lock = threading.RLock()

    def component(self, path: str) -> Subcomponents:
        return self.components[escape(path)]

    @property
    def labels(self) -> list[str]:
        """`"<module>:<c>"` for every subcomponent, in a fixed order."""
        return [
            f"{path}:{c}"
            for path in self.module_paths
            for c in range(self.component(path).n_components)
        ]

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [*self.components.parameters(), *self.ci_fns.parameters()]

    def target_weight(self, path: str) -> torch.Tensor:
        return dense_weight(self.target.get_submodule(path))

    def weight_deltas(self) -> dict[str, torch.Tensor]:
        """`W - Σ_c U[c] ⊗ V[:, c]` per module, as `[d_out, d_in]`."""
        return {
            path: self.target_weight(path) - self.component(path).weight()
            for path in self.module_paths
        }

    def run_target(self, input_ids: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The unmodified target's logits and the input of every decomposed module."""
        inputs: dict[str, torch.Tensor] = {}

        def recorder(path: str) -> Callable:
            def record(_module: nn.Module, args: tuple) -> None:
                inputs[path] = args[0]

            return record

        handles = [
            self.target.get_submodule(path).register_forward_pre_hook(recorder(path))
            for path in self.module_paths
        ]
        try:
            logits = target_logits(self.target, input_ids)
        finally:
            for handle in handles:
                handle.remove()
        return logits, inputs

    def ci_from_inputs(
        self, inputs: dict[str, torch.Tensor], with_upper: bool = True
    ) -> CausalImportances:
        """CI of every module from its input; `with_upper=False` skips what only training uses."""
        lower, upper = {}, {}
        for path in self.module_paths:
            ci_fn = self.ci_fns[escape(path)]
            x = inputs[path]
            pre = ci_fn(self.component(path).inner_acts(x) if ci_fn.reads_inner_acts else x)
            lower[path] = self.lower_squash(pre)
            if with_upper:
                upper[path] = self.upper_squash(pre)
        return CausalImportances(lower, upper)

    @torch.no_grad()
    def causal_importances(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """`{module: [batch, seq, C]}` causal importance of every subcomponent on every token."""
        _, inputs = self.run_target(input_ids)
        return self.ci_from_inputs(inputs, with_upper=False).lower

    @contextmanager
    def _replaced(self, forwards: dict[str, Callable]) -> Iterator[None]:
        modules = {path: self.target.get_submodule(path) for path in forwards}
        with self._patch_lock:
            try:
                for path, module in modules.items():
                    module.forward = forwards[path]
                yield
            finally:
                for module in modules.values():
                    if "forward" in module.__dict__:
                        del module.forward

    def forward_masked(
        self,
        input_ids: torch.Tensor,
        masks: Masks,
        deltas: Deltas | None = None,
        record: dict[str, torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Logits with each module in `masks` replaced by its masked subcomponents.

        `masks[module]` is `[..., C]` (broadcast over batch and sequence); `deltas[module]` is
        `(W - V U, delta_mask[batch, seq])`. Modules not in `masks` run unchanged. `record`, when
        given, receives each module's inner activations `x @ V` (`[batch, seq, C]`).
        """
        unknown = set(masks) - set(self.module_paths)
        if unknown:
            raise KeyError(f"not decomposed: {', '.join(sorted(unknown))}")
        deltas = deltas or {}

        def replacement(path: str) -> Callable[[torch.Tensor], torch.Tensor]:
            component = self.component(path)

            def run(x: torch.Tensor) -> torch.Tensor:
                acts = component.inner_acts(x)
                if record is not None:
                    record[path] = acts
                return component.from_inner_acts(x, acts, masks[path], deltas.get(path))

            return run

        with self._replaced({path: replacement(path) for path in masks}):
            return target_logits(self.target, input_ids)

    def folded_weights(self, masks: Masks) -> dict[str, torch.Tensor]:
        """`(V * mask) @ U` as `[d_in, d_out]` per module, for masks that are one `[C]` vector
        each: the masked model then costs what the target does (one matmul per module)."""
        return {
            path: (self.component(path).V * mask) @ self.component(path).U
            for path, mask in masks.items()
        }

    def forward_folded(
        self, input_ids: torch.Tensor, weights: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits with each module in `weights` replaced by its folded masked weight."""

        def replacement(path: str) -> Callable[[torch.Tensor], torch.Tensor]:
            weight, bias = weights[path], self.component(path).bias
            return lambda x: x @ weight if bias is None else x @ weight + bias

        with self._replaced({path: replacement(path) for path in weights}):
            return target_logits(self.target, input_ids)
