"""Runs written in goodfire-ai/spd's on-disk formats, key by key, for the import tests.

Pretraining run: `model_config.yaml` (flat, with `model_type`), `tokenizer.json`,
`checkpoints/model_step_<N>.pt` (a plain state dict; torch.compile may prefix `_orig_mod.`).
SPD run: `final_config.yaml` and `model_<step>.pth` holding `target_model.*`,
`_components.<path with . as ->.{V,U,bias}` and `_ci_fns.<path>.layers.<i>.{W,b}`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from dashboard.models.tokens import train_bpe_tokenizer

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "A river runs through the valley towards the sea.",
    "Mathematics is the study of numbers, shapes and patterns.",
] * 20

LLAMA_SIMPLE = {
    "model_type": "LlamaSimple",
    "block_size": 64,
    "vocab_size": 300,
    "n_layer": 2,
    "n_head": 4,
    "n_embd": 16,
    "n_intermediate": 24,
    "mlp_bias": False,
    "attn_bias": False,
    "rotary_adjacent_pairs": False,
    "rotary_dim": 4,
    "rotary_base": 10000,
    "n_ctx": 64,
    "n_key_value_heads": 2,
    "use_grouped_query_attention": True,
    "flash_attention": False,
    "rms_norm_eps": 1e-6,
}


def llama_simple_state(config: dict, generator: torch.Generator) -> dict[str, torch.Tensor]:
    d, inner, vocab = config["n_embd"], config["n_intermediate"], config["vocab_size"]
    kv = config["n_key_value_heads"] * d // config["n_head"]

    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator) * 0.2

    embedding = normal(vocab, d)
    state = {"wte.weight": embedding, "lm_head.weight": embedding, "ln_f.weight": 1 + normal(d)}
    for i in range(config["n_layer"]):
        state |= {
            f"h.{i}.rms_1.weight": 1 + normal(d),
            f"h.{i}.rms_2.weight": 1 + normal(d),
            f"h.{i}.attn.q_proj.weight": normal(d, d),
            f"h.{i}.attn.k_proj.weight": normal(kv, d),
            f"h.{i}.attn.v_proj.weight": normal(kv, d),
            f"h.{i}.attn.o_proj.weight": normal(d, d),
            f"h.{i}.mlp.gate_proj.weight": normal(inner, d),
            f"h.{i}.mlp.up_proj.weight": normal(inner, d),
            f"h.{i}.mlp.down_proj.weight": normal(d, inner),
        }
    return state


def write_tokenizer(directory: Path, vocab_size: int) -> None:
    tokenizer = train_bpe_tokenizer(SENTENCES, vocab_size)
    tokenizer.backend_tokenizer.save(str(directory / "tokenizer.json"))


def write_pretrain_run(directory: Path, state: dict[str, torch.Tensor], config: dict) -> Path:
    (directory / "checkpoints").mkdir(parents=True)
    (directory / "model_config.yaml").write_text(yaml.safe_dump(config))
    write_tokenizer(directory, config["vocab_size"])
    compiled = {f"_orig_mod.{key}": value for key, value in state.items()}
    torch.save(compiled, directory / "checkpoints" / "model_step_5.pt")
    torch.save(compiled, directory / "checkpoints" / "model_step_40.pt")
    return directory


def ci_fn_state(
    kind: str, n_components: int, d_in: int, hidden: int, generator: torch.Generator
) -> dict:
    def normal(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator)

    if kind == "mlp":
        return {
            "layers.0.W": normal(n_components, 1, hidden),
            "layers.0.b": normal(n_components, hidden),
            "layers.2.W": normal(n_components, hidden, 1),
            "layers.2.b": normal(n_components, 1),
        }
    if kind == "vector_mlp":
        return {
            "layers.0.W": normal(n_components, d_in, hidden) / d_in**0.5,
            "layers.0.b": normal(n_components, hidden),
            "layers.2.W": normal(n_components, hidden, 1),
            "layers.2.b": normal(n_components, 1),
        }
    return {
        "layers.0.W": normal(d_in, hidden) / d_in**0.5,
        "layers.0.b": normal(hidden),
        "layers.2.W": normal(hidden, n_components),
        "layers.2.b": normal(n_components),
    }


def write_spd_run(
    directory: Path,
    target_state: dict[str, torch.Tensor],
    modules: dict[str, tuple[int, int, int, torch.Tensor | None]],
    config: dict,
    generator: torch.Generator,
    prefixes: tuple[str, str, str] = ("target_model.", "_components.", "_ci_fns."),
) -> dict[str, torch.Tensor]:
    """`modules`: path -> (d_in, d_out, C, bias). Returns the checkpoint's state dict."""
    target_prefix, component_prefix, ci_prefix = prefixes
    directory.mkdir(parents=True)
    (directory / "final_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    kind = config.get("ci_fn_type", config.get("gate_type"))
    hidden = (config.get("ci_fn_hidden_dims") or config.get("gate_hidden_dims"))[0]
    state = {target_prefix + key: value for key, value in target_state.items()}
    for path, (d_in, d_out, n_components, bias) in modules.items():
        escaped = path.replace(".", "-")
        state[f"{component_prefix}{escaped}.V"] = torch.randn(
            d_in, n_components, generator=generator
        )
        state[f"{component_prefix}{escaped}.U"] = (
            torch.randn(n_components, d_out, generator=generator) / n_components
        )
        if bias is not None:
            state[f"{component_prefix}{escaped}.bias"] = bias.clone()
        for key, value in ci_fn_state(kind, n_components, d_in, hidden, generator).items():
            state[f"{ci_prefix}{escaped}.{key}"] = value
    torch.save(state, directory / "model_100.pth")
    return state
