"""Each store test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.stores.database import Database, StoreError

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgres"])
def store_database(request, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        return Database(POSTGRES)
    except StoreError as error:  # the project's machines run PostgreSQL; say so if it is gone
        pytest.fail(f"PostgreSQL at {POSTGRES} is not reachable: {error}")
