"""Masks and texts by content hash, in SQLite and in the real PostgreSQL server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.stores.content import (
    CausalMask,
    ContentStore,
    MalformedHashError,
    UnknownHashError,
    validated_values,
)
from dashboard.stores.database import Database, StoreError


@pytest.fixture
def store(store_database: Database) -> ContentStore:
    return ContentStore(store_database)


def test_the_same_mask_gets_the_same_hash_in_any_order_and_process() -> None:
    first = CausalMask("abc", {"m.1:2": 1.0, "m.0:5": 0.5, "m.0:6": 0.0})
    second = CausalMask("abc", {"m.0:5": 0.5000000001, "m.1:2": 1})
    assert first.hash == second.hash
    assert CausalMask("other", second.values).hash != first.hash
    code = (
        "from dashboard.stores.content import CausalMask\n"
        "print(CausalMask('abc', {'m.0:5': 0.5, 'm.1:2': 1.0}).hash)\n"
    )
    other_process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert other_process.stdout.strip() == first.hash


def test_masks_are_stored_once_and_read_back(store: ContentStore) -> None:
    mask = CausalMask("decomposition-test", {"layers.0.mlp.up_proj:3": 1.0, "x:1": 0.25})
    name = store.put_mask(mask, "first label")
    assert store.put_mask(mask, "another label") == name  # immutable: the first label stays
    again, label = store.mask(name.upper())
    assert again == mask and label == "first label"
    assert name in [row[0] for row in store.masks("decomposition-test")]


def test_bad_hashes_say_what_is_wrong(store: ContentStore) -> None:
    with pytest.raises(MalformedHashError, match="'nope' is not a hash"):
        store.mask("nope")
    with pytest.raises(UnknownHashError, match="no mask is stored under 0000"):
        store.mask("0" * 20)
    with pytest.raises(UnknownHashError, match="no text"):
        store.text("f" * 20)


def test_texts_by_hash_and_their_limit(store: ContentStore) -> None:
    name = store.put_text("The cat sat.\nThe dog ran.")
    assert store.text(name) == "The cat sat.\nThe dog ran."
    with pytest.raises(ValueError, match="over the limit of 20,000"):
        store.put_text("x" * 20_001)


def test_mask_values_are_checked() -> None:
    labels = {"a:0", "a:1"}
    assert validated_values({"a:0": 1}, labels) == {"a:0": 1.0}
    with pytest.raises(ValueError, match="unknown subcomponent"):
        validated_values({"b:0": 1}, labels)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        validated_values({"a:1": 2}, labels)


def test_a_bad_store_url_is_named(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="expected sqlite"):
        Database("mysql://x")
    with pytest.raises(StoreError, match="cannot open the store"):
        Database("postgresql://postgres@127.0.0.1:1/none")
