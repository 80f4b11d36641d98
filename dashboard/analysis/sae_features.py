"""A trained TopK sparse autoencoder as numpy arrays: encoding, decoding and feature read-outs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ENCODE_ROWS = 4096  # rows encoded at a time, bounding the `[rows, features]` pre-activations


@dataclass
class TopKSae:
    """`f = topk(relu((x - decoder_bias) @ encoder + encoder_bias))`, `x̂ = f @ decoder +
    decoder_bias`, keeping the `k` largest features of `f`; the decoder rows are unit vectors."""

    encoder: np.ndarray  # [d_model, n_features] float32
    encoder_bias: np.ndarray  # [n_features]
    decoder: np.ndarray  # [n_features, d_model], unit rows
    decoder_bias: np.ndarray  # [d_model]
    k: int
    report: dict

    @property
    def n_features(self) -> int:
        return self.decoder.shape[0]


def encode(sae: TopKSae, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The `k` active features of each row: `indices [n, k]` int64 and `values [n, k]` float32
    (non-negative, largest first; a row with fewer than `k` positive features pads with zeros)."""
    n, k = len(x), min(sae.k, sae.n_features)
    indices = np.empty((n, k), dtype=np.int64)
    values = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, ENCODE_ROWS):
        rows = slice(start, start + ENCODE_ROWS)
        centred = np.asarray(x[rows], dtype=np.float32) - sae.decoder_bias
        pre = centred @ sae.encoder + sae.encoder_bias
        top = np.argpartition(pre, -k, axis=1)[:, -k:]
        top_values = np.take_along_axis(pre, top, axis=1)
        order = np.argsort(-top_values, axis=1)
        indices[rows] = np.take_along_axis(top, order, axis=1)
        values[rows] = np.maximum(np.take_along_axis(top_values, order, axis=1), 0.0)
    return indices, values


def decode(sae: TopKSae, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The reconstruction `[n, d_model]` of encoded rows."""
    return np.einsum("nk,nkd->nd", values, sae.decoder[indices]) + sae.decoder_bias


def fraction_of_variance_unexplained(sae: TopKSae, x: np.ndarray) -> float:
    """Squared reconstruction error over the squared deviation of `x` from its mean."""
    x = np.asarray(x, dtype=np.float64)
    reconstruction = decode(sae, *encode(sae, x))
    residual_energy = ((x - reconstruction) ** 2).sum()
    total_energy = ((x - x.mean(axis=0)) ** 2).sum()
    return float(residual_energy / total_energy) if total_energy > 0 else 0.0


def feature_top_tokens(
    sae: TopKSae, activations: np.ndarray, token_ids: np.ndarray, top: int = 8
) -> list[list[int]]:
    """For each feature, up to `top` token ids with the largest summed activation over the rows
    of `activations` `[n, d_model]` whose tokens are `token_ids` `[n]`; largest first."""
    indices, values = encode(sae, activations)
    tokens = np.broadcast_to(np.asarray(token_ids, dtype=np.int64)[:, None], indices.shape)
    active = values > 0
    features, tokens, values = indices[active], tokens[active], values[active]
    n_tokens = int(tokens.max()) + 1 if len(tokens) else 1
    pairs, slot = np.unique(features * n_tokens + tokens, return_inverse=True)
    sums = np.bincount(slot, weights=values)
    pair_features, pair_tokens = pairs // n_tokens, pairs % n_tokens
    order = np.lexsort((-sums, pair_features))
    pair_features, pair_tokens = pair_features[order], pair_tokens[order]
    starts = np.searchsorted(pair_features, np.arange(sae.n_features + 1))
    return [
        pair_tokens[starts[feature] : min(starts[feature + 1], starts[feature] + top)].tolist()
        for feature in range(sae.n_features)
    ]
