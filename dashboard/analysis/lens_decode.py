"""Decode residual-stream directions with every lens of the registry (`analysis/lenses.py`),
with numpy only: top and bottom items of each direction, and of each cluster as the
member-share-weighted sum of its members' prepared directions."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse

from dashboard.analysis.lenses import LENSES, Lens, LensMatrices

SIDES = ("read", "write")
BATCH_ROWS = 512

# (lens, matrices, prepared) -> scores: `Lens.score` in numpy, or `pipeline/lens_scoring.py`
Scorer = Callable[[Lens, LensMatrices, np.ndarray], np.ndarray]


def extremes(scores: np.ndarray, top: int) -> pd.DataFrame:
    """The `top` highest and lowest items of every row: row, end (`top`/`bottom`), rank, ..."""
    n_rows, n_items = scores.shape
    top = min(top, n_items)
    frames = []
    for end, signed in (("top", scores), ("bottom", -scores)):
        if n_rows == 0 or top == 0:
            items = np.zeros((n_rows, 0), dtype=np.int64)
        else:
            items = np.argpartition(-signed, top - 1, axis=1)[:, :top]
            order = np.argsort(-np.take_along_axis(signed, items, axis=1), axis=1, kind="stable")
            items = np.take_along_axis(items, order, axis=1)
        frames.append(
            pd.DataFrame(
                {
                    "row": np.repeat(np.arange(n_rows), items.shape[1]),
                    "end": end,
                    "rank": np.tile(np.arange(items.shape[1], dtype=np.int16), n_rows),
                    "item": items.ravel().astype(np.int32),
                    "score": np.take_along_axis(scores, items, axis=1).ravel().astype(np.float32),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def decode_rows(
    lens: Lens,
    matrices: LensMatrices,
    prepared: np.ndarray,
    top: int,
    scorer: Scorer = Lens.score,
) -> pd.DataFrame:
    """Top and bottom items of every prepared row, in batches so scores never get large."""
    frames = []
    for start in range(0, len(prepared), BATCH_ROWS):
        frame = extremes(scorer(lens, matrices, prepared[start : start + BATCH_ROWS]), top)
        frame["row"] += start
        frames.append(frame)
    if not frames:
        return extremes(np.zeros((0, lens.n_items(matrices)), np.float32), top)
    return pd.concat(frames, ignore_index=True)


def decode_members(
    matrices: LensMatrices,
    directions: dict[str, np.ndarray],
    points: dict[str, np.ndarray],
    subcomponents: np.ndarray,
    top: int,
    scorer: Scorer = Lens.score,
) -> pd.DataFrame:
    """Every lens on every side of the given subcomponents (skipping what a lens cannot read):
    subcomponent, side, lens, end, rank, item, score. Each is decoded as a cluster of one."""
    ids = np.asarray(subcomponents)
    alone = pd.DataFrame({"subcomponent": ids, "cluster": ids, "share": np.ones(len(ids))})
    table = decode_clusters(matrices, directions, points, alone, top, scorer)
    return table.rename(columns={"cluster": "subcomponent"})


def decode_clusters(
    matrices: LensMatrices,
    directions: dict[str, np.ndarray],
    points: dict[str, np.ndarray],
    members: pd.DataFrame,
    top: int,
    scorer: Scorer = Lens.score,
) -> pd.DataFrame:
    """Member-share-weighted decodings of every cluster in `members` (subcomponent, cluster,
    share) by every lens whose arrays `matrices` hold: cluster, side, lens, end, rank, item,
    score."""
    clusters, rows = np.unique(members["cluster"].to_numpy(), return_inverse=True)
    subcomponents = members["subcomponent"].to_numpy()
    weights = sparse.csr_matrix(
        (members["share"].to_numpy(np.float32), (rows, np.arange(len(members)))),
        shape=(len(clusters), len(members)),
    )
    readable = [lens for lens in LENSES.values() if lens.reads_from(matrices)]
    frames = []
    for side in SIDES:
        for lens in readable:
            prepared = lens.prepare(
                matrices, directions[side][subcomponents], points[side][subcomponents]
            )
            aggregated = np.asarray(weights @ prepared)
            has_direction = np.flatnonzero(aggregated.any(axis=1))  # else every member lacks one
            frame = decode_rows(lens, matrices, aggregated[has_direction], top, scorer)
            rows = has_direction[frame.pop("row").to_numpy()]
            frame.insert(0, "cluster", clusters[rows].astype(np.int32))
            frame.insert(1, "side", side)
            frame.insert(2, "lens", lens.name)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
