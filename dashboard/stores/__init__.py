"""The app's small mutable stores: causal masks and texts by content hash (explanations later)."""

from functools import lru_cache

from dashboard.app_state import settings
from dashboard.stores.content import ContentStore
from dashboard.stores.database import Database


@lru_cache(maxsize=1)
def content_store() -> ContentStore:
    """The store of this process, at the configured URL (SQLite in the data dir by default)."""
    current = settings()
    current.data_dir.mkdir(parents=True, exist_ok=True)
    return ContentStore(Database(current.store_url))
