"""Residual collection and the tuned lens on the `micro` model."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from dashboard.models.datasets import corpus_windows
from dashboard.models.loading import Target, load_target
from dashboard.models.target import target_logits
from dashboard.pipeline.anatomy import anatomy_of
from dashboard.pipeline.residuals import collect_residuals
from dashboard.pipeline.tuned_lens import TunedLensConfig, lens_kl, train_tuned_lens

CPU = torch.device("cpu")
N_WINDOWS = 96  # 3,072 tokens in windows of 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def micro_target(micro_data_dir: Path) -> Target:
    return load_target("micro", micro_data_dir)


@pytest.fixture(scope="module")
def micro_windows(micro_target: Target) -> np.ndarray:
    return corpus_windows(micro_target.tokenizer, 32).train[:N_WINDOWS]


@pytest.fixture(scope="module")
def micro_residuals(micro_target: Target, micro_windows: np.ndarray) -> np.ndarray:
    n_layers = anatomy_of(micro_target.model).n_layers
    return collect_residuals(
        micro_target.model, micro_windows, list(range(n_layers + 1)), batch_size=16, device=CPU
    )


def test_residuals_have_the_promised_shape_and_order(
    micro_target: Target, micro_windows: np.ndarray, micro_residuals: np.ndarray
) -> None:
    anatomy = anatomy_of(micro_target.model)
    n_tokens = micro_windows.size
    assert micro_residuals.shape == (anatomy.n_layers + 1, n_tokens, anatomy.d_model)
    assert micro_residuals.dtype == np.float32

    reversed_points = collect_residuals(
        micro_target.model, micro_windows[:5], [2, 0], batch_size=2, device=CPU
    )
    np.testing.assert_array_equal(reversed_points[0], micro_residuals[2, : 5 * 32])
    np.testing.assert_array_equal(reversed_points[1], micro_residuals[0, : 5 * 32])

    embeddings = anatomy.embedding.weight.detach().numpy()
    np.testing.assert_allclose(micro_residuals[0], embeddings[micro_windows.reshape(-1)], atol=1e-6)


def test_the_last_point_read_out_is_the_models_logits(
    micro_target: Target, micro_windows: np.ndarray, micro_residuals: np.ndarray
) -> None:
    anatomy = anatomy_of(micro_target.model)
    windows = micro_windows[7:10]
    with torch.no_grad():
        expected = target_logits(micro_target.model, torch.from_numpy(windows).long())
        rows = micro_residuals[anatomy.n_layers, 7 * 32 : 10 * 32]
        read_out = anatomy.logits(torch.from_numpy(rows))
    torch.testing.assert_close(read_out, expected.reshape(-1, expected.shape[-1]))


def test_the_untrained_tuned_lens_is_the_logit_lens(
    micro_target: Target, micro_residuals: np.ndarray
) -> None:
    model, n_layers = micro_target.model, anatomy_of(micro_target.model).n_layers
    untrained = train_tuned_lens(model, micro_residuals, TunedLensConfig(steps=0), CPU)
    assert not untrained.weights.any() and not untrained.bias.any()
    assert untrained.report["tuned_lens_kl"] == untrained.report["logit_lens_kl"]

    def read_out(point: int) -> torch.Tensor:
        residual = torch.from_numpy(micro_residuals[point])
        with torch.no_grad():
            logits = micro_target.model.lm_head(micro_target.model.model.norm(residual))
        return torch.log_softmax(logits, dim=-1)

    final, first = read_out(n_layers), read_out(0)
    direct = float((final.exp() * (final - first)).sum(-1).mean())
    zeros = np.zeros_like(untrained.weights), np.zeros_like(untrained.bias)
    logit_lens = lens_kl(model, micro_residuals, *zeros, CPU, batch_tokens=1000)
    assert logit_lens[0] == pytest.approx(direct, rel=1e-4)


def test_the_tuned_lens_beats_the_logit_lens_on_held_out_tokens(
    micro_target: Target, micro_residuals: np.ndarray
) -> None:
    model = micro_target.model
    parameters_before = [p.detach().clone() for p in model.parameters()]
    flags_before = [p.requires_grad for p in model.parameters()]
    config = TunedLensConfig(steps=150, batch_tokens=256, learning_rate=3e-3, seed=1)

    lens = train_tuned_lens(model, micro_residuals, config, CPU)

    n_layers = anatomy_of(model).n_layers
    assert lens.weights.shape == (n_layers, 32, 32) and lens.bias.shape == (n_layers, 32)
    logit, tuned = np.array(lens.report["logit_lens_kl"]), np.array(lens.report["tuned_lens_kl"])
    assert lens.report["heldout_tokens"] == round(micro_residuals.shape[1] * 0.1)
    assert (tuned < logit).all(), (logit, tuned)
    assert tuned[0] < 0.8 * logit[0]
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags_before
    for before, after in zip(parameters_before, model.parameters(), strict=True):
        assert torch.equal(before, after)

    short = dataclasses.replace(config, steps=10)
    first = train_tuned_lens(model, micro_residuals, short, CPU)
    again = train_tuned_lens(model, micro_residuals, short, CPU)
    np.testing.assert_array_equal(again.weights, first.weights)
    np.testing.assert_array_equal(again.bias, first.bias)
    other_seed = train_tuned_lens(model, micro_residuals, dataclasses.replace(short, seed=2), CPU)
    assert not np.array_equal(other_seed.weights, first.weights)
