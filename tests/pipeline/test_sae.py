"""The TopK sparse autoencoder: recovery of a planted dictionary, and its numpy read-outs."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from dashboard.analysis.sae_features import (
    TopKSae,
    decode,
    encode,
    feature_top_tokens,
    fraction_of_variance_unexplained,
)
from dashboard.pipeline.sae import SaeConfig, train_topk_sae

CPU = torch.device("cpu")
D_MODEL, N_PLANTED, N_ROWS, PER_ROW = 32, 64, 8192, 3
CONFIG = SaeConfig(expansion=4, k=4, steps=1000, batch_size=256, learning_rate=3e-3)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit directions `[64, 32]`; rows that each add 3 of them with weights in [0.5, 1.5] to an
    offset; and each row's most heavily weighted direction."""
    generator = np.random.default_rng(0)
    directions = generator.normal(size=(N_PLANTED, D_MODEL))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    chosen = np.stack([generator.choice(N_PLANTED, PER_ROW, replace=False) for _ in range(N_ROWS)])
    weights = generator.uniform(0.5, 1.5, size=(N_ROWS, PER_ROW))
    rows = np.einsum("nk,nkd->nd", weights, directions[chosen]) + 0.3
    dominant = chosen[np.arange(N_ROWS), weights.argmax(axis=1)]
    return directions, rows.astype(np.float32), dominant


@pytest.fixture(scope="module")
def planted_sae(planted: tuple[np.ndarray, np.ndarray, np.ndarray]) -> TopKSae:
    return train_topk_sae(planted[1], CONFIG, CPU)


def test_the_sae_recovers_the_planted_directions(
    planted: tuple[np.ndarray, np.ndarray, np.ndarray], planted_sae: TopKSae
) -> None:
    directions, rows, _ = planted
    assert planted_sae.encoder.shape == (D_MODEL, 4 * D_MODEL)
    assert planted_sae.decoder.shape == (4 * D_MODEL, D_MODEL)
    np.testing.assert_allclose(np.linalg.norm(planted_sae.decoder, axis=1), 1.0, atol=1e-5)
    best_cosine = (directions @ planted_sae.decoder.T).max(axis=1)
    assert (best_cosine > 0.9).mean() >= 0.9
    report = planted_sae.report
    assert report["heldout_rows"] == round(N_ROWS * CONFIG.heldout_fraction)
    assert report["heldout_fvu"] < 0.15
    assert 0 <= report["dead_fraction"] < 1
    heldout = rows[-report["heldout_rows"] :]
    assert fraction_of_variance_unexplained(planted_sae, heldout) == report["heldout_fvu"]


def test_encode_keeps_at_most_k_features_largest_first(
    planted: tuple[np.ndarray, np.ndarray, np.ndarray], planted_sae: TopKSae
) -> None:
    rows = planted[1][:500]
    indices, values = encode(planted_sae, rows)
    assert indices.shape == values.shape == (500, CONFIG.k)
    assert (values >= 0).all() and (np.diff(values, axis=1) <= 0).all()
    assert ((values > 0).sum(axis=1) <= CONFIG.k).all()
    assert all(len(set(row)) == CONFIG.k for row in indices.tolist())

    pre = (rows - planted_sae.decoder_bias) @ planted_sae.encoder + planted_sae.encoder_bias
    np.testing.assert_allclose(values[:, 0], np.maximum(pre.max(axis=1), 0), rtol=1e-5)
    dense = np.zeros_like(pre)
    np.put_along_axis(dense, indices, values, axis=1)
    np.testing.assert_allclose(
        decode(planted_sae, indices, values),
        dense @ planted_sae.decoder + planted_sae.decoder_bias,
        rtol=1e-4,
        atol=1e-5,
    )


def test_training_is_deterministic_given_the_seed(
    planted: tuple[np.ndarray, np.ndarray, np.ndarray], planted_sae: TopKSae
) -> None:
    short = dataclasses.replace(CONFIG, steps=20)
    first = train_topk_sae(planted[1], short, CPU)
    np.testing.assert_array_equal(first.decoder, train_topk_sae(planted[1], short, CPU).decoder)
    other = train_topk_sae(planted[1], dataclasses.replace(short, seed=1), CPU)
    assert not np.array_equal(first.decoder, other.decoder)


def test_a_planted_directions_feature_reads_out_its_token(
    planted: tuple[np.ndarray, np.ndarray, np.ndarray], planted_sae: TopKSae
) -> None:
    """Each row's token is its dominant direction, so that direction's feature tops on it."""
    directions, rows, dominant = planted
    top_tokens = feature_top_tokens(planted_sae, rows, dominant, top=3)
    assert len(top_tokens) == planted_sae.n_features
    best_feature = (directions @ planted_sae.decoder.T).argmax(axis=1)
    matches = [top_tokens[best_feature[j]][:1] == [j] for j in range(N_PLANTED)]
    assert np.mean(matches) >= 0.9


def test_feature_top_tokens_sums_activation_per_token() -> None:
    """A hand-made SAE whose feature `i` is coordinate `i` of the input."""
    sae = TopKSae(
        encoder=np.eye(3, dtype=np.float32),
        encoder_bias=np.zeros(3, dtype=np.float32),
        decoder=np.eye(3, dtype=np.float32),
        decoder_bias=np.zeros(3, dtype=np.float32),
        k=1,
        report={},
    )
    activations = np.array(
        [[1.0, 0, 0], [0.4, 0, 0], [0.4, 0, 0], [0.5, 0, 0], [0, 2.0, 0], [0.1, 0, 0]],
        dtype=np.float32,
    )
    tokens = np.array([7, 9, 9, 5, 7, 3])
    assert feature_top_tokens(sae, activations, tokens, top=3) == [[7, 9, 5], [7], []]
    assert feature_top_tokens(sae, activations, tokens, top=1) == [[7], [7], []]


def test_the_numpy_read_outs_do_not_import_torch() -> None:
    code = "import sys, dashboard.analysis.sae_features; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
