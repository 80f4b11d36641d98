"""The app's small mutable stores: causal masks and texts by content hash, explanations."""

from functools import lru_cache

from dashboard.app_state import settings
from dashboard.stores.content import ContentStore
from dashboard.stores.database import Database
from dashboard.stores.explanations import ExplanationStore


@lru_cache(maxsize=1)
def database() -> Database:
    """The store database of this process (SQLite in the data dir unless DATABASE_URL is set)."""
    current = settings()
    current.data_dir.mkdir(parents=True, exist_ok=True)
    return Database(current.store_url)


@lru_cache(maxsize=1)
def content_store() -> ContentStore:
    """The store of this process, at the configured URL (SQLite in the data dir by default)."""
    return ContentStore(database())


@lru_cache(maxsize=1)
def explanation_store() -> ExplanationStore:
    return ExplanationStore(database())
