"""The plane view: harvested residual activations projected onto the plane of two directions,
with a cluster's own linear map drawn on that plane as a vector field."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


class DegeneratePlaneError(ValueError):
    """The two directions do not span a plane."""


@dataclass(frozen=True)
class PlaneView:
    basis: np.ndarray  # [2, d_model] orthonormal: the first direction, then the second's rest
    coordinates: np.ndarray  # [n, 2] the sampled activations on the plane
    grid: np.ndarray  # [g * g, 2] points of the vector field
    field: np.ndarray  # [g * g, 2] the map's output at each grid point, projected on the plane


def plane_basis(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Gram-Schmidt on two directions."""
    first = np.asarray(first, dtype=np.float64)
    second = np.asarray(second, dtype=np.float64)
    norm = np.linalg.norm(first)
    if not np.isfinite(norm) or norm == 0:
        raise DegeneratePlaneError("the first direction is zero or undefined")
    e1 = first / norm
    rest = second - (second @ e1) * e1
    rest_norm = np.linalg.norm(rest)
    if not np.isfinite(rest_norm) or rest_norm < 1e-6 * max(np.linalg.norm(second), 1e-30):
        raise DegeneratePlaneError("the two directions are parallel: they span no plane")
    return np.stack([e1, rest / rest_norm])


def plane_view(
    residuals: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    reads: np.ndarray,
    writes: np.ndarray,
    weights: np.ndarray,
    grid_size: int = 12,
) -> PlaneView:
    """Project `residuals [n, d]`; the field is the map `x -> Σ_m w_m write_m (read_m · x)`
    of the members with both directions (rows with NaN are left out)."""
    basis = plane_basis(first, second)
    coordinates = np.asarray(residuals, dtype=np.float64) @ basis.T
    usable = ~(np.isnan(reads).any(axis=1) | np.isnan(writes).any(axis=1))
    reads, writes = reads[usable].astype(np.float64), writes[usable].astype(np.float64)
    weights = np.asarray(weights, dtype=np.float64)[usable]
    if len(coordinates):
        low, high = np.percentile(coordinates, [1, 99], axis=0)
    else:
        low, high = np.full(2, -1.0), np.full(2, 1.0)
    axes = [np.linspace(low[i], high[i], grid_size) for i in range(2)]
    grid = np.stack(np.meshgrid(*axes, indexing="xy"), axis=-1).reshape(-1, 2)
    points = grid @ basis  # [g*g, d]
    field = ((points @ reads.T) * weights) @ writes @ basis.T
    return PlaneView(basis, coordinates, grid, field)
