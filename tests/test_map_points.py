"""The 3D map's points as they travel: typed arrays in the smallest type, read back exactly."""

from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from dashboard.components.map_points import COLOUR_LEVELS, map_colorbar, map_points, typed


def read_typed(given: dict[str, str]) -> np.ndarray:
    """What assets/atlas_components_map.js `typedArray` reads."""
    dtype = np.dtype(given["dtype"]).newbyteorder("<")
    return np.frombuffer(base64.b64decode(given["bdata"]), dtype=dtype)


def test_typed_arrays_take_the_smallest_type_and_read_back() -> None:
    for values, dtype in (([0, 255], "uint8"), ([3, 256], "uint16"), ([70_000, 1], "uint32")):
        sent = typed(np.array(values))
        assert sent["dtype"] == dtype
        assert read_typed(sent).tolist() == values


def test_points_carry_each_cluster_its_size_token_and_colour_level() -> None:
    coordinates = pd.DataFrame(
        {"cluster": [7, 3, 90_000], "x": [0.0, 1.0, 2.0], "y": [5.0, 5.0, 6.0], "z": [1, 2, 3]}
    )
    table = pd.DataFrame(
        {
            "cluster": [7, 3, 90_000],
            "size": [2, 300, 5],
            "top_tokens": ["' the' ' a'", "' of'", "' the'"],
            "stability": [0.2, np.nan, 1.0],
        }
    )
    points = map_points(coordinates, table, "stability")
    assert read_typed(points["cluster"]).tolist() == [7, 3, 90_000]
    assert read_typed(points["size"]).tolist() == [2, 300, 5]
    assert [points["tokens"][i] for i in read_typed(points["token"])] == [" the", " of", " the"]
    assert read_typed(points["x"]).tolist() == [0, 32768, 65535]
    # NaN (not measured) is drawn at the scale's low end
    assert read_typed(points["level"]).tolist() == [0, 0, COLOUR_LEVELS]
    colorbar = map_colorbar(table, "stability", "stability")
    assert colorbar["ticks"][0]["label"] == "0.2" and colorbar["ticks"][-1]["label"] == "1"
