"""Example windows of one cluster: the top activations and picks from every activation band."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dashboard.study.clusters import cluster_activations


@dataclass(frozen=True)
class Example:
    kind: str  # "top" or "quantile"
    band: int  # quantile band (0 = weakest), -1 for top examples
    window: int
    offset: int  # the example token's offset in its window
    activation: float


@dataclass(frozen=True)
class ClusterActivation:
    positions: np.ndarray  # flat positions where the cluster fires, ascending
    values: np.ndarray  # its activation there

    def in_window(self, window: int, length: int) -> np.ndarray:
        """`[length]` activation of every token of a window (0 where it does not fire)."""
        start, stop = np.searchsorted(self.positions, [window * length, (window + 1) * length])
        row = np.zeros(length, dtype=np.float32)
        row[self.positions[start:stop] - window * length] = self.values[start:stop]
        return row


def activation_of(
    indptr: np.ndarray, token_index: np.ndarray, ci: np.ndarray, members: np.ndarray
) -> ClusterActivation:
    return ClusterActivation(*cluster_activations(indptr, token_index, ci, members))


def cluster_examples(
    activation: ClusterActivation, length: int, top: int = 10, bands: int = 10, per_band: int = 3
) -> list[Example]:
    """The `top` strongest tokens (one per window), then `per_band` evenly spaced picks from
    each of `bands` equal-count bands of the activations."""
    positions, values = activation.positions, activation.values
    examples: list[Example] = []
    seen_windows: set[int] = set()
    for index in np.argsort(-values, kind="stable"):
        window = int(positions[index] // length)
        if window in seen_windows:
            continue
        seen_windows.add(window)
        examples.append(
            Example("top", -1, window, int(positions[index] % length), float(values[index]))
        )
        if len(examples) == top:
            break
    order = np.argsort(values, kind="stable")
    for band, chunk in enumerate(np.array_split(order, bands)):
        if len(chunk) == 0:
            continue
        picks = chunk[np.linspace(0, len(chunk) - 1, min(per_band, len(chunk))).astype(int)]
        for index in picks:
            examples.append(
                Example(
                    "quantile",
                    band,
                    int(positions[index] // length),
                    int(positions[index] % length),
                    float(values[index]),
                )
            )
    return examples
