"""The plane view, the cluster map and the token groups on planted structure."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.plane import DegeneratePlaneError, plane_basis, plane_view
from dashboard.pipeline.token_groups import group_labels, token_groups


def test_plane_projection_and_field():
    first, second = np.array([2.0, 0, 0]), np.array([1.0, 3.0, 0])
    basis = plane_basis(first, second)
    np.testing.assert_allclose(basis, [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    residuals = np.array([[1.0, 2.0, 5.0], [-1.0, 0.5, 0.0]])
    # one member reading e1 and writing 2 * e2: the field maps (a, b) to (0, 2a)
    view = plane_view(
        residuals,
        first,
        second,
        np.array([[1.0, 0, 0]]),
        np.array([[0, 2.0, 0]]),
        np.array([1.0]),
        grid_size=3,
    )
    np.testing.assert_allclose(view.coordinates, [[1, 2], [-1, 0.5]])
    np.testing.assert_allclose(view.field[:, 0], 0, atol=1e-12)
    np.testing.assert_allclose(view.field[:, 1], 2 * view.grid[:, 0])
    with pytest.raises(DegeneratePlaneError, match="parallel"):
        plane_basis(first, 3 * first)
    with pytest.raises(DegeneratePlaneError, match="zero"):
        plane_basis(np.full(3, np.nan), second)


def test_token_groups_find_planted_groups():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16)) * 5
    embeddings = np.repeat(centres, 20, axis=0) + rng.normal(scale=0.1, size=(60, 16))
    groups = token_groups(embeddings, 3, seed=0)
    for planted in range(3):
        assert len(set(groups[planted * 20 : (planted + 1) * 20])) == 1
    assert len(set(groups)) == 3
    tokens = [f"t{i}" for i in range(60)]
    counts = np.arange(60)[::-1]
    labels = group_labels(groups, tokens, counts).set_index("group")
    assert labels.loc[groups[0], "label"].startswith("'t0' 't1'")  # most frequent first
    assert labels["size"].tolist() == [20, 20, 20]


def test_cluster_map_separates_planted_families():
    rng = np.random.default_rng(1)
    n = 60
    family = np.repeat([0, 1], n // 2)
    histogram = np.zeros((n, 4), dtype=np.int64)
    histogram[family == 0, 0] = 10
    histogram[family == 1, 3] = 10
    histogram += rng.integers(0, 2, size=histogram.shape)
    clusters = pd.DataFrame(
        {
            "cluster": np.arange(n, dtype=np.int32),
            "firing_frequency": rng.uniform(0.01, 0.02, n),
            "depth_mean": family.astype(float),
            "attention_share": family.astype(float),
            "token_entropy": rng.uniform(0, 1, n),
        }
    )
    members = pd.DataFrame({"subcomponent": np.arange(n), "cluster": np.arange(n)})
    subcomponents = pd.DataFrame(
        {"layer": family, "module_kind": np.where(family == 0, "attn.q_proj", "mlp.up_proj")}
    )
    arrays = {"token_group_histogram": histogram, "position_mass": rng.uniform(size=(n, 16))}
    table = cluster_map(clusters, members, subcomponents, arrays, seed=0)
    assert table.columns.tolist() == ["cluster", "x", "y", "z", "x2", "y2"]
    for columns in (["x", "y", "z"], ["x2", "y2"]):
        points = table[columns].to_numpy()
        centre = [points[family == f].mean(axis=0) for f in (0, 1)]
        within = max(np.linalg.norm(points[family == f] - centre[f], axis=1).mean() for f in (0, 1))
        assert np.linalg.norm(centre[0] - centre[1]) > 2 * within
    again = cluster_map(clusters, members, subcomponents, arrays, seed=0)
    pd.testing.assert_frame_equal(table, again)  # seeded: the same map every time
