"""What the clusters' 3D map (`atlas_components.ClusterMap`) draws: a point per cluster.

Sized for 100,000 points: numbers travel as base64 of little-endian typed arrays of the smallest
unsigned type that holds them, coordinates as 16 bits (UMAP units carry no meaning, the map shows
no axes), the colour measure as 256 levels with a colour bar labelled in real values; each
cluster's first top token (shortened, for its hover label) as an index into the distinct ones.
"""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

HOVER_TOKEN_CHARS = 12
COLOUR_LEVELS = 255  # as COLOUR_LEVELS in assets/atlas_components_map.js
COLOUR_TICKS = 5
COORDINATE_LEVELS = 65535


def first_token(top_tokens: str) -> str:
    """The first of a cluster's top tokens (as the table writes them), shortened."""
    return top_tokens.split("' '")[0].strip("'")[:HOVER_TOKEN_CHARS] if top_tokens else ""


def typed(values: np.ndarray) -> dict[str, str]:
    """Non-negative integers as `{"dtype": "uint8" | "uint16" | "uint32", "bdata": base64 of
    the little-endian array}`, in the smallest of those types that holds them."""
    values = np.asarray(values)
    top = int(values.max(initial=0))
    dtype = next(t for t in ("uint8", "uint16", "uint32") if top <= np.iinfo(t).max)
    data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
    return {"dtype": dtype, "bdata": base64.b64encode(data).decode("ascii")}


def quantized(values: np.ndarray, levels: int) -> tuple[np.ndarray, float, float]:
    """`values` as integers 0..levels over their finite range (NaN, not measured: the lowest),
    with the range's low end and span."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[np.isfinite(values)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    values = np.where(np.isfinite(values), values, low)
    span = high - low or 1.0
    return np.round((values - low) / span * levels).astype(np.int64), low, span


def map_points(coordinates: pd.DataFrame, table: pd.DataFrame, color: str) -> dict:
    """`coordinates` (cluster, x, y, z) and `table` (cluster, size, top_tokens, measures) in the
    same cluster order, as the map's `points`."""
    measure = table[color] if color in table else np.zeros(len(table))
    tokens = pd.Series([first_token(tokens) for tokens in table["top_tokens"]], dtype=object)
    token_index, token_names = pd.factorize(tokens)
    return {
        **{axis: typed(quantized(coordinates[axis], COORDINATE_LEVELS)[0]) for axis in "xyz"},
        "level": typed(quantized(measure, COLOUR_LEVELS)[0]),
        "cluster": typed(table["cluster"].to_numpy()),
        "size": typed(table["size"].to_numpy()),
        "token": typed(token_index),
        "tokens": [str(name) for name in token_names],
    }


def map_colorbar(table: pd.DataFrame, color: str, label: str) -> dict:
    """The map's colour bar: its title and COLOUR_TICKS levels labelled in real values."""
    measure = table[color] if color in table else np.zeros(len(table))
    _, low, span = quantized(measure, COLOUR_LEVELS)
    levels = np.linspace(0, COLOUR_LEVELS, COLOUR_TICKS)
    return {
        "title": label,
        "ticks": [
            {"level": float(level), "label": f"{low + level / COLOUR_LEVELS * span:.3g}"}
            for level in levels
        ],
    }
