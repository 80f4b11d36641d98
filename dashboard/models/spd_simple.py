"""goodfire-ai/spd's own pretraining architectures (LlamaSimple, LlamaSimpleMLP, GPT2Simple),
written here from their published description so their checkpoints load without spd installed.

A pretraining run directory holds `model_config.yaml` (flat, with `model_type`), a tokenizer
(`tokenizer.json`) and `checkpoints/model_step_<N>.pt` (a plain state dict).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml
from torch import nn
from transformers import PreTrainedTokenizerFast

CHECKPOINT_NAME = re.compile(r"^model_step_(\d+)\.pt$")


@dataclass(frozen=True)
class SimpleConfig:
    """The union of the three configs' fields; each architecture reads the ones it has."""

    model_type: str
    block_size: int = 1024
    vocab_size: int = 50257
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    n_intermediate: int | None = None
    mlp_bias: bool = False
    attn_bias: bool = False
    rotary_adjacent_pairs: bool = False
    rotary_dim: int | None = None  # ignored by spd: the whole head dimension is rotated
    rotary_base: float = 10000.0
    n_ctx: int = 1024
    n_key_value_heads: int = 3
    use_grouped_query_attention: bool = True
    flash_attention: bool = True
    rms_norm_eps: float = 1e-6

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    @property
    def intermediate(self) -> int:
        if self.n_intermediate is not None:
            return self.n_intermediate
        return self.n_embd * 4 if self.model_type == "LlamaSimpleMLP" else self.n_embd * 4 * 2 // 3


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return h.to(x.dtype) * self.weight


class LayerNorm(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, eps=1e-5)


def rotary_tables(config: SimpleConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin `[n_ctx, head_dim]`, for half-split or adjacent-pair rotation."""
    half = config.head_dim // 2
    frequencies = config.rotary_base ** (torch.arange(half, dtype=torch.float32) / half)
    if config.rotary_adjacent_pairs:
        frequencies = frequencies.repeat_interleave(2)
    else:
        frequencies = frequencies.repeat(2)
    angles = torch.arange(config.n_ctx, dtype=torch.float32)[:, None] / frequencies[None, :]
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, adjacent_pairs: bool) -> torch.Tensor:
    if adjacent_pairs:
        rotated = torch.empty_like(x)
        rotated[..., 0::2] = -x[..., 1::2]
        rotated[..., 1::2] = x[..., 0::2]
        return rotated
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:], x[..., :half]], dim=-1)


class Attention(nn.Module):
    def __init__(self, config: SimpleConfig, rotary: bool):
        super().__init__()
        self.config = config
        self.rotary = rotary
        d, hd = config.n_embd, config.head_dim
        bias = config.attn_bias or config.model_type == "GPT2Simple"
        self.grouped = rotary and config.use_grouped_query_attention
        self.n_kv = config.n_key_value_heads if self.grouped else config.n_head
        if rotary and not self.grouped:
            self.c_attn = nn.Linear(d, 3 * d, bias=bias)
        else:
            self.q_proj = nn.Linear(d, d, bias=bias)
            self.k_proj = nn.Linear(d, self.n_kv * hd, bias=bias)
            self.v_proj = nn.Linear(d, self.n_kv * hd, bias=bias)
        self.o_proj = nn.Linear(d, d, bias=bias)
        if rotary:
            cos, sin = rotary_tables(config)
            self.register_buffer("rotary_cos", cos, persistent=False)
            self.register_buffer("rotary_sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, d = x.shape
        hd = self.config.head_dim
        if hasattr(self, "c_attn"):
            q, k, v = self.c_attn(x).split(d, dim=-1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        q = q.view(batch, length, self.config.n_head, hd).transpose(1, 2)
        k = k.view(batch, length, self.n_kv, hd).transpose(1, 2)
        v = v.view(batch, length, self.n_kv, hd).transpose(1, 2)
        if self.rotary:
            positions = torch.arange(length, device=x.device).clamp(max=self.config.n_ctx - 1)
            cos = self.rotary_cos[positions].to(q.dtype)
            sin = self.rotary_sin[positions].to(q.dtype)
            pairs = self.config.rotary_adjacent_pairs
            q = q * cos + rotate(q, pairs) * sin
            k = k * cos + rotate(k, pairs) * sin
        if self.n_kv != self.config.n_head:
            repeats = self.config.n_head // self.n_kv
            k = k.repeat_interleave(repeats, dim=1)
            v = v.repeat_interleave(repeats, dim=1)
        out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.o_proj(out.transpose(1, 2).reshape(batch, length, d))


class SwiGLU(nn.Module):
    def __init__(self, config: SimpleConfig):
        super().__init__()
        d, inner, bias = config.n_embd, config.intermediate, config.mlp_bias
        self.gate_proj = nn.Linear(d, inner, bias=bias)
        self.up_proj = nn.Linear(d, inner, bias=bias)
        self.down_proj = nn.Linear(inner, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class GeluMLP(nn.Module):
    def __init__(self, d: int, inner: int, bias: bool):
        super().__init__()
        self.c_fc = nn.Linear(d, inner, bias=bias)
        self.down_proj = nn.Linear(inner, d, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.gelu(self.c_fc(x), approximate="tanh"))


class Block(nn.Module):
    def __init__(self, config: SimpleConfig):
        super().__init__()
        if config.model_type == "GPT2Simple":
            self.ln_1, self.ln_2 = LayerNorm(config.n_embd), LayerNorm(config.n_embd)
            self.attn = Attention(config, rotary=False)
            self.mlp = GeluMLP(config.n_embd, 4 * config.n_embd, bias=True)
        else:
            self.rms_1 = RMSNorm(config.n_embd, config.rms_norm_eps)
            self.rms_2 = RMSNorm(config.n_embd, config.rms_norm_eps)
            self.attn = Attention(config, rotary=True)
            self.mlp = (
                GeluMLP(config.n_embd, config.intermediate, config.mlp_bias)
                if config.model_type == "LlamaSimpleMLP"
                else SwiGLU(config)
            )
        # a plain tuple, so the norms are not registered twice under a second name
        self.norms = (self.ln_1, self.ln_2) if hasattr(self, "ln_1") else (self.rms_1, self.rms_2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norms[0](x))
        return x + self.mlp(self.norms[1](x))


class SimpleTransformer(nn.Module):
    """Token ids `[batch, seq]` in, logits `[batch, seq, vocab]` out."""

    ARCHITECTURES = ("LlamaSimple", "LlamaSimpleMLP", "GPT2Simple")

    def __init__(self, config: SimpleConfig):
        super().__init__()
        if config.model_type not in self.ARCHITECTURES:
            raise ValueError(
                f"model_type {config.model_type!r}: expected one of {', '.join(self.ARCHITECTURES)}"
            )
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        if config.model_type == "GPT2Simple":
            self.wpe = nn.Embedding(config.block_size, config.n_embd)
            self.ln_f: nn.Module = LayerNorm(config.n_embd)
        else:
            self.ln_f = RMSNorm(config.n_embd, config.rms_norm_eps)
        self.h = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.wte.weight = self.lm_head.weight
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02 / math.sqrt(2 * config.n_layer))

    def get_input_embeddings(self) -> nn.Embedding:
        """The name Hugging Face models answer to, so callers treat both alike."""
        return self.wte

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        x = self.wte(input_ids)
        if hasattr(self, "wpe"):
            x = x + self.wpe(torch.arange(input_ids.shape[1], device=input_ids.device))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def read_simple_config(path: Path) -> SimpleConfig:
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or "model_type" not in data:
        raise ValueError(f"{path}: expected a mapping with model_type")
    known = {f.name for f in fields(SimpleConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown field(s) {', '.join(unknown)}")
    return SimpleConfig(**data)


def latest_checkpoint_file(run_dir: Path) -> Path:
    found = [
        (int(match.group(1)), path)
        for path in (run_dir / "checkpoints").glob("model_step_*.pt")
        if (match := CHECKPOINT_NAME.match(path.name))
    ]
    if not found:
        raise FileNotFoundError(f"{run_dir}/checkpoints: no model_step_<N>.pt")
    return max(found)[1]


def load_simple_model(config_path: Path, checkpoint: Path) -> SimpleTransformer:
    """Build the architecture named in the config and load a checkpoint into it, strictly."""
    model = SimpleTransformer(read_simple_config(config_path))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {key.replace("_orig_mod.", ""): value for key, value in state.items()}
    own = model.state_dict()
    for key, value in state.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"{checkpoint}: {key} has shape {tuple(value.shape)}, "
                f"the model in {config_path.name} needs {tuple(own[key].shape)}"
            )
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{checkpoint}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}"
        )
    return model.eval()


def load_simple_tokenizer(directory: Path) -> PreTrainedTokenizerFast:
    """The run's `tokenizer.json`, with its end-of-text token (spd's runs call it `[EOS]`)."""
    path = directory / "tokenizer.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the run's tokenizer is missing (pass --tokenizer DIR)")
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(path))
    vocab = tokenizer.get_vocab()
    end = next((t for t in ("[EOS]", "<|endoftext|>", "</s>", "<eos>") if t in vocab), None)
    if end is not None:
        tokenizer.eos_token = end
    return tokenizer
