"""Masks as pages build them: hand edits, cluster levels, inference modes."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.inference.limits import prompt_lines
from dashboard.inference.masks import (
    MaskInputError,
    applied,
    as_mask,
    cluster_level,
    clusters_switched_off,
    dense_values,
    mask_values,
    parse_overrides,
)

LABELS = ["a:0", "a:1", "b:0", "b:1", "b:2"]
ASSIGNMENTS = np.array([3, 3, 7, -1, 9])


def test_hand_edits_are_read_and_checked() -> None:
    assert parse_overrides("a:0=0.5\n\n b:2 \n", set(LABELS)) == {"a:0": 0.5, "b:2": 1.0}
    with pytest.raises(MaskInputError, match="line 1: no subcomponent 'c:0'"):
        parse_overrides("c:0=1", set(LABELS))
    with pytest.raises(MaskInputError, match="line 2: 'x' is not a number"):
        parse_overrides("a:0\na:1=x", set(LABELS))
    with pytest.raises(MaskInputError, match=r"outside \[0, 1\]"):
        parse_overrides("a:0=3", set(LABELS))


def test_values_from_clusters_start_and_overrides() -> None:
    values = mask_values(LABELS, ASSIGNMENTS, [3], {"b:2": 0.25})
    assert values.tolist() == [1, 1, 0, 0, 0.25]
    full = mask_values(LABELS, ASSIGNMENTS, [], {"a:1": 0}, start=np.ones(5))
    assert full.tolist() == [1, 0, 1, 1, 1]
    assert cluster_level(np.array([1.0, 0, 0, 0, 0]), ASSIGNMENTS).tolist() == [1, 1, 0, 0, 0]


def test_masks_round_trip_through_their_canonical_form() -> None:
    values = np.array([1.0, 0, 0.5, 0, 0])
    mask = as_mask("dec", LABELS, values)
    assert mask.values == {"a:0": 1.0, "b:0": 0.5}
    assert dense_values(mask, LABELS).tolist() == values.tolist()
    with pytest.raises(MaskInputError, match="lacks"):
        dense_values(mask, ["a:0"])


def test_modes_and_switched_off_clusters() -> None:
    values = np.array([1.0, 0, 0, 0, 0])
    assert applied("as_is", values, ASSIGNMENTS, []).tolist() == values.tolist()
    assert applied("ablate", values, ASSIGNMENTS, [7]).tolist() == [1, 1, 0, 1, 1]
    assert applied("keep", values, ASSIGNMENTS, [7, 9]).tolist() == [0, 0, 1, 0, 1]
    with pytest.raises(MaskInputError, match="mode 'both'"):
        applied("both", values, ASSIGNMENTS, [])
    assert clusters_switched_off(values, ASSIGNMENTS) == [7, 9]


def test_prompt_sets_have_a_limit() -> None:
    assert prompt_lines(" one \n\n two ") == ["one", "two"]
    with pytest.raises(ValueError, match="33 prompts; the limit is 32"):
        prompt_lines("\n".join(["p"] * 33))
