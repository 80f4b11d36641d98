"""One SQL connection for the stores: SQLite by default, PostgreSQL when `DATABASE_URL` says so."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS masks (
        hash TEXT PRIMARY KEY,
        decomposition TEXT NOT NULL,
        body TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS texts (
        hash TEXT PRIMARY KEY,
        body TEXT NOT NULL
    )""",
)


class StoreError(RuntimeError):
    """The store's database cannot be reached or refused a statement."""


class Database:
    """Runs parameterized statements (`?` placeholders) on SQLite or PostgreSQL."""

    def __init__(self, url: str):
        self.url = url
        self.postgres = url.startswith(("postgresql://", "postgres://"))
        if not self.postgres and not url.startswith("sqlite:///"):
            raise StoreError(f"store URL {url!r}: expected sqlite:///PATH or postgresql://...")
        with self.connection() as connection:
            for statement in SCHEMA:
                connection.execute(statement)

    @contextmanager
    def connection(self) -> Iterator[Any]:
        try:
            if self.postgres:
                import psycopg

                connection = psycopg.connect(self.url, connect_timeout=5)
            else:
                connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), timeout=10)
        except Exception as error:  # both drivers raise their own connection errors
            raise StoreError(f"cannot open the store: {error}") from error
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def execute(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        if self.postgres:
            statement = statement.replace("?", "%s")
        with self.connection() as connection:
            cursor = connection.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []
