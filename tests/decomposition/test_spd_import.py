"""Import of goodfire-ai/spd runs: the same CI and masked outputs as spd's formulas give."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from dashboard.decomposition import load_decomposition
from dashboard.decomposition.spd_import import SpdImportError, import_spd_run
from dashboard.decomposition.store import DecompositionExistsError
from dashboard.models.spd_simple import SimpleConfig, SimpleTransformer
from tests.decomposition.spd_format import (
    LLAMA_SIMPLE,
    llama_simple_state,
    write_pretrain_run,
    write_spd_run,
    write_tokenizer,
)

MLP_PATHS = ("h.0.mlp.gate_proj", "h.1.mlp.gate_proj", "h.0.mlp.down_proj", "h.1.mlp.down_proj")


def spd_config(ci_fn_type: str, **extra) -> dict:
    return {
        "seed": 0,
        "n_mask_samples": 1,
        "ci_fn_type": ci_fn_type,
        "ci_fn_hidden_dims": [5],
        "sigmoid_type": "leaky_hard",
        "module_info": [
            {"module_pattern": "h.*.mlp.gate_proj", "C": 7},
            {"module_pattern": "h.*.mlp.down_proj", "C": 5},
        ],
        "identity_module_info": None,
        "use_delta_component": True,
        "sampling": "continuous",
        "pretrained_model_class": "spd.pretrain.models.llama_simple.LlamaSimple",
        "pretrained_model_path": None,
        "pretrained_model_name": "wandb:goodfire/spd/runs/abc123",
        "pretrained_model_output_attr": "idx_0",
        "tokenizer_name": "SimpleStories/test-SimpleStories-gpt2-1.25M",
        "steps": 100,
    } | extra


@pytest.fixture
def llama_simple_run(tmp_path: Path) -> tuple[Path, dict]:
    generator = torch.Generator().manual_seed(1)
    target_state = llama_simple_state(LLAMA_SIMPLE, generator)
    return write_pretrain_run(tmp_path / "pretrain", target_state, LLAMA_SIMPLE), target_state


def modules_of(state: dict) -> dict:
    return {
        "h.0.mlp.gate_proj": (16, 24, 7, None),
        "h.1.mlp.gate_proj": (16, 24, 7, None),
        "h.0.mlp.down_proj": (24, 16, 5, None),
        "h.1.mlp.down_proj": (24, 16, 5, None),
    }


def reference_target(target_state: dict) -> SimpleTransformer:
    model = SimpleTransformer(SimpleConfig(**LLAMA_SIMPLE))
    model.load_state_dict(target_state)
    return model.eval()


def captured_inputs(model: torch.nn.Module, ids: torch.Tensor, paths) -> dict[str, torch.Tensor]:
    inputs = {}
    handles = [
        model.get_submodule(path).register_forward_pre_hook(
            lambda _m, args, path=path: inputs.__setitem__(path, args[0])
        )
        for path in paths
    ]
    with torch.no_grad():
        model(ids)
    for handle in handles:
        handle.remove()
    return inputs


def spd_reference_ci(kind: str, state: dict, path: str, x: torch.Tensor) -> torch.Tensor:
    """spd's CI formula written out on the raw checkpoint tensors: clamp(ci_fn(input), 0, 1)."""
    escaped = path.replace(".", "-")
    p = {
        key.split(f"_ci_fns.{escaped}.")[1]: v
        for key, v in state.items()
        if key.startswith(f"_ci_fns.{escaped}.")
    }
    if kind == "vector_mlp":
        hidden = F.gelu(torch.einsum("...i,cih->...ch", x, p["layers.0.W"]) + p["layers.0.b"])
        out = torch.einsum("...ch,cho->...co", hidden, p["layers.2.W"]) + p["layers.2.b"]
        out = out[..., 0]
    elif kind == "mlp":
        acts = x @ state[f"_components.{escaped}.V"]
        hidden = F.gelu(
            torch.einsum("...ci,cih->...ch", acts[..., None], p["layers.0.W"]) + p["layers.0.b"]
        )
        out = (torch.einsum("...ch,cho->...co", hidden, p["layers.2.W"]) + p["layers.2.b"])[..., 0]
    else:
        out = F.gelu(x @ p["layers.0.W"] + p["layers.0.b"]) @ p["layers.2.W"] + p["layers.2.b"]
    return out.clamp(0, 1)


@pytest.mark.parametrize("kind", ["vector_mlp", "mlp", "shared_mlp"])
def test_imported_ci_and_masked_forward_match_spd_formulas(
    llama_simple_run, tmp_path: Path, kind: str
) -> None:
    pretrain_dir, target_state = llama_simple_run
    generator = torch.Generator().manual_seed(2)
    state = write_spd_run(
        tmp_path / "spd-run", target_state, modules_of(target_state), spd_config(kind), generator
    )
    out = tmp_path / "imported"
    report = import_spd_run(tmp_path / "spd-run", pretrain_dir, out, tmp_path / "data")
    assert report["labels"] == 2 * 7 + 2 * 5
    dec = load_decomposition(out)
    assert dec.module_paths == [
        "h.0.mlp.gate_proj",
        "h.0.mlp.down_proj",
        "h.1.mlp.gate_proj",
        "h.1.mlp.down_proj",
    ]
    assert dec.labels[7] == "h.0.mlp.down_proj:0"

    ids = torch.randint(0, 300, (2, 11), generator=generator)
    reference = reference_target(target_state)
    inputs = captured_inputs(reference, ids, MLP_PATHS)
    ci = dec.causal_importances(ids)
    for path in MLP_PATHS:
        torch.testing.assert_close(ci[path], spd_reference_ci(kind, state, path, inputs[path]))

    # spd's masked forward: out = ((x @ V) * mask) @ U on the masked modules, the rest untouched
    masks = {
        path: torch.rand(2, 11, 7 if "gate" in path else 5, generator=generator)
        for path in MLP_PATHS[:3]
    }

    def replace(path: str):
        escaped = path.replace(".", "-")
        V, U = state[f"_components.{escaped}.V"], state[f"_components.{escaped}.U"]
        return lambda _m, args, _out: ((args[0] @ V) * masks[path]) @ U

    handles = [reference.get_submodule(p).register_forward_hook(replace(p)) for p in masks]
    with torch.no_grad():
        expected = reference(ids)
    for handle in handles:
        handle.remove()
    torch.testing.assert_close(dec.forward_masked(ids, masks), expected, rtol=1e-4, atol=1e-5)


def test_the_latest_checkpoints_are_taken_and_compile_prefixes_stripped(
    llama_simple_run, tmp_path: Path
) -> None:
    pretrain_dir, target_state = llama_simple_run
    write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        spd_config("vector_mlp"),
        torch.Generator().manual_seed(3),
    )
    torch.save({}, tmp_path / "run" / "model_50.pth")  # an older, unreadable-as-run checkpoint
    report = import_spd_run(tmp_path / "run", pretrain_dir, tmp_path / "out", tmp_path / "data")
    assert report["checkpoint"] == "model_100.pth"
    assert (tmp_path / "out" / "target" / "model_config.yaml").is_file()
    with pytest.raises(SpdImportError, match=r"no checkpoint for step 7 \(have \[50, 100\]\)"):
        import_spd_run(tmp_path / "run", pretrain_dir, tmp_path / "out2", tmp_path / "data", step=7)


def test_hf_gpt2_run_with_old_key_spellings(tmp_path: Path) -> None:
    torch.manual_seed(4)
    target = GPT2LMHeadModel(
        GPT2Config(vocab_size=300, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    ).eval()
    target_dir = tmp_path / "gpt2"
    target.save_pretrained(target_dir)
    write_tokenizer(target_dir, 300)
    (target_dir / "tokenizer_config.json").write_text(
        '{"tokenizer_class": "PreTrainedTokenizerFast"}'
    )
    config = {
        "C": 4,
        "target_module_patterns": ["transformer.h.*.mlp.c_fc"],
        "gate_type": "mlp",
        "gate_hidden_dims": [3],
        "sigmoid_type": "leaky_hard",
        "pretrained_model_class": "transformers.GPT2LMHeadModel",
        "pretrained_model_name_hf": "openai-community/gpt2",
    }
    modules = {
        f"transformer.h.{i}.mlp.c_fc": (
            16,
            64,
            4,
            target.get_submodule(f"transformer.h.{i}.mlp.c_fc").bias.detach(),
        )
        for i in range(2)
    }
    state = write_spd_run(
        tmp_path / "run",
        target.state_dict(),
        modules,
        config,
        torch.Generator().manual_seed(5),
        prefixes=("patched_model.", "_components.", "_gates."),
    )
    import_spd_run(tmp_path / "run", target_dir, tmp_path / "out", tmp_path / "data")
    dec = load_decomposition(tmp_path / "out")
    ids = torch.randint(0, 300, (1, 9))
    inputs = captured_inputs(target, ids, modules)
    ci = dec.causal_importances(ids)
    renamed = {k.replace("_gates.", "_ci_fns."): v for k, v in state.items()}
    for path in modules:
        torch.testing.assert_close(ci[path], spd_reference_ci("mlp", renamed, path, inputs[path]))
    # full masks with the bias reproduce V U + b on Conv1D modules: the target with each of
    # those weights replaced by spd's V U gives the same logits
    ones = {path: torch.ones(4) for path in modules}
    rebuilt = copy.deepcopy(target)
    with torch.no_grad():
        for path in modules:
            escaped = path.replace(".", "-")
            V, U = state[f"_components.{escaped}.V"], state[f"_components.{escaped}.U"]
            rebuilt.get_submodule(path).weight.copy_(V @ U)  # Conv1D: [d_in, d_out]
        expected = rebuilt(ids).logits
    torch.testing.assert_close(dec.forward_masked(ids, ones), expected, rtol=1e-4, atol=1e-4)


def test_target_of_another_shape_names_the_key_and_both_shapes(
    llama_simple_run, tmp_path: Path
) -> None:
    pretrain_dir, target_state = llama_simple_run
    wrong = dict(target_state)
    wrong["h.0.mlp.gate_proj.weight"] = torch.zeros(30, 16)
    write_spd_run(
        tmp_path / "run",
        wrong,
        modules_of(wrong),
        spd_config("vector_mlp"),
        torch.Generator().manual_seed(6),
    )
    with pytest.raises(
        SpdImportError,
        match=re.escape(
            "target_model.h.0.mlp.gate_proj.weight has shape (30, 16), --target has (24, 16)"
        ),
    ):
        import_spd_run(tmp_path / "run", pretrain_dir, tmp_path / "out", tmp_path / "data")
    assert not (tmp_path / "out").exists()


def test_component_of_another_shape_names_the_key(llama_simple_run, tmp_path: Path) -> None:
    pretrain_dir, target_state = llama_simple_run
    state = write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        spd_config("vector_mlp"),
        torch.Generator().manual_seed(7),
    )
    state["_ci_fns.h-1-mlp-down_proj.layers.0.W"] = torch.zeros(5, 99, 5)
    torch.save(state, tmp_path / "run" / "model_100.pth")
    with pytest.raises(
        SpdImportError,
        match=re.escape(
            "ci_fns.h-1-mlp-down_proj.layers.0.W has shape (5, 99, 5), the model needs (5, 24, 5)"
        ),
    ):
        import_spd_run(tmp_path / "run", pretrain_dir, tmp_path / "out", tmp_path / "data")


def test_wrong_kind_of_target_is_refused(tmp_path: Path, llama_simple_run) -> None:
    _, target_state = llama_simple_run
    write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        spd_config("vector_mlp"),
        torch.Generator().manual_seed(8),
    )
    hf_dir = tmp_path / "llama-hf"
    LlamaForCausalLM(
        LlamaConfig(
            vocab_size=300,
            hidden_size=16,
            intermediate_size=24,
            num_hidden_layers=2,
            num_attention_heads=4,
        )
    ).save_pretrained(hf_dir)
    write_tokenizer(hf_dir, 300)
    (hf_dir / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    with pytest.raises(SpdImportError, match="the run decomposed a LlamaSimple"):
        import_spd_run(tmp_path / "run", hf_dir, tmp_path / "out", tmp_path / "data")


def test_missing_files_and_existing_output_are_named(llama_simple_run, tmp_path: Path) -> None:
    pretrain_dir, _ = llama_simple_run
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpdImportError, match=r"final_config\.yaml: cannot read"):
        import_spd_run(tmp_path / "empty", pretrain_dir, tmp_path / "out", tmp_path / "data")
    (tmp_path / "empty" / "final_config.yaml").write_text(yaml.safe_dump(spd_config("mlp")))
    with pytest.raises(SpdImportError, match=r"no model_<step>\.pth checkpoint"):
        import_spd_run(tmp_path / "empty", pretrain_dir, tmp_path / "out", tmp_path / "data")
    (tmp_path / "out").mkdir()
    with pytest.raises(DecompositionExistsError, match="pass --force"):
        import_spd_run(tmp_path / "empty", pretrain_dir, tmp_path / "out", tmp_path / "data")


def test_identity_modules_are_refused_clearly(llama_simple_run, tmp_path: Path) -> None:
    pretrain_dir, target_state = llama_simple_run
    config = spd_config("vector_mlp", identity_module_info=[{"module_pattern": "h.*.mlp", "C": 4}])
    write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        config,
        torch.Generator().manual_seed(9),
    )
    with pytest.raises(SpdImportError, match="identity modules"):
        import_spd_run(tmp_path / "run", pretrain_dir, tmp_path / "out", tmp_path / "data")


def test_without_target_the_configs_own_path_is_used_or_asked_for(
    llama_simple_run, tmp_path: Path
) -> None:
    pretrain_dir, target_state = llama_simple_run
    config = spd_config(
        "vector_mlp", pretrained_model_name=None, pretrained_model_path=str(pretrain_dir)
    )
    write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        config,
        torch.Generator().manual_seed(10),
    )
    import_spd_run(tmp_path / "run", None, tmp_path / "out", tmp_path / "data")
    assert (tmp_path / "out" / "report.json").is_file()
    elsewhere = spd_config("vector_mlp")  # names a wandb run, which is not on this machine
    write_spd_run(
        tmp_path / "run2",
        target_state,
        modules_of(target_state),
        elsewhere,
        torch.Generator().manual_seed(11),
    )
    with pytest.raises(
        SpdImportError,
        match="'wandb:goodfire/spd/runs/abc123' is not on this machine: pass --target",
    ):
        import_spd_run(tmp_path / "run2", None, tmp_path / "out2", tmp_path / "data")
