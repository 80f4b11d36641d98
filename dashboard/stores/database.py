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
    """CREATE TABLE IF NOT EXISTS explanations (
        study TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        score DOUBLE PRECISION,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (study, iteration, kind, target, source, author)
    )""",
    """CREATE TABLE IF NOT EXISTS explanation_scores (
        study TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        kind TEXT NOT NULL,
        target TEXT NOT NULL,
        source TEXT NOT NULL,
        author TEXT NOT NULL,
        measure TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL,
        baseline DOUBLE PRECISION,
        PRIMARY KEY (study, iteration, kind, target, source, author, measure)
    )""",
    """CREATE TABLE IF NOT EXISTS github_issues (
        repo TEXT NOT NULL,
        number INTEGER NOT NULL,
        study TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        cluster INTEGER NOT NULL,
        title TEXT NOT NULL,
        state TEXT NOT NULL,
        url TEXT NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        comment_count INTEGER NOT NULL,
        PRIMARY KEY (repo, number)
    )""",
    """CREATE TABLE IF NOT EXISTS github_comments (
        repo TEXT NOT NULL,
        number INTEGER NOT NULL,
        comment_id BIGINT NOT NULL,
        author TEXT NOT NULL,
        body TEXT NOT NULL,
        url TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (repo, comment_id)
    )""",
    """CREATE TABLE IF NOT EXISTS github_syncs (
        repo TEXT PRIMARY KEY,
        synced_at TEXT NOT NULL
    )""",
)


class StoreError(RuntimeError):
    """The store's database cannot be reached or refused a statement."""


class Database:
    """Runs parameterized statements (`?` placeholders) on SQLite or PostgreSQL."""

    def __init__(self, url: str, lock_timeout: float = 10.0):
        self.url = url
        self.lock_timeout = lock_timeout  # SQLite: how long to wait for another writer
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
                connection = sqlite3.connect(
                    self.url.removeprefix("sqlite:///"), timeout=self.lock_timeout
                )
        except Exception as error:  # both drivers raise their own connection errors
            raise StoreError(f"cannot open the store: {error}") from error
        driver_errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        if self.postgres:
            import psycopg

            driver_errors = (psycopg.Error,)
        try:
            with connection:  # commits at the end, rolls back on any error
                yield connection
        except driver_errors as error:  # locked, disk full, constraint, connection lost
            raise StoreError(f"the store refused a statement: {error}") from error
        finally:
            connection.close()

    def execute(self, statement: str, parameters: tuple = ()) -> list[tuple]:
        if self.postgres:
            statement = statement.replace("?", "%s")
        with self.connection() as connection:
            cursor = connection.execute(statement, parameters)
            return cursor.fetchall() if cursor.description else []

    def execute_many(self, statement: str, rows: list[tuple]) -> None:
        """One statement over many rows in one transaction: all of them land, or none."""
        if self.postgres:
            statement = statement.replace("?", "%s")
        with self.connection() as connection:
            connection.cursor().executemany(statement, rows)

    def execute_all(self, steps: list[tuple[str, tuple]]) -> None:
        """(statement, parameters) pairs in one transaction: all of them land, or none."""
        with self.connection() as connection:
            for statement, parameters in steps:
                if self.postgres:
                    statement = statement.replace("?", "%s")
                connection.execute(statement, parameters)
