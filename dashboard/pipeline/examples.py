"""Example tokens per subcomponent: the top activations and a spread across quantile bands."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.pipeline.sparse_store import ColumnStore


def subcomponent_examples(
    store: ColumnStore, top_k: int, bands: int, per_band: int
) -> pd.DataFrame:
    """One row per example: the flat token position and its CI.

    `top`: the `top_k` highest CIs (ties by position). `quantile`: the subcomponent's stored
    entries sorted by CI and cut into `bands` bands of equal count, `per_band` evenly spaced
    entries from each, so weak and strong activations are both seen.
    """
    columns: dict[str, list[np.ndarray]] = {
        k: [] for k in ("subcomponent", "kind", "band", "rank", "position", "ci")
    }

    def add(
        subcomponent: int, kind: str, band: int, positions: np.ndarray, values: np.ndarray
    ) -> None:
        columns["subcomponent"].append(np.full(len(positions), subcomponent, dtype=np.int32))
        columns["kind"].append(np.full(len(positions), kind, dtype=object))
        columns["band"].append(np.full(len(positions), band, dtype=np.int16))
        columns["rank"].append(np.arange(len(positions), dtype=np.int16))
        columns["position"].append(positions.astype(np.int32))
        columns["ci"].append(values.astype(np.float32))

    for subcomponent in range(len(store.indptr) - 1):
        positions, values = store.column(subcomponent)
        if len(values) == 0:
            continue
        by_strength = np.argsort(-values.astype(np.float32), kind="stable")
        top = by_strength[:top_k]
        add(subcomponent, "top", -1, positions[top], values[top])
        ascending = by_strength[::-1]
        for band, members in enumerate(np.array_split(ascending, bands)):
            if len(members) == 0:
                continue
            picks = members[
                np.unique(np.linspace(0, len(members) - 1, per_band).round().astype(int))
            ]
            add(subcomponent, "quantile", band, positions[picks], values[picks])
    if not columns["subcomponent"]:
        return pd.DataFrame(
            {name: pd.Series(dtype=dtype) for name, dtype in EXAMPLE_DTYPES.items()}
        )
    return pd.DataFrame({name: np.concatenate(parts) for name, parts in columns.items()}).astype(
        EXAMPLE_DTYPES
    )


EXAMPLE_DTYPES = {
    "subcomponent": "int32",
    "kind": "string",
    "band": "int16",
    "rank": "int16",
    "position": "int32",
    "ci": "float32",
}
