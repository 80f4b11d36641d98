"""The 3D and 2D UMAP maps of clusters.

Each cluster is described by four blocks of features, each standardized per column and scaled
by 1/sqrt(columns) so that every block weighs the same whatever its width:
1. what it fires on: its token-group histogram as shares;
2. where it lives: the share of its members in each (layer, module kind);
3. where in the window it fires: its activation mass over positions, pooled to 8 bins;
4. scalars: log10 firing frequency, mean depth, attention share, token entropy.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

POSITION_BINS = 8
SCALARS = ("firing_frequency", "depth_mean", "attention_share", "token_entropy")


def shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)


def standardized_block(block: np.ndarray) -> np.ndarray:
    block = np.asarray(block, dtype=np.float64)
    spread = block.std(axis=0)
    centred = (block - block.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return centred / np.sqrt(max(block.shape[1], 1))


def makeup_shares(
    members: pd.DataFrame, subcomponents: pd.DataFrame, clusters: np.ndarray
) -> np.ndarray:
    """`[clusters, layer x module kind]` share of members."""
    info = subcomponents.iloc[members["subcomponent"].to_numpy()]
    place = pd.factorize(info["layer"].astype(str) + "/" + info["module_kind"])[0]
    rows = np.searchsorted(clusters, members["cluster"].to_numpy())
    width = int(place.max()) + 1 if len(place) else 1
    counts = np.bincount(rows * width + place, minlength=len(clusters) * width)
    return shares(counts.reshape(len(clusters), width))


def pooled_positions(position_mass: np.ndarray) -> np.ndarray:
    length = position_mass.shape[1]
    edges = np.linspace(0, length, POSITION_BINS + 1).astype(int)
    return shares(np.add.reduceat(position_mass, edges[:-1], axis=1))


def cluster_features(
    clusters: pd.DataFrame,
    members: pd.DataFrame,
    subcomponents: pd.DataFrame,
    arrays: dict[str, np.ndarray],
) -> np.ndarray:
    ids = clusters["cluster"].to_numpy()
    scalars = clusters[list(SCALARS)].to_numpy(dtype=np.float64).copy()
    scalars[:, 0] = np.log10(np.maximum(scalars[:, 0], 1e-9))
    blocks = [
        makeup_shares(members, subcomponents, ids),
        pooled_positions(arrays["position_mass"]),
        scalars,
    ]
    if "token_group_histogram" in arrays:
        blocks.insert(0, shares(arrays["token_group_histogram"]))
    return np.concatenate([standardized_block(block) for block in blocks], axis=1)


def embed(features: np.ndarray, dimensions: int, seed: int) -> np.ndarray:
    """UMAP coordinates `[n, dimensions]`; tiny inputs (too few for a neighbour graph) are laid
    out by their leading principal components instead."""
    n = len(features)
    if n <= dimensions + 2:
        centred = features - features.mean(axis=0)
        basis = np.linalg.svd(centred, full_matrices=False)[2][:dimensions] if n else None
        coordinates = centred @ basis.T if basis is not None else np.zeros((0, 0))
        return np.pad(coordinates, ((0, 0), (0, dimensions - coordinates.shape[1])))
    import umap  # numba compiles on first use: keep it off the import path of pages

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap warns that a seed disables parallelism
        reducer = umap.UMAP(
            n_components=dimensions,
            n_neighbors=min(15, n - 1),
            min_dist=0.1,
            random_state=seed,
            init="spectral" if n > 64 else "random",
        )
        return reducer.fit_transform(features).astype(np.float64)


def cluster_map(
    clusters: pd.DataFrame,
    members: pd.DataFrame,
    subcomponents: pd.DataFrame,
    arrays: dict[str, np.ndarray],
    seed: int = 0,
) -> pd.DataFrame:
    """cluster, x, y, z (3D map), x2, y2 (2D map)."""
    features = cluster_features(clusters, members, subcomponents, arrays)
    three, two = embed(features, 3, seed), embed(features, 2, seed)
    return pd.DataFrame(
        {
            "cluster": clusters["cluster"].to_numpy(np.int32),
            "x": three[:, 0],
            "y": three[:, 1],
            "z": three[:, 2],
            "x2": two[:, 0],
            "y2": two[:, 1],
        }
    )
