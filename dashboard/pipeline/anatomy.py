"""Where a target model keeps its residual stream: blocks, norms, embedding and unembedding.

Residual point `p` is the stream entering block `p` (point 0: the embeddings) and point
`n_layers` is the output of the last block, before the final norm. A module of layer `l` reads
from point `l` and writes into point `l + 1`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from dashboard.decomposition.components import dense_weight


class UnknownArchitectureError(ValueError):
    """A target whose blocks, norms or unembedding this module cannot find."""


@dataclass
class Anatomy:
    model: nn.Module
    block_prefix: str  # module path of the block list: "model.layers", "transformer.h" or "h"
    blocks: nn.ModuleList
    final_norm: nn.Module
    unembedding: nn.Linear  # lm_head: [vocab, d_model]
    embedding: nn.Embedding
    norm_names: tuple[str, str]  # the block's (attention input, MLP input) norm attributes
    n_heads: int
    n_kv_heads: int

    @property
    def n_layers(self) -> int:
        return len(self.blocks)

    @property
    def d_model(self) -> int:
        return self.embedding.weight.shape[1]

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def input_norm_weight(self, layer: int, mlp: bool) -> torch.Tensor:
        """The elementwise gain of the norm in front of a layer's attention or MLP, `[d_model]`."""
        return getattr(self.blocks[layer], self.norm_names[int(mlp)]).weight.detach()

    @property
    def final_norm_weight(self) -> torch.Tensor:
        return self.final_norm.weight.detach()

    def logits(self, residual: torch.Tensor) -> torch.Tensor:
        """The model's own read-out of a residual stream: final norm, then unembedding."""
        return self.unembedding(self.final_norm(residual))

    def weight(self, layer: int, name: str) -> torch.Tensor | None:
        """`[d_out, d_in]` weight of a block's linear module (`self_attn.o_proj`), or None."""
        path = f"{self.block_prefix}.{layer}.{name}"
        try:
            module = self.model.get_submodule(path)
        except AttributeError:
            return None
        try:
            return dense_weight(module).detach()
        except TypeError:
            return None

    @contextmanager
    def capture(self, points: list[int]) -> Iterator[dict[int, torch.Tensor]]:
        """Within the block, every forward pass fills `{point: [batch, seq, d_model]}`."""
        captured: dict[int, torch.Tensor] = {}
        handles = []
        if 0 in points:
            handles.append(
                self.blocks[0].register_forward_pre_hook(
                    lambda _module, args, kwargs: captured.__setitem__(
                        0, (args[0] if args else kwargs["hidden_states"]).detach()
                    ),
                    with_kwargs=True,
                )
            )
        for point in points:
            if point > 0:
                handles.append(
                    self.blocks[point - 1].register_forward_hook(
                        lambda _module, _args, output, point=point: captured.__setitem__(
                            point, (output[0] if isinstance(output, tuple) else output).detach()
                        )
                    )
                )
        try:
            yield captured
        finally:
            for handle in handles:
                handle.remove()


def anatomy_of(model: nn.Module) -> Anatomy:
    """Recognizes Hugging Face Llama-family and GPT-2 models and spd's simple transformers."""
    config = getattr(model, "config", None)
    if hasattr(model, "model") and hasattr(model.model, "layers"):  # HF Llama family
        return Anatomy(
            model,
            "model.layers",
            model.model.layers,
            model.model.norm,
            model.lm_head,
            model.model.embed_tokens,
            ("input_layernorm", "post_attention_layernorm"),
            config.num_attention_heads,
            getattr(config, "num_key_value_heads", None) or config.num_attention_heads,
        )
    if hasattr(model, "transformer") and hasattr(model.transformer, "h"):  # HF GPT-2
        return Anatomy(
            model,
            "transformer.h",
            model.transformer.h,
            model.transformer.ln_f,
            model.lm_head,
            model.transformer.wte,
            ("ln_1", "ln_2"),
            config.n_head,
            config.n_head,
        )
    if hasattr(model, "h") and hasattr(model, "ln_f"):  # spd's LlamaSimple / GPT2Simple
        first = model.h[0]
        norms = ("ln_1", "ln_2") if hasattr(first, "ln_1") else ("rms_1", "rms_2")
        return Anatomy(
            model,
            "h",
            model.h,
            model.ln_f,
            model.lm_head,
            model.wte,
            norms,
            config.n_head,
            first.attn.n_kv,
        )
    raise UnknownArchitectureError(
        f"{type(model).__name__}: cannot find its blocks, final norm and unembedding"
    )
