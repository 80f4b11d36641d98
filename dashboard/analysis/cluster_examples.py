"""Example windows of one cluster: the top activations and picks from every activation band."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dashboard.analysis.activity import ClusterActivation

EXAMPLE_COLUMNS = {
    "cluster": "int32",
    "kind": "string",
    "band": "int16",
    "window": "int64",
    "offset": "int32",
    "activation": "float32",
}


@dataclass(frozen=True)
class Example:
    kind: str  # "top" or "quantile"
    band: int  # quantile band (0 = weakest), -1 for top examples
    window: int
    offset: int  # the example token's offset in its window
    activation: float


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


def example_table(
    clusters: np.ndarray, rows: np.ndarray, positions: np.ndarray, values: np.ndarray, length: int
) -> pd.DataFrame:
    """The examples of every cluster (`cluster_examples`), from all clusters' activations as one
    sparse list (`rows` ascending into `clusters`, positions ascending within a row)."""
    bounds = np.searchsorted(rows, np.arange(len(clusters) + 1))
    records = [
        (
            int(cluster),
            example.kind,
            example.band,
            example.window,
            example.offset,
            example.activation,
        )
        for row, cluster in enumerate(clusters)
        for example in cluster_examples(
            ClusterActivation(
                positions[bounds[row] : bounds[row + 1]], values[bounds[row] : bounds[row + 1]]
            ),
            length,
        )
    ]
    return pd.DataFrame(records, columns=list(EXAMPLE_COLUMNS)).astype(EXAMPLE_COLUMNS)


def stored_examples(table: pd.DataFrame, cluster: int) -> list[Example]:
    """One cluster's examples from an `example_table`, in their order."""
    rows = table[table["cluster"] == cluster]
    return [
        Example(str(kind), int(band), int(window), int(offset), float(activation))
        for kind, band, window, offset, activation in zip(
            rows["kind"],
            rows["band"],
            rows["window"],
            rows["offset"],
            rows["activation"],
            strict=True,
        )
    ]
