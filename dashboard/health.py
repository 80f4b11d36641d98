"""What `/healthz` reports: the study loaded, the cache, the store and the workers reachable.
Each check says ok or what is wrong; no check ever names a secret."""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass

from dashboard.app_state import current_study
from dashboard.inference.service import QUEUE as INFERENCE_QUEUE
from dashboard.runtime import WEB_QUEUE, redis_client, unserved_queues
from dashboard.settings import Settings
from dashboard.stores.database import Database, StoreError

REACH_SECONDS = 1.0


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str


def redacted(text: str, settings: Settings) -> str:
    """`text` with every secret of the settings replaced by `***`."""
    from urllib.parse import urlsplit

    secrets = [settings.secret_key, settings.github_token or ""]
    for url in (settings.redis_url, settings.database_url):
        if url and urlsplit(url).password:
            secrets.append(urlsplit(url).password)
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def study_check() -> Check:
    status = current_study()
    if status.study is None:
        return Check(False, status.problem or "no study configured (ATLAS_STUDY)")
    return Check(True, f"{status.study.name}, version {status.study.version}")


def cache_check(settings: Settings) -> Check:
    if settings.mode == "scaled":
        import redis

        try:
            redis_client(settings.redis_url, REACH_SECONDS).ping()
        except redis.RedisError as error:
            return Check(False, f"Redis is unreachable: {error}")
        return Check(True, "Redis")
    try:
        settings.cache_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=settings.cache_dir):
            pass
    except OSError as error:
        return Check(False, f"the cache directory is not writable: {error}")
    return Check(True, "files in the data directory")


def store_check(settings: Settings) -> Check:
    try:
        Database(settings.store_url, lock_timeout=REACH_SECONDS).execute("SELECT 1")
    except StoreError as error:
        return Check(False, str(error))
    return Check(True, "PostgreSQL" if settings.database_url else "SQLite in the data directory")


def resident_check(settings: Settings) -> Check:
    """Embedded: the resident inference process, if one runs (the first job starts one)."""
    from dashboard.inference import resident

    try:
        found = resident.status(settings, REACH_SECONDS)
    except TimeoutError as error:
        return Check(False, str(error))
    if found is None:
        return Check(True, "no inference process runs yet: the next job starts one")
    running = f", running {found['running']}" if found["running"] else ", idle"
    return Check(True, f"resident inference process {found['pid']}{running}")


def workers_check(settings: Settings) -> Check:
    if settings.mode != "scaled":
        return resident_check(settings)
    import redis

    try:
        missing = unserved_queues(settings.redis_url, (WEB_QUEUE, INFERENCE_QUEUE), REACH_SECONDS)
    except redis.RedisError as error:
        return Check(False, f"Redis is unreachable: {error}")
    if missing:
        return Check(False, f"no worker serves queue(s) {', '.join(missing)}")
    return Check(True, f"workers serve {WEB_QUEUE} and {INFERENCE_QUEUE}")


def health(settings: Settings) -> tuple[dict, int]:
    """The JSON body and status of `/healthz`: 200 when every check is ok, else 503."""
    checks = {
        "study": study_check(),
        "cache": cache_check(settings),
        "store": store_check(settings),
        "workers": workers_check(settings),
    }
    healthy = all(check.ok for check in checks.values())
    body = {
        "status": "ok" if healthy else "down",
        "mode": settings.mode,
        "checks": {
            name: {**asdict(check), "detail": redacted(check.detail, settings)}
            for name, check in checks.items()
        },
    }
    return body, 200 if healthy else 503
