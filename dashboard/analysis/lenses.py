"""The lens registry: every way the atlas reads a residual-stream direction as items (tokens,
SAE features), one class per lens, registered in `LENSES`.

Contract of a lens (a `Lens` subclass; one instance of it in `LENSES`):

- `name`: its key, stored in the `lens` column of `lenses/*_decodings.parquet` (so never
  renamed); `title`: its tab on the cluster page. The order of `LENSES` is the order of the
  tabs and of the stored decodings.
- `files`: what it stores under `lenses/`: `LensArray`s (`decodes=True`: read by `prepare` and
  `score`, and loaded into `LensMatrices`; `False`: kept for other views) and `LensTable`s.
  The study schema, `study_analyses.lens_matrices` and the build's `write_lenses` derive from
  these declarations; lenses may share a file if they declare it alike. The build
  (`pipeline/analyse.py` `lens_arrays`) computes every array declared.
- `translate(matrices, unit, points)`: unit directions `[n, d]` at residual points `[n]` -> the
  lens's input vectors `[n, d']` (default: unchanged). It must be linear in the direction: a
  cluster's decoding is the member-share-weighted sum of its members' prepared directions.
- `operands(matrices)`: the float32 numpy arrays that `score_with` multiplies by.
- `score_with(prepared, operands)`: prepared vectors `[n, d']` -> scores `[n, items]`, written
  only with what numpy arrays and torch tensors share (`@`, `.T`, `.reshape`, `.swapaxes`,
  `len`): the one formula that the app runs in numpy (`score`) and the build on a torch device
  (`pipeline/lens_scoring.py`, with the operands moved there once).
- `n_items(matrices)` and `item_labels(study, tokens, items)`: how many items it scores and how
  the cluster page names them.

This module imports nothing of the dashboard at run time: `dashboard/study/schema.py` reads the
files declared here. A new lens is one class here (its instance added to `LENSES`), its test in
`tests/analysis/test_lenses.py` and a line in `docs/analyses.md` (and, if it reads arrays that no
lens stores yet, their computation in the build).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from dashboard.study.reader import Study

LensMatrices = Mapping[str, np.ndarray]  # `LensArray` name -> the array (memory-mapped on read)
Array = TypeVar("Array")  # a numpy array or a torch tensor


@dataclass(frozen=True)
class LensArray:
    """A `.npy` array a lens stores as `lenses/<name>.npy` (optional in the study format)."""

    name: str
    dtype: str
    ndim: int
    description: str
    decodes: bool = True  # read by `prepare` / `score`; False: stored for other views

    @property
    def path(self) -> str:
        return f"lenses/{self.name}.npy"


@dataclass(frozen=True)
class LensTable:
    """A Parquet table a lens stores as `lenses/<name>.parquet`: columns and Arrow types."""

    name: str
    columns: Mapping[str, str]
    description: str

    @property
    def path(self) -> str:
        return f"lenses/{self.name}.parquet"


LensFile = LensArray | LensTable


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; NaN or zero rows become zero."""
    vectors = np.nan_to_num(np.asarray(vectors, dtype=np.float32))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


class Lens(ABC):
    """Reads directions as scores over items; subclasses fill in the contract above."""

    name: str
    title: str
    files: tuple[LensFile, ...]

    @property
    def arrays(self) -> tuple[str, ...]:
        """Names of the arrays `prepare` and `score` read."""
        return tuple(f.name for f in self.files if isinstance(f, LensArray) and f.decodes)

    def reads_from(self, matrices: LensMatrices) -> bool:
        """Whether `matrices` hold every array this lens decodes with."""
        return all(name in matrices for name in self.arrays)

    def prepare(
        self, matrices: LensMatrices, directions: np.ndarray, points: np.ndarray
    ) -> np.ndarray:
        """Directions `[n, d]` at residual `points [n]` -> the lens's input vectors."""
        return self.translate(matrices, unit_rows(directions), points)

    def translate(self, matrices: LensMatrices, unit: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Unit directions -> the lens's input vectors (linear); here unchanged."""
        return unit

    @abstractmethod
    def operands(self, matrices: LensMatrices) -> tuple[np.ndarray, ...]: ...

    @abstractmethod
    def score_with(self, prepared: Array, operands: tuple[Array, ...]) -> Array: ...

    def score(self, matrices: LensMatrices, prepared: np.ndarray) -> np.ndarray:
        """Prepared vectors `[n, d']` -> scores `[n, items]`, in numpy."""
        return self.score_with(prepared, self.operands(matrices))

    @abstractmethod
    def n_items(self, matrices: LensMatrices) -> int: ...

    @abstractmethod
    def item_labels(self, study: Study, tokens: Sequence[str], items: Iterable[int]) -> list[str]:
        """Names of `items` on the cluster page; `tokens` is the study's vocabulary."""


LOGIT = LensArray("logit", "float16", 2, "[d_model, vocab] unembedding with final-norm gain")


class TokenLens(Lens):
    """A lens whose items are the vocabulary's tokens."""

    def item_labels(self, study: Study, tokens: Sequence[str], items: Iterable[int]) -> list[str]:
        return [repr(tokens[i]) for i in items]


class LogitLens(TokenLens):
    """`direction · (final-norm gain ⊙ unembedding row)` for every token: promoted and
    suppressed tokens."""

    name = "logit"
    title = "Logit lens"
    files = (LOGIT,)

    def operands(self, matrices: LensMatrices) -> tuple[np.ndarray, ...]:
        return (np.asarray(matrices[LOGIT.name], np.float32),)

    def score_with(self, prepared: Array, operands: tuple[Array, ...]) -> Array:
        (logit,) = operands
        return prepared @ logit

    def n_items(self, matrices: LensMatrices) -> int:
        return matrices[LOGIT.name].shape[1]


class EmbeddingLens(TokenLens):
    """Cosine of the direction with every token embedding."""

    name = "embedding"
    title = "Embedding lens"
    files = (LensArray("embedding", "float16", 2, "[vocab, d_model] token embeddings"),)

    def operands(self, matrices: LensMatrices) -> tuple[np.ndarray, ...]:
        return (unit_rows(matrices["embedding"]),)

    def score_with(self, prepared: Array, operands: tuple[Array, ...]) -> Array:
        (embedding,) = operands
        return prepared @ embedding.T

    def n_items(self, matrices: LensMatrices) -> int:
        return matrices["embedding"].shape[0]


class TunedLens(LogitLens):
    """The logit lens after the point's affine translator `h + A h` (the bias does not act on a
    direction); directions at the last point, which has no translator, use the plain logit lens."""

    name = "tuned"
    title = "Tuned lens"
    files = (
        LOGIT,
        LensArray("tuned_weights", "float32", 3, "[points, d, d] tuned-lens translators A"),
        LensArray("tuned_bias", "float32", 2, "[points, d] tuned-lens translator biases", False),
    )

    def translate(self, matrices: LensMatrices, unit: np.ndarray, points: np.ndarray) -> np.ndarray:
        weights = matrices["tuned_weights"]
        out = unit.copy()
        translated = points < len(weights)
        for point in np.unique(points[translated]):
            rows = points == point
            out[rows] += unit[rows] @ np.asarray(weights[point], np.float32).T
        return out


class SaeLens(Lens):
    """Cosine of the direction with every decoder row of the SAE trained at its point: a
    direction sits in its point's slot of `[points, d]`, zero elsewhere; item `slot * F + f` is
    feature `f` of the SAE at `sae_points[slot]`."""

    name = "sae"
    title = "SAE features"
    points = LensArray("sae_points", "int32", 1, "[P] residual points with a TopK SAE")
    features = LensTable(
        "sae_features",
        {"point": "int32", "feature": "int32", "label": "string", "frequency": "double"},
        "every SAE feature labelled by its top-activating tokens",
    )
    files = (
        points,
        LensArray("sae_encoder", "float32", 3, "[P, d, features]", False),
        LensArray("sae_encoder_bias", "float32", 2, "[P, features]", False),
        LensArray("sae_decoder", "float32", 3, "[P, features, d] unit rows"),
        LensArray("sae_decoder_bias", "float32", 2, "[P, d]", False),
        features,
    )

    def translate(self, matrices: LensMatrices, unit: np.ndarray, points: np.ndarray) -> np.ndarray:
        sae_points = np.asarray(matrices[self.points.name])
        slots = np.zeros((len(unit), len(sae_points), unit.shape[1]), np.float32)
        for slot, point in enumerate(sae_points):
            slots[points == point, slot] = unit[points == point]
        return slots.reshape(len(unit), -1)

    def operands(self, matrices: LensMatrices) -> tuple[np.ndarray, ...]:
        return (np.asarray(matrices["sae_decoder"], np.float32),)

    def score_with(self, prepared: Array, operands: tuple[Array, ...]) -> Array:
        (decoder,) = operands  # [P, features, d]
        slots = prepared.reshape(len(prepared), len(decoder), -1).swapaxes(0, 1)  # [P, n, d]
        return (slots @ decoder.swapaxes(1, 2)).swapaxes(0, 1).reshape(len(prepared), -1)

    def n_items(self, matrices: LensMatrices) -> int:
        return int(np.prod(matrices["sae_decoder"].shape[:2]))

    def item_labels(self, study: Study, tokens: Sequence[str], items: Iterable[int]) -> list[str]:
        """`p<point> f<feature>: <its top-activating tokens>` (cut to 40 characters)."""
        features = study.table(self.features.path)
        n_features = int((features["point"] == features["point"].iloc[0]).sum())
        points = np.asarray(study.array(self.points.path))
        labelled = features.set_index(["point", "feature"])["label"]
        return [
            f"p{points[i // n_features]} f{i % n_features}: "
            f"{labelled.get((points[i // n_features], i % n_features), '')[:40]}"
            for i in items
        ]


LENSES: dict[str, Lens] = {
    lens.name: lens for lens in (LogitLens(), EmbeddingLens(), TunedLens(), SaeLens())
}


def lens_files() -> tuple[LensFile, ...]:
    """Every file the registered lenses store, each once, in registry order."""
    files: dict[str, LensFile] = {}
    for lens in LENSES.values():
        for declared in lens.files:
            if files.setdefault(declared.path, declared) != declared:
                raise ValueError(f"{declared.path} is declared differently by two lenses")
    return tuple(files.values())


def decoding_arrays() -> tuple[LensArray, ...]:
    """Every array some lens decodes with, each once."""
    return tuple(f for f in lens_files() if isinstance(f, LensArray) and f.decodes)
