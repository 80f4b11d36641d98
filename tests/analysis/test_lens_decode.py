"""Lens decodings on matrices small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.lens_decode import decode_clusters, decode_members, extremes
from dashboard.analysis.lenses import LENSES, LensMatrices

D, VOCAB = 6, 10


@pytest.fixture
def matrices() -> LensMatrices:
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(VOCAB, D)).astype(np.float32)
    decoder = rng.normal(size=(1, 8, D)).astype(np.float32)
    decoder /= np.linalg.norm(decoder, axis=2, keepdims=True)
    tuned = np.zeros((2, D, D), np.float32)
    tuned[1] = -np.eye(D) + np.roll(np.eye(D), 1, axis=0)  # point 1: I + A permutes coordinates
    return {
        "logit": embedding.T.copy(),  # a tied unembedding
        "embedding": embedding,
        "tuned_weights": tuned,
        "sae_points": np.array([1]),
        "sae_decoder": decoder,
    }


def top_item(name, matrices, direction, point=0):
    lens = LENSES[name]
    prepared = lens.prepare(matrices, direction[None], np.array([point]))
    return int(lens.score(matrices, prepared).argmax())


def test_embedding_and_logit_lens_find_the_planted_token(matrices):
    for token in range(VOCAB):
        assert top_item("embedding", matrices, matrices["embedding"][token]) == token
    unembedding = matrices["logit"].T
    found = [top_item("logit", matrices, unembedding[t]) == t for t in range(VOCAB)]
    norms = np.linalg.norm(unembedding, axis=1)
    # a row wins its own logit unless a longer, well-aligned row outscores it
    assert sum(found) >= VOCAB * 0.7 and found[int(norms.argmax())]


def test_tuned_lens_translates_by_point(matrices):
    direction = np.zeros(D, np.float32)
    direction[0] = 1
    tuned = LENSES["tuned"]
    at_zero = tuned.prepare(matrices, direction[None], np.array([0]))
    np.testing.assert_allclose(at_zero[0], direction)  # zero translator: the logit lens
    at_one = tuned.prepare(matrices, direction[None], np.array([1]))
    np.testing.assert_allclose(at_one[0], np.roll(direction, 1))
    at_last = tuned.prepare(matrices, direction[None], np.array([2]))  # past the translators
    np.testing.assert_allclose(at_last[0], direction)


def test_sae_lens_uses_the_sae_of_the_direction_point(matrices):
    feature = matrices["sae_decoder"][0, 5] * 3.0
    assert top_item("sae", matrices, feature, point=1) == 5
    sae = LENSES["sae"]
    prepared = sae.prepare(matrices, feature[None], np.array([0]))  # no SAE at point 0
    assert not sae.score(matrices, prepared).any()


def test_extremes_orders_both_ends():
    table = extremes(np.array([[0.5, -2.0, 3.0, 1.0]]), 2)
    top = table[table["end"] == "top"]
    bottom = table[table["end"] == "bottom"]
    assert top["item"].tolist() == [2, 3] and top["rank"].tolist() == [0, 1]
    assert bottom["item"].tolist() == [1, 0]
    assert bottom["score"].tolist() == [-2.0, 0.5]


def test_member_and_cluster_decodings(matrices):
    reads = matrices["embedding"][[1, 2, 3]].copy()
    reads[2] = np.nan  # no residual path for this one's read direction
    writes = matrices["embedding"][[4, 4, 7]].copy()
    directions = {"read": reads, "write": writes}
    points = {"read": np.array([0, 0, 0]), "write": np.array([1, 1, 1])}
    members = decode_members(matrices, directions, points, np.arange(3), top=1)
    read_embedding = members.query("side == 'read' and lens == 'embedding' and end == 'top'")
    assert read_embedding["subcomponent"].tolist() == [0, 1]
    assert read_embedding["item"].tolist() == [1, 2]
    shares = pd.DataFrame(
        {"subcomponent": [0, 1, 2], "cluster": [9, 9, 4], "share": [0.5, 0.5, 1.0]}
    )
    clusters = decode_clusters(matrices, directions, points, shares, top=1)
    write_embedding = clusters.query("side == 'write' and lens == 'embedding' and end == 'top'")
    assert write_embedding.set_index("cluster")["item"].to_dict() == {4: 7, 9: 4}
    read_embedding = clusters.query("side == 'read' and lens == 'embedding' and end == 'top'")
    assert read_embedding["cluster"].tolist() == [9]  # cluster 4's only member has no path


def test_lenses_whose_arrays_are_missing_are_left_out(matrices):
    """A study stored before a lens existed still decodes with the others."""
    without_sae = {name: array for name, array in matrices.items() if not name.startswith("sae")}
    directions = {side: matrices["embedding"][[1, 2]] for side in ("read", "write")}
    points = {side: np.array([0, 1]) for side in ("read", "write")}
    table = decode_members(without_sae, directions, points, np.arange(2), top=1)
    assert set(table["lens"]) == set(LENSES) - {"sae"}
