"""Embedded or scaled wiring, chosen from the settings alone: cache and background jobs."""

from __future__ import annotations

from typing import Any

from flask_caching import Cache

from dashboard.settings import Settings

# One cache object for the whole app; pages and callbacks memoize on ids, never on DataFrames.
cache = Cache()


def cache_config(settings: Settings) -> dict[str, Any]:
    """flask-caching settings: a file cache when embedded, Redis (shared by workers) when scaled."""
    if settings.mode == "scaled":
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": settings.redis_url,
            "CACHE_KEY_PREFIX": "atlas:",
            "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
        }
    return {
        "CACHE_TYPE": "FileSystemCache",
        "CACHE_DIR": str(settings.cache_dir),
        "CACHE_THRESHOLD": 50_000,
        "CACHE_DEFAULT_TIMEOUT": 24 * 3600,
    }


def make_celery(settings: Settings) -> Any:
    """The Celery app of the scaled mode: Redis as broker and result backend."""
    from celery import Celery

    if settings.redis_url is None:
        raise ValueError("Celery needs REDIS_URL (the scaled mode)")
    celery_app = Celery("spd_atlas", broker=settings.redis_url, backend=settings.redis_url)
    celery_app.conf.update(
        result_expires=3600,
        broker_connection_retry_on_startup=True,
        task_acks_late=True,
        worker_prefetch_multiplier=1,
    )
    return celery_app


def background_manager(settings: Settings) -> Any:
    """Dash's manager for background callbacks: Diskcache embedded, Celery over Redis scaled."""
    from dash import CeleryManager, DiskcacheManager

    if settings.mode == "scaled":
        return CeleryManager(make_celery(settings))
    import diskcache

    return DiskcacheManager(diskcache.Cache(str(settings.data_dir / "jobs")))
