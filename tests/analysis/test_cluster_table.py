"""The list page's table and its filter language."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard.analysis.cluster_table import (
    FilterError,
    cluster_table,
    query_table,
    sparkline,
)
from dashboard.analysis.measures import analyse_clusters
from tests.analysis.test_measures import ASSIGNMENTS, hand_case_inputs

TABLE = pd.DataFrame(
    {
        "cluster": [0, 1, 2, 3],
        "size": [1, 5, 3, 10],
        "depth_mean": [0.0, 1.5, 2.5, 3.0],
        "modules": [
            "layers.0.mlp.up_proj",
            "layers.0.self_attn.q_proj,layers.1.mlp.down_proj",
            "layers.1.self_attn.k_proj",
            "",
        ],
        "top_tokens": ["' the'", "' of' ' and'", "'ing'", ""],
    }
)


def clusters_after(filters: dict, sort: str = "") -> list[int]:
    return query_table(TABLE, filters, sort)["cluster"].tolist()


def test_numeric_filters():
    assert clusters_after({"size": ">2.5"}) == [1, 2, 3]
    assert clusters_after({"size": ">=3&<10"}) == [1, 2]
    assert clusters_after({"size": "<2,>9"}) == [0, 3]
    assert clusters_after({"depth_mean": "1..2.5"}) == [1, 2]
    assert clusters_after({"size": "=5"}) == [1]
    assert clusters_after({"size": "!=5", "depth_mean": "<3"}) == [0, 2]


def test_module_filters():
    assert clusters_after({"modules": "*mlp*"}) == [0, 1]
    assert clusters_after({"modules": "*mlp*,*attn*"}) == [0, 1, 2]
    assert clusters_after({"modules": "*mlp*&*attn*"}) == [1]
    assert clusters_after({"modules": "!*attn*"}) == [0, 3]
    assert clusters_after({"modules": "*layers.1.*&!*mlp*"}) == [2]


def test_text_filter_and_sort():
    assert clusters_after({"top_tokens": "OF"}) == [1]
    assert clusters_after({}, "-size") == [3, 1, 2, 0]
    assert clusters_after({"size": ">1"}, "depth_mean") == [1, 2, 3]
    assert clusters_after({"size": " "}, "") == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"size": ">big"}, "size: cannot read '>big'"),
        ({"modules": "!"}, "modules: empty pattern"),
        ({"nope": "1"}, "no column 'nope' to filter on"),
    ],
)
def test_bad_filters_are_named(filters, message):
    with pytest.raises(FilterError, match=message):
        clusters_after(filters)


def test_a_sort_on_a_missing_column_is_named():
    with pytest.raises(FilterError, match="no column 'nope' to sort by"):
        clusters_after({}, "-nope")


def test_table_of_the_hand_case():
    inputs = hand_case_inputs()
    analyses = analyse_clusters(inputs, ASSIGNMENTS)
    tokens = ["a", "b", "c", "d"]
    table = cluster_table(analyses, inputs.subcomponents, tokens)
    five = table.set_index("cluster").loc[5]
    assert five["modules"] == "layers.0.attn.q_proj,layers.1.mlp.up_proj"
    assert five["top_tokens"] == "'b' 'c'"
    assert five["layers"] == "██"
    assert sparkline(np.array([0, 1, 4])) == "▁▃█"
    assert sparkline(np.zeros(3)) == ""
