"""`load_decomposition(path)`: a decomposition directory, ready for notebooks and the app."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import PreTrainedTokenizerBase

from dashboard.decomposition.config import DecompositionConfig
from dashboard.decomposition.model import DecomposedModel
from dashboard.decomposition.store import (
    CONFIG,
    MODULES,
    PARAMETERS,
    TARGET,
    load_parameter_state,
)
from dashboard.models.loading import load_target_directory, resolve_device


class Decomposition:
    """The target model, its tokenizer and its subcomponents, loaded from one directory."""

    def __init__(
        self,
        directory: Path,
        config: DecompositionConfig,
        model: DecomposedModel,
        tokenizer: PreTrainedTokenizerBase,
    ):
        self.directory = directory
        self.config = config
        self.model = model
        self.tokenizer = tokenizer

    @property
    def target(self) -> torch.nn.Module:
        return self.model.target

    @property
    def labels(self) -> list[str]:
        return self.model.labels

    @property
    def module_paths(self) -> list[str]:
        return self.model.module_paths

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode(self, text: str) -> torch.Tensor:
        """Token ids `[1, seq]` on the model's device."""
        ids = self.tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        return ids.to(self.device)

    def causal_importances(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        """`{module: [batch, seq, C]}`."""
        return self.model.causal_importances(input_ids.to(self.device))

    @torch.no_grad()
    def forward_masked(
        self, input_ids: torch.Tensor, masks: dict[str, torch.Tensor]
    ) -> torch.Tensor:
        """Logits with `masks = {module: [..., C]}` applied; other modules run unchanged."""
        return self.model.forward_masked(input_ids.to(self.device), masks)


def load_decomposition(path: str | Path, device: str = "cpu") -> Decomposition:
    directory = Path(path)
    for required in (CONFIG, MODULES, PARAMETERS):
        if not (directory / required).is_file():
            raise FileNotFoundError(
                f"{directory / required}: missing; is {directory} a finished decomposition?"
            )
    config = DecompositionConfig.load(directory / CONFIG)
    modules = json.loads((directory / MODULES).read_text())
    target = load_target_directory(directory / TARGET)
    model = DecomposedModel(
        target.model,
        {entry["path"]: entry["C"] for entry in modules},
        config.ci_fn_type,
        list(config.ci_fn_hidden_dims),
        config.sigmoid_type,
    )
    load_parameter_state(model, load_file(str(directory / PARAMETERS)), directory / PARAMETERS)
    return Decomposition(
        directory, config, model.to(resolve_device(device)).eval(), target.tokenizer
    )
