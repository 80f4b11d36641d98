"""Causal masks as the pages build them (numpy, no torch): from clusters, hand edits, prompt
importances; and the three ways masked inference applies one."""

from __future__ import annotations

import numpy as np

from dashboard.stores.content import CausalMask

MODES = {
    "as_is": "apply the mask as it is",
    "ablate": "switch off the chosen clusters, everything else on",
    "keep": "keep only the chosen clusters, everything else off",
}


class MaskInputError(ValueError):
    """Hand-written mask entries that cannot be read."""


def parse_overrides(text: str, labels: set[str]) -> dict[str, float]:
    """`<module>:<c>=<value>` lines (value in [0, 1]; `=` and a value may be left out for 1)."""
    values: dict[str, float] = {}
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        label, _, value = line.partition("=")
        label = label.strip()
        if label not in labels:
            raise MaskInputError(f"line {number}: no subcomponent {label!r} in this study")
        try:
            values[label] = float(value) if value.strip() else 1.0
        except ValueError:
            raise MaskInputError(f"line {number}: {value.strip()!r} is not a number") from None
        if not 0 <= values[label] <= 1:
            raise MaskInputError(f"line {number}: {values[label]} is outside [0, 1]")
    return values


def mask_values(
    labels: list[str],
    assignments: np.ndarray,
    clusters_on: list[int],
    overrides: dict[str, float],
    start: np.ndarray | None = None,
) -> np.ndarray:
    """`[n_subcomponents]`: `start` (zeros when None), members of `clusters_on` set to 1, then
    the hand-set values."""
    values = np.zeros(len(labels)) if start is None else np.asarray(start, dtype=np.float64).copy()
    values[np.isin(assignments, clusters_on)] = 1.0
    position = {label: i for i, label in enumerate(labels)}
    for label, value in overrides.items():
        values[position[label]] = value
    return values


def thresholded(importance: list[float], threshold: float) -> np.ndarray:
    return (np.asarray(importance) > threshold).astype(np.float64)


def cluster_level(values: np.ndarray, assignments: np.ndarray) -> np.ndarray:
    """Switch on every member of a cluster in which any member is on."""
    on = np.unique(assignments[(values > 0) & (assignments >= 0)])
    return np.where(np.isin(assignments, on), 1.0, values)


def as_mask(decomposition: str, labels: list[str], values: np.ndarray) -> CausalMask:
    return CausalMask(
        decomposition, {label: float(v) for label, v in zip(labels, values, strict=True) if v}
    )


def dense_values(mask: CausalMask, labels: list[str]) -> np.ndarray:
    position = {label: i for i, label in enumerate(labels)}
    unknown = sorted(set(mask.values) - set(position))
    if unknown:
        raise MaskInputError(f"the mask names subcomponents this study lacks: {unknown[:3]}")
    values = np.zeros(len(labels))
    for label, value in mask.values.items():
        values[position[label]] = value
    return values


def applied(mode: str, values: np.ndarray, assignments: np.ndarray, chosen: list[int]):
    """The values masked inference runs with, for a mode of MODES."""
    if mode == "as_is":
        return values
    members = np.isin(assignments, chosen)
    if mode == "ablate":
        return np.where(members, 0.0, 1.0)
    if mode == "keep":
        return np.where(members, 1.0, 0.0)
    raise MaskInputError(f"mode {mode!r}: expected one of {', '.join(MODES)}")


def clusters_switched_off(values: np.ndarray, assignments: np.ndarray) -> list[int]:
    """Clusters all of whose members the mask turns off."""
    alive = assignments >= 0
    on = set(np.unique(assignments[alive & (values > 0)]).tolist())
    return sorted(set(np.unique(assignments[alive]).tolist()) - on)
