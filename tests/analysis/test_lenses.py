"""Each lens of the registry on matrices small enough to check against its closed form, and the
contract every lens keeps (linear preparation, the same scores in numpy and torch, declared
files in the study format)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.lenses import LENSES, Lens, LensArray, LensMatrices, lens_files, unit_rows
from dashboard.study import Study, StudyWriter
from dashboard.study.schema import SPECS_BY_PATH, ArraySpec, TableSpec
from dashboard.study.summary import vocab_tokens

D, VOCAB, FEATURES = 6, 10, 8
POINTS = np.array([0, 1, 1, 2, 3, 0, 2])  # residual point of each test direction


@pytest.fixture
def matrices() -> LensMatrices:
    rng = np.random.default_rng(0)
    embedding = rng.normal(size=(VOCAB, D)).astype(np.float32)
    decoder = rng.normal(size=(2, FEATURES, D)).astype(np.float32)
    decoder /= np.linalg.norm(decoder, axis=2, keepdims=True)
    tuned = np.zeros((3, D, D), np.float32)
    tuned[1] = -np.eye(D) + np.roll(np.eye(D), 1, axis=0)  # point 1: I + A permutes coordinates
    tuned[2] = rng.normal(size=(D, D)) * 0.3
    return {
        "logit": rng.normal(size=(D, VOCAB)).astype(np.float16),
        "embedding": embedding.astype(np.float16),
        "tuned_weights": tuned,
        "sae_points": np.array([1, 2], np.int32),
        "sae_decoder": decoder,
    }


@pytest.fixture
def directions() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(len(POINTS), D)).astype(np.float32) * 3


def scores(lens: Lens, matrices: LensMatrices, directions: np.ndarray) -> np.ndarray:
    return lens.score(matrices, lens.prepare(matrices, directions, POINTS))


def test_logit_lens_is_the_direction_times_the_gained_unembedding(matrices, directions):
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    expected = unit @ matrices["logit"].astype(np.float64)
    np.testing.assert_allclose(scores(LENSES["logit"], matrices, directions), expected, rtol=1e-5)
    assert LENSES["logit"].n_items(matrices) == VOCAB


def test_embedding_lens_is_the_cosine_with_each_embedding(matrices, directions):
    embedding = matrices["embedding"].astype(np.float64)
    expected = np.array(
        [
            [d @ e / (np.linalg.norm(d) * np.linalg.norm(e)) for e in embedding]
            for d in directions.astype(np.float64)
        ]
    )
    np.testing.assert_allclose(
        scores(LENSES["embedding"], matrices, directions), expected, rtol=1e-5, atol=1e-6
    )
    assert LENSES["embedding"].n_items(matrices) == VOCAB


def test_tuned_lens_is_the_logit_lens_after_the_translator_of_the_point(matrices, directions):
    unit = directions / np.linalg.norm(directions, axis=1, keepdims=True)
    weights = matrices["tuned_weights"]
    translated = np.array(
        [u + weights[p] @ u if p < len(weights) else u for u, p in zip(unit, POINTS, strict=True)]
    )
    lens = LENSES["tuned"]
    np.testing.assert_allclose(lens.prepare(matrices, directions, POINTS), translated, rtol=1e-5)
    expected = translated @ matrices["logit"].astype(np.float64)
    np.testing.assert_allclose(scores(lens, matrices, directions), expected, rtol=1e-5, atol=1e-6)
    one_hot = np.eye(D, dtype=np.float32)[:1]
    at_one = lens.prepare(matrices, one_hot, np.array([1]))
    np.testing.assert_allclose(at_one[0], np.roll(one_hot[0], 1))  # I + A permutes at point 1


def test_sae_lens_is_the_cosine_with_the_features_of_the_sae_at_the_point(matrices, directions):
    decoder = matrices["sae_decoder"]
    got = scores(LENSES["sae"], matrices, directions)
    assert (
        got.shape == (len(POINTS), 2 * FEATURES) == (len(POINTS), LENSES["sae"].n_items(matrices))
    )
    for row, (direction, point) in enumerate(zip(directions, POINTS, strict=True)):
        cosines = decoder @ (direction / np.linalg.norm(direction))  # [slots, features]
        expected = np.where((matrices["sae_points"] == point)[:, None], cosines, 0).ravel()
        np.testing.assert_allclose(got[row], expected, rtol=1e-5, atol=1e-6)
    feature = decoder[1, 5] * 3.0  # feature 5 of the SAE at point 2: item 1 * F + 5
    assert (
        int(scores(LENSES["sae"], matrices, np.tile(feature, (len(POINTS), 1)))[3].argmax()) == 13
    )


@pytest.mark.parametrize("lens", LENSES.values(), ids=LENSES.keys())
def test_preparation_is_linear_so_clusters_are_sums_of_members(matrices, directions, lens):
    """A cluster's decoding is the share-weighted sum of its members' prepared directions."""
    unit, other = unit_rows(directions), np.roll(unit_rows(directions), 1, axis=1)
    combined = lens.translate(matrices, 0.3 * unit + 2.0 * other, POINTS)
    parts = [lens.translate(matrices, vectors, POINTS) for vectors in (unit, other)]
    np.testing.assert_allclose(combined, 0.3 * parts[0] + 2.0 * parts[1], atol=1e-5)


@pytest.mark.parametrize("lens", LENSES.values(), ids=LENSES.keys())
def test_the_device_scorer_gives_the_numpy_scores(matrices, directions, lens):
    import torch

    from dashboard.pipeline.lens_scoring import device_scorer

    prepared = lens.prepare(matrices, directions, POINTS)
    scorer = device_scorer(matrices, torch.device("cpu"))
    np.testing.assert_allclose(
        scorer(lens, matrices, prepared), lens.score(matrices, prepared), rtol=1e-5, atol=1e-6
    )


def test_every_lens_file_is_an_optional_file_of_the_study_format():
    for declared in lens_files():
        spec = SPECS_BY_PATH[declared.path]
        assert not spec.required
        if isinstance(declared, LensArray):
            assert isinstance(spec, ArraySpec)
            assert (spec.dtype, spec.ndim) == (declared.dtype, declared.ndim)
        else:
            assert isinstance(spec, TableSpec) and spec.columns == dict(declared.columns)
    names = [lens.name for lens in LENSES.values()]
    assert names == list(LENSES) and len(set(names)) == len(names)


@pytest.fixture
def study_with_sae_features(random_study_template: Path, tmp_path: Path) -> Study:
    """The random study with two SAEs' feature labels (points 1 and 3, four features each)."""
    source = Study(random_study_template)
    features = pd.DataFrame(
        {
            "point": np.repeat([1, 3], 4).astype(np.int32),
            "feature": np.tile(np.arange(4), 2).astype(np.int32),
            "label": [f"'tok{i}' " * 8 for i in range(8)],
            "frequency": np.linspace(0, 1, 8),
        }
    )
    features = features.drop(index=6)  # a feature without a label
    with StudyWriter(
        tmp_path / "with-sae", source.name, source.provenance, source.default_iteration
    ) as writer:
        for relative in source.manifest["files"]:
            writer.link_file(relative, source.path / relative)
        writer.write_array("lenses/sae_points.npy", np.array([1, 3], np.int32))
        writer.write_table("lenses/sae_features.parquet", features)
    return Study(tmp_path / "with-sae")


def test_items_are_labelled_as_tokens_or_as_sae_features(study_with_sae_features):
    study = study_with_sae_features
    tokens = vocab_tokens(study)
    for name in ("logit", "embedding", "tuned"):
        assert LENSES[name].item_labels(study, tokens, [0, 3]) == ["'<b>tok0</b>'", "' tok3'"]
    labels = LENSES["sae"].item_labels(study, tokens, [1, 6, 7])
    first, last = ((f"'tok{i}' " * 8)[:40] for i in (1, 7))
    assert labels == [f"p1 f1: {first}", "p3 f2: ", f"p3 f3: {last}"]  # cut to 40 characters
