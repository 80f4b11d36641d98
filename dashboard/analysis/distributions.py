"""Histograms of every numeric per-cluster measure, for the list page."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

NOT_MEASURES = ("cluster",)


@dataclass(frozen=True)
class Distribution:
    measure: str
    counts: np.ndarray  # [bins]
    edges: np.ndarray  # [bins + 1]


def measure_distributions(clusters: pd.DataFrame, bins: int = 30) -> list[Distribution]:
    """One histogram per numeric column (finite values only); constant columns get one bin."""
    distributions = []
    for name in clusters.columns:
        if name in NOT_MEASURES or not pd.api.types.is_numeric_dtype(clusters[name]):
            continue
        values = clusters[name].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            continue
        low, high = values.min(), values.max()
        n_bins = bins if high > low else 1
        counts, edges = np.histogram(
            values, bins=n_bins, range=(low, high if high > low else low + 1)
        )
        distributions.append(Distribution(name, counts, edges))
    return distributions
