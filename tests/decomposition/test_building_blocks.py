"""Sigmoids, subcomponents, CI functions, module patterns, and the masked forward pass."""

import pytest
import torch
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

from dashboard.decomposition.ci_functions import make_ci_function
from dashboard.decomposition.components import Subcomponents, dense_weight
from dashboard.decomposition.config import ModulePattern
from dashboard.decomposition.model import DecomposedModel
from dashboard.decomposition.patterns import ModuleMatchError, match_modules
from dashboard.decomposition.sigmoids import lower_leaky_hard, squash_pair, upper_leaky_hard

GRID = torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=50,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    return LlamaForCausalLM(config).eval()


def tiny_gpt2() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    return GPT2LMHeadModel(
        GPT2Config(vocab_size=50, n_positions=32, n_embd=16, n_layer=2, n_head=2)
    ).eval()


def decomposed(target: nn.Module, pattern: str, size: int, ci_fn_type: str) -> DecomposedModel:
    sizes = match_modules(target, (ModulePattern(pattern, size),))
    return DecomposedModel(target, sizes, ci_fn_type, [4], "leaky_hard")


def test_sigmoid_values() -> None:
    assert lower_leaky_hard(GRID).tolist() == [0, 0, 0, 0.5, 1, 1, 1]
    assert upper_leaky_hard(GRID).tolist() == pytest.approx([0, 0, 0, 0.5, 1, 1.005, 1.01])


def test_lower_leaky_gradient_only_leaks_upwards() -> None:
    x = torch.tensor([-1.0, -1.0, 0.5, 2.0], requires_grad=True)
    # loss gradient -1 pushes x up, +1 pushes it down
    (lower_leaky_hard(x) * torch.tensor([-1.0, 1.0, 1.0, 1.0])).sum().backward()
    assert x.grad.tolist() == pytest.approx([-0.01, 0.0, 1.0, 0.0])


def test_unknown_sigmoid_is_named() -> None:
    with pytest.raises(ValueError, match="sigmoid_type 'swishy'"):
        squash_pair("swishy")


def test_subcomponents_with_full_masks_and_delta_equal_the_original_layer() -> None:
    layer = nn.Linear(8, 5)
    parts = Subcomponents(8, 5, 3, layer.bias)
    x = torch.randn(2, 4, 8)
    delta = (dense_weight(layer) - parts.weight()).detach()
    out = parts(x, torch.ones(2, 4, 3), (delta, torch.ones(2, 4)))
    torch.testing.assert_close(out, layer(x))


def test_masking_a_subcomponent_removes_its_rank_one_term() -> None:
    parts = Subcomponents(6, 4, 3, None)
    x = torch.randn(5, 6)
    mask = torch.tensor([1.0, 0.0, 1.0])
    expected = sum((x @ parts.V[:, c : c + 1]) @ parts.U[c : c + 1] for c in (0, 2))
    torch.testing.assert_close(parts(x, mask), expected)


@pytest.mark.parametrize("kind", ["mlp", "vector_mlp", "shared_mlp"])
def test_ci_function_shapes(kind: str) -> None:
    fn = make_ci_function(kind, n_components=7, d_in=12, hidden=[5])
    x = torch.randn(2, 3, 7 if kind == "mlp" else 12)
    assert fn(x).shape == (2, 3, 7)
    assert fn.reads_inner_acts == (kind == "mlp")


def test_vector_mlp_is_one_private_mlp_per_subcomponent() -> None:
    fn = make_ci_function("vector_mlp", n_components=3, d_in=4, hidden=[5])
    x = torch.randn(6, 4)
    first, _, last = fn.layers
    for c in range(3):
        hidden = torch.nn.functional.gelu(x @ first.W[c] + first.b[c])
        torch.testing.assert_close(fn(x)[:, c], (hidden @ last.W[c] + last.b[c]).squeeze(-1))


def test_unknown_ci_function_is_named() -> None:
    with pytest.raises(ValueError, match="ci_fn_type 'gru'"):
        make_ci_function("gru", 3, 4, [5])


def test_pattern_matching_nothing_lists_the_modules() -> None:
    with pytest.raises(ModuleMatchError) as error:
        match_modules(tiny_llama(), (ModulePattern("model.layers.*.mlp.nonsense", 4),))
    assert "matches no linear module" in str(error.value)
    assert "model.layers.1.mlp.down_proj" in str(error.value)


def test_pattern_matching_twice_is_refused() -> None:
    patterns = (ModulePattern("model.layers.0.mlp.*", 4), ModulePattern("*.down_proj", 4))
    with pytest.raises(ModuleMatchError, match="matched by both"):
        match_modules(tiny_llama(), patterns)


def test_patterns_keep_the_model_order_and_their_sizes() -> None:
    sizes = match_modules(
        tiny_llama(),
        (ModulePattern("*.mlp.down_proj", 9), ModulePattern("model.layers.0.self_attn.q_proj", 3)),
    )
    assert sizes == {
        "model.layers.0.self_attn.q_proj": 3,
        "model.layers.0.mlp.down_proj": 9,
        "model.layers.1.mlp.down_proj": 9,
    }


@pytest.mark.parametrize(
    ("make_target", "pattern"),
    [(tiny_llama, "model.layers.*.mlp.*_proj"), (tiny_gpt2, "transformer.h.*.attn.c_attn")],
    ids=["llama-linear", "gpt2-conv1d"],
)
def test_full_masks_with_delta_reproduce_the_target(make_target, pattern: str) -> None:
    target = make_target()
    model = decomposed(target, pattern, 5, "shared_mlp")
    ids = torch.randint(0, 50, (2, 9))
    with torch.no_grad():
        expected = target(input_ids=ids).logits
        masks = {path: torch.ones(2, 9, 5) for path in model.module_paths}
        deltas = {path: (d, torch.ones(2, 9)) for path, d in model.weight_deltas().items()}
        torch.testing.assert_close(model.forward_masked(ids, masks, deltas), expected)
        # without the delta the output changes, and afterwards the target is untouched
        assert not torch.allclose(model.forward_masked(ids, masks), expected)
        torch.testing.assert_close(target(input_ids=ids).logits, expected)


def test_masked_forward_touches_only_the_masked_modules() -> None:
    target = tiny_llama()
    model = decomposed(target, "*.mlp.*_proj", 4, "mlp")
    ids = torch.randint(0, 50, (1, 6))
    captured = {}
    handles = [
        target.get_submodule(path).register_forward_hook(
            lambda _m, _a, out, path=path: captured.__setitem__(path, out)
        )
        for path in ("model.layers.0.mlp.up_proj", "model.layers.1.mlp.down_proj")
    ]
    only = "model.layers.1.mlp.down_proj"
    with torch.no_grad():
        target(input_ids=ids)
        reference = dict(captured)
        model.forward_masked(ids, {only: torch.zeros(4)})
    for handle in handles:
        handle.remove()
    # layer 0 is before the masked module and unchanged; the masked module's bias-free output is 0
    assert not reference[only].eq(0).all()
    assert captured[only].eq(0).all()
    torch.testing.assert_close(
        captured["model.layers.0.mlp.up_proj"], reference["model.layers.0.mlp.up_proj"]
    )
    with pytest.raises(KeyError, match="not decomposed"):
        model.forward_masked(ids, {"model.layers.0.self_attn.q_proj": torch.ones(4)})


def test_causal_importances_lie_in_the_unit_interval() -> None:
    target = tiny_llama()
    model = decomposed(target, "*.self_attn.v_proj", 6, "vector_mlp")
    ci = model.causal_importances(torch.randint(0, 50, (3, 7)))
    assert set(ci) == {"model.layers.0.self_attn.v_proj", "model.layers.1.self_attn.v_proj"}
    for values in ci.values():
        assert values.shape == (3, 7, 6)
        assert values.min() >= 0 and values.max() <= 1
    assert model.labels[:2] == [
        "model.layers.0.self_attn.v_proj:0",
        "model.layers.0.self_attn.v_proj:1",
    ]
    assert len(model.labels) == 12


def test_minimality_coefficient_and_p_follow_their_schedules() -> None:
    from dashboard.decomposition.config import LossConfig

    schedule = LossConfig(
        importance_minimality=2e-3,
        importance_minimality_warmup=0.5,
        pnorm=2.0,
        pnorm_final=0.5,
        pnorm_anneal_start=0.2,
        pnorm_anneal_end=0.8,
    )
    assert schedule.importance_minimality_at(0.0) == 0.0
    assert schedule.importance_minimality_at(0.25) == pytest.approx(1e-3)
    assert schedule.importance_minimality_at(0.9) == 2e-3
    assert [schedule.pnorm_at(f) for f in (0.0, 0.2, 0.5, 0.8, 1.0)] == pytest.approx(
        [2.0, 2.0, 1.25, 0.5, 0.5]
    )
    assert LossConfig().importance_minimality_at(0.0) == LossConfig().importance_minimality


def test_a_pattern_scales_the_importance_minimality_of_its_modules() -> None:
    from dashboard.decomposition.losses import importance_minimality_loss
    from dashboard.decomposition.patterns import importance_minimality_scales

    paths = ["model.layers.0.mlp.up_proj", "model.layers.0.mlp.down_proj"]
    patterns = (
        ModulePattern("model.layers.*.mlp.up_proj", 4),
        ModulePattern("model.layers.0.mlp.down_proj", 4, importance_minimality_scale=3.0),
    )
    scales = importance_minimality_scales(paths, patterns)
    assert scales == {paths[0]: 1.0, paths[1]: 3.0}
    ci = {path: torch.full((2, 5, 4), 0.5) for path in paths}
    plain = importance_minimality_loss(ci, 1.0, dict.fromkeys(paths, 1.0))
    scaled = importance_minimality_loss(ci, 1.0, scales)
    # each module's term is 4 subcomponents x (0.5 + eps): the scaled one counts three times
    assert float(scaled) == pytest.approx(float(plain) * 2.0, rel=1e-6)


def test_the_demo_preset_decomposes_every_linear_module_of_the_demo_model_once() -> None:
    from dashboard.decomposition.patterns import importance_minimality_scales, linear_module_paths
    from dashboard.decomposition.presets import PRESETS
    from dashboard.models.demo import PRESETS as MODEL_PRESETS
    from dashboard.models.demo import llama_config

    model = LlamaForCausalLM(llama_config(MODEL_PRESETS["demo"], eos_token_id=0))
    modules = PRESETS["demo"].modules
    chosen = match_modules(model, modules)
    assert list(chosen) == [p for p in linear_module_paths(model) if p != "lm_head"]
    scales = importance_minimality_scales(list(chosen), modules)
    assert {path for path, scale in scales.items() if scale != 1.0} == {
        "model.layers.0.mlp.down_proj"
    }
