"""Each store test runs on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.stores.database import Database, StoreError
from tests.services import postgres_url

POSTGRES = postgres_url()


@pytest.fixture(params=["sqlite", "postgres"])
def store_database(request, tmp_path: Path) -> Database:
    if request.param == "sqlite":
        return Database(f"sqlite:///{tmp_path / 'store.sqlite3'}")
    try:
        return Database(POSTGRES)
    except StoreError as error:  # scripts/install-test-services.sh starts one when missing
        pytest.fail(
            f"PostgreSQL at {POSTGRES} is not reachable ({error}): run "
            "scripts/install-test-services.sh"
        )
