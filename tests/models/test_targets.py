"""Target models: the spd architectures against transformers, the demo model, SmolLM2, loaders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    GPTNeoXConfig,
    GPTNeoXForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
)

from dashboard.decomposition.config import ModulePattern
from dashboard.decomposition.model import DecomposedModel
from dashboard.decomposition.patterns import match_modules
from dashboard.models.demo import PRESETS, train_tiny_llama
from dashboard.models.loading import TargetLoadError, load_target, load_target_directory
from dashboard.models.spd_simple import SimpleConfig, SimpleTransformer
from dashboard.models.target import target_logits
from tests.decomposition.spd_format import write_tokenizer


def test_llama_simple_matches_transformers_llama() -> None:
    torch.manual_seed(0)
    config = SimpleConfig(
        model_type="LlamaSimple",
        block_size=64,
        vocab_size=100,
        n_layer=2,
        n_head=4,
        n_embd=32,
        n_intermediate=48,
        n_ctx=64,
        n_key_value_heads=2,
    )
    ours = SimpleTransformer(config).eval()
    reference = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=100,
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            rms_norm_eps=1e-6,
            max_position_embeddings=64,
            tie_word_embeddings=True,
        )
    ).eval()
    renames = [
        ("wte.", "model.embed_tokens."),
        ("h.", "model.layers."),
        ("rms_1", "input_layernorm"),
        ("rms_2", "post_attention_layernorm"),
        ("attn.", "self_attn."),
        ("ln_f", "model.norm"),
    ]
    state = {}
    for key, value in ours.state_dict().items():
        for old, new in renames:
            key = key.replace(old, new)
        state[key] = value
    assert reference.load_state_dict(state, strict=False).missing_keys == []
    ids = torch.randint(0, 100, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


def test_gpt2_simple_matches_transformers_gpt2() -> None:
    torch.manual_seed(0)
    ours = SimpleTransformer(
        SimpleConfig(
            model_type="GPT2Simple", block_size=64, vocab_size=100, n_layer=2, n_head=4, n_embd=32
        )
    ).eval()
    for parameter in ours.parameters():
        torch.nn.init.normal_(parameter, std=0.1)
    reference = GPT2LMHeadModel(
        GPT2Config(
            vocab_size=100,
            n_positions=64,
            n_embd=32,
            n_layer=2,
            n_head=4,
            activation_function="gelu_new",
        )
    ).eval()
    s = ours.state_dict()
    state = {
        "transformer.wte.weight": s["wte.weight"],
        "transformer.wpe.weight": s["wpe.weight"],
        "transformer.ln_f.weight": s["ln_f.weight"],
        "transformer.ln_f.bias": s["ln_f.bias"],
        "lm_head.weight": s["lm_head.weight"],
    }
    for i in range(2):
        ours_prefix, theirs = f"h.{i}.", f"transformer.h.{i}."
        for norm in ("ln_1", "ln_2"):
            for part in ("weight", "bias"):
                state[f"{theirs}{norm}.{part}"] = s[f"{ours_prefix}{norm}.{part}"]
        qkv = [s[f"{ours_prefix}attn.{x}_proj.weight"] for x in "qkv"]
        state[f"{theirs}attn.c_attn.weight"] = torch.cat(qkv, 0).T
        state[f"{theirs}attn.c_attn.bias"] = torch.cat(
            [s[f"{ours_prefix}attn.{x}_proj.bias"] for x in "qkv"]
        )
        for mine, theirs_name in (
            ("attn.o_proj", "attn.c_proj"),
            ("mlp.c_fc", "mlp.c_fc"),
            ("mlp.down_proj", "mlp.c_proj"),
        ):
            state[f"{theirs}{theirs_name}.weight"] = s[f"{ours_prefix}{mine}.weight"].T
            state[f"{theirs}{theirs_name}.bias"] = s[f"{ours_prefix}{mine}.bias"]
    reference.load_state_dict(state, strict=False)
    ids = torch.randint(0, 100, (2, 20))
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), reference(input_ids=ids).logits, atol=1e-5, rtol=1e-5)


def test_llama_simple_mlp_has_spd_module_names() -> None:
    model = SimpleTransformer(
        SimpleConfig(
            model_type="LlamaSimpleMLP",
            n_layer=1,
            n_head=2,
            n_embd=8,
            vocab_size=20,
            n_ctx=16,
            n_key_value_heads=1,
        )
    )
    names = set(model.state_dict())
    assert {"h.0.mlp.c_fc.weight", "h.0.mlp.down_proj.weight", "h.0.attn.k_proj.weight"} <= names
    assert model.state_dict()["h.0.mlp.c_fc.weight"].shape == (32, 8)
    assert model.state_dict()["h.0.attn.k_proj.weight"].shape == (4, 8)
    assert model(torch.randint(0, 20, (1, 5))).shape == (1, 5, 20)


def test_micro_model_beats_the_unigram_baseline(micro_data_dir: Path) -> None:
    report = json.loads((micro_data_dir / "models" / "micro" / "training_report.json").read_text())
    assert report["heldout_loss"] < report["unigram_entropy"]
    target = load_target("micro", micro_data_dir)
    assert target.model.config.num_hidden_layers == 2
    assert len(target.tokenizer) == 512


def test_training_is_deterministic(micro_data_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "micro-again"
    report = train_tiny_llama(again, PRESETS["micro"])
    first = json.loads((micro_data_dir / "models" / "micro" / "training_report.json").read_text())
    assert report["heldout_loss"] == first["heldout_loss"]
    assert (again / "model.safetensors").read_bytes() == (
        micro_data_dir / "models" / "micro" / "model.safetensors"
    ).read_bytes()
    with pytest.raises(FileExistsError, match="already exists"):
        train_tiny_llama(again, PRESETS["micro"])


def test_gpt_neox_directory_decomposes(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = GPTNeoXForCausalLM(
        GPTNeoXConfig(
            vocab_size=300,
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=32,
        )
    )
    model.save_pretrained(tmp_path / "neox")
    write_tokenizer(tmp_path / "neox", 300)
    (tmp_path / "neox" / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "PreTrainedTokenizerFast"}'
    )
    target = load_target_directory(tmp_path / "neox")
    assert target.kind == "hf"
    sizes = match_modules(target.model, (ModulePattern("gpt_neox.layers.*.mlp.dense_h_to_4h", 6),))
    decomposed = DecomposedModel(target.model, sizes, "shared_mlp", [4], "leaky_hard")
    ids = torch.randint(0, 300, (1, 8))
    with torch.no_grad():
        deltas = {path: (d, torch.ones(1, 8)) for path, d in decomposed.weight_deltas().items()}
        masks = {path: torch.ones(6) for path in sizes}
        torch.testing.assert_close(
            decomposed.forward_masked(ids, masks, deltas), target_logits(target.model, ids)
        )


def test_missing_and_unrecognised_directories_are_named(tmp_path: Path) -> None:
    with pytest.raises(TargetLoadError, match="no such directory"):
        load_target(tmp_path / "absent", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TargetLoadError, match="neither a Hugging Face model directory"):
        load_target(tmp_path / "empty", tmp_path)


def test_smollm2_is_dequantized_once_and_cached(tmp_path_factory: pytest.TempPathFactory) -> None:
    data_dir = tmp_path_factory.mktemp("smollm2-data")
    target = load_target("smollm2", data_dir)
    cached = data_dir / "models" / "smollm2"
    assert (cached / "model.safetensors").is_file()
    assert target.model.config.num_hidden_layers == 30
    assert target.model.config.hidden_size == 576
    ids = target.tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        logits = target_logits(target.model, ids)
    top = target.tokenizer.decode(logits[0, -1].argmax())
    assert top.strip() == "Paris"
    # a second load reads the safetensors cache and leaves it as it was
    stamp = (cached / "model.safetensors").stat().st_mtime_ns
    assert load_target("smollm2", data_dir).model.config.hidden_size == 576
    assert (cached / "model.safetensors").stat().st_mtime_ns == stamp
    shutil.rmtree(cached)


def test_smollm2_preset_matches_its_modules_with_c_above_their_rank() -> None:
    from dashboard.decomposition.components import dense_weight
    from dashboard.decomposition.presets import PRESETS as DECOMPOSITION_PRESETS

    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
        tie_word_embeddings=True,
    )
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    sizes = match_modules(model, DECOMPOSITION_PRESETS["smollm2"].modules)
    assert len(sizes) == 3 * 7
    assert {path.split(".")[2] for path in sizes} == {"0", "1", "2"}
    for path, n_components in sizes.items():
        assert n_components > min(dense_weight(model.get_submodule(path)).shape)
