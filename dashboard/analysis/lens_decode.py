"""Read residual-stream directions as tokens or SAE features, with numpy only.

Every lens here is linear in the (unit-normalized) direction: a direction is first *prepared*
into the lens's input space (translated by the tuned lens of its residual point, or placed in
the slot of its point's SAE), then *scored* against the lens's items. A cluster's decoding is
the member-share-weighted sum of its members' prepared directions, scored the same way.

- logit lens: scores = direction · (final-norm gain ⊙ unembedding rows): promoted / suppressed
  tokens.
- embedding lens: cosine of the direction with every token embedding.
- tuned lens: the logit lens after the point's affine translator `h + A h` (the bias does not
  act on a direction); directions at the last point use the plain logit lens.
- SAE: cosine of the direction with every decoder row of the SAE trained at its point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

LENSES = ("logit", "embedding", "tuned", "sae")
SIDES = ("read", "write")
BATCH_ROWS = 512


@dataclass(frozen=True)
class LensMatrices:
    logit: np.ndarray  # [d_model, vocab]: final-norm gain folded into the unembedding
    embedding: np.ndarray  # [vocab, d_model] token embeddings
    tuned_weights: np.ndarray  # [n_points_tuned, d_model, d_model]: translator h -> h + A h
    sae_points: np.ndarray  # [P] residual points that have an SAE
    sae_decoder: np.ndarray  # [P, features, d_model], unit rows

    @property
    def d_model(self) -> int:
        return self.logit.shape[0]

    def n_items(self, lens: str) -> int:
        if lens == "sae":
            return int(np.prod(self.sae_decoder.shape[:2]))
        return self.logit.shape[1]


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; NaN or zero rows become zero."""
    vectors = np.nan_to_num(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def prepare(lens: str, matrices: LensMatrices, directions: np.ndarray, points: np.ndarray):
    """Directions `[n, d]` at residual `points [n]` -> the lens's input vectors."""
    unit = unit_rows(directions)
    if lens in ("logit", "embedding"):
        return unit
    if lens == "tuned":
        out = unit.copy()
        translated = points < len(matrices.tuned_weights)
        for point in np.unique(points[translated]):
            rows = points == point
            out[rows] += unit[rows] @ np.asarray(matrices.tuned_weights[point], np.float32).T
        return out
    if lens == "sae":
        slots = np.zeros((len(unit), len(matrices.sae_points), matrices.d_model), np.float32)
        for slot, point in enumerate(matrices.sae_points):
            slots[points == point, slot] = unit[points == point]
        return slots.reshape(len(unit), -1)
    raise ValueError(f"unknown lens {lens!r}; expected one of {', '.join(LENSES)}")


def score(lens: str, matrices: LensMatrices, prepared: np.ndarray) -> np.ndarray:
    """Prepared vectors `[n, d']` -> scores `[n, items]`."""
    if lens in ("logit", "tuned"):
        return prepared @ np.asarray(matrices.logit, np.float32)
    if lens == "embedding":
        return prepared @ unit_rows(matrices.embedding).T
    decoder = np.asarray(matrices.sae_decoder, np.float32)
    slots = prepared.reshape(len(prepared), len(decoder), -1)
    return np.concatenate([slots[:, s] @ decoder[s].T for s in range(len(decoder))], axis=1)


Scorer = Callable[[str, LensMatrices, np.ndarray], np.ndarray]


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
    lens: str, matrices: LensMatrices, prepared: np.ndarray, top: int, scorer: Scorer = score
) -> pd.DataFrame:
    """Top and bottom items of every prepared row, in batches so scores never get large."""
    frames = []
    for start in range(0, len(prepared), BATCH_ROWS):
        frame = extremes(scorer(lens, matrices, prepared[start : start + BATCH_ROWS]), top)
        frame["row"] += start
        frames.append(frame)
    if not frames:
        return extremes(np.zeros((0, matrices.n_items(lens)), np.float32), top)
    return pd.concat(frames, ignore_index=True)


def decode_members(
    matrices: LensMatrices,
    directions: dict[str, np.ndarray],
    points: dict[str, np.ndarray],
    subcomponents: np.ndarray,
    top: int,
    scorer: Scorer = score,
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
    scorer: Scorer = score,
) -> pd.DataFrame:
    """Member-share-weighted decodings of every cluster in `members` (subcomponent, cluster,
    share): cluster, side, lens, end, rank, item, score."""
    clusters, rows = np.unique(members["cluster"].to_numpy(), return_inverse=True)
    subcomponents = members["subcomponent"].to_numpy()
    weights = sparse.csr_matrix(
        (members["share"].to_numpy(np.float32), (rows, np.arange(len(members)))),
        shape=(len(clusters), len(members)),
    )
    frames = []
    for side in SIDES:
        for lens in LENSES:
            prepared = prepare(
                lens, matrices, directions[side][subcomponents], points[side][subcomponents]
            )
            aggregated = np.asarray(weights @ prepared)
            has_direction = np.flatnonzero(aggregated.any(axis=1))  # else every member lacks one
            frame = decode_rows(lens, matrices, aggregated[has_direction], top, scorer)
            rows = has_direction[frame.pop("row").to_numpy()]
            frame.insert(0, "cluster", clusters[rows].astype(np.int32))
            frame.insert(1, "side", side)
            frame.insert(2, "lens", lens)
            frames.append(frame)
    return pd.concat(frames, ignore_index=True)
