"""Embedded or scaled wiring, chosen from the settings alone: cache and background jobs."""

from __future__ import annotations

import threading
import time
from contextlib import suppress
from pathlib import Path
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
            # Redis away: a miss within a second (flask-caching then computes), never a hang
            "CACHE_OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
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
    announce_presence(celery_app, settings.redis_url)
    return celery_app


WEB_QUEUE = "celery"  # the pages' background jobs, served by `spd-atlas worker --queue web`
PRESENCE_SECONDS = 1.0  # a worker renews its presence this often ...
PRESENCE_LAPSE_SECONDS = 4.0  # ... and counts as gone this long after its last renewal


def presence_key(queue: str) -> str:
    """A sorted set per queue: worker name -> the Redis time its presence lapses."""
    return f"atlas:workers:{queue}"


def announce_presence(celery_app: Any, redis_url: str) -> None:
    """While a worker of `celery_app` runs, renew its presence on each of its queues from a
    thread of its own: a worker busy in a long task (solo pool, which answers no control
    message meanwhile) still counts, and one killed drops out within PRESENCE_LAPSE_SECONDS."""
    from celery import signals

    stop = threading.Event()
    announced: dict[str, list[str]] = {}  # worker name -> its queues

    def renew(hostname: str, queues: list[str]) -> None:
        import redis

        connection = redis_client(redis_url)
        while not stop.is_set():
            try:
                seconds, _ = connection.time()
                with connection.pipeline() as pipe:
                    for queue in queues:
                        pipe.zadd(presence_key(queue), {hostname: seconds + PRESENCE_LAPSE_SECONDS})
                        pipe.zremrangebyscore(presence_key(queue), "-inf", seconds - 3600)
                    pipe.execute()
            except redis.RedisError:
                pass  # Redis away: Celery reconnects on its own, and presence resumes with it
            stop.wait(PRESENCE_SECONDS)

    @signals.worker_ready.connect(weak=False)
    def on_ready(sender: Any, **_: Any) -> None:
        if sender.app is not celery_app:
            return
        announced[sender.hostname] = sorted(queue.name for queue in sender.task_consumer.queues)
        threading.Thread(
            target=renew, args=(sender.hostname, announced[sender.hostname]), daemon=True
        ).start()

    @signals.worker_shutdown.connect(weak=False)
    def on_shutdown(sender: Any, **_: Any) -> None:
        """Withdraw at once (a killed worker's entries lapse by themselves instead)."""
        import redis

        if sender.app is not celery_app:
            return
        stop.set()
        try:
            connection = redis_client(redis_url)
            for hostname, queues in announced.items():
                for queue in queues:
                    connection.zrem(presence_key(queue), hostname)
        except redis.RedisError:
            pass


def redis_client(redis_url: str, seconds: float = 2.0) -> Any:
    """A redis.Redis that gives up after `seconds` to connect or to answer."""
    import redis

    return redis.Redis.from_url(redis_url, socket_timeout=seconds, socket_connect_timeout=seconds)


def live_workers(client: Any, queue: str) -> int:
    """How many live workers consume from `queue` (see announce_presence); `client` is a
    redis.Redis, and its errors propagate."""
    seconds, _ = client.time()
    return client.zcount(presence_key(queue), seconds, "+inf")


def queue_served(client: Any, queue: str) -> bool:
    return live_workers(client, queue) > 0


def unserved_queues(redis_url: str, queues: tuple[str, ...], seconds: float = 2.0) -> list[str]:
    """The queues no live worker serves; redis.RedisError when Redis does not answer."""
    client = redis_client(redis_url, seconds)
    return [queue for queue in queues if not queue_served(client, queue)]


class UnreadResultsKeepPolling:
    """Dash reads a job's result, finds none, then asks whether the job still runs: a job that
    stores its result and ends between the two looks as if it had ended with nothing, and the
    page stops polling (about 1 probe in 120 at 25 users, bench/load.py). While such a result
    waits unread, this says the job runs, so the next poll takes it."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.missed = threading.local()  # (job, key) of this thread's last read that found none

    def get_result(self, key: str, job: Any) -> Any:
        result = super().get_result(key, job)
        self.missed.read = (str(job), key) if result is self.UNDEFINED else None
        return result

    def job_running(self, job: Any) -> bool:
        if super().job_running(job):
            return True
        missed = getattr(self.missed, "read", None)
        return missed is not None and missed[0] == str(job) and self.result_ready(missed[1])


LOST_JOB_MESSAGE = (
    "The job's process stopped before it finished (it was killed, or ran out of memory); "
    "what you typed is kept: run it again."
)
CANCELLED_SECONDS = 3600  # how long a cancelled job is remembered as such


class ReportLostJobs:
    """A job whose process died ends with no result, and Dash would then end its running state
    without a word. This answers such a job with an error for the page's error handler to show,
    unless the job was cancelled (by Cancel, or replaced by a newer request) or its result is
    on the way."""

    def terminate_job(self, job: Any) -> None:
        if job is not None:
            self.remember_cancelled(f"atlas:cancelled:{job}")
        super().terminate_job(job)

    def get_result(self, key: str, job: Any) -> Any:
        result = super().get_result(key, job)
        if (
            result is self.UNDEFINED
            and job is not None
            and self.job_lost(job)
            and not self.result_ready(key)
            and not self.was_cancelled(f"atlas:cancelled:{job}")
        ):
            return {"background_callback_error": {"msg": LOST_JOB_MESSAGE, "tb": ""}}
        return result

    def job_lost(self, job: Any) -> bool:
        return not self.job_running(job)


class DiskcacheMarks:
    """Cancellations of the embedded mode's jobs: an empty file each, beside the jobs' disk
    cache (no write to its SQLite, which every poll of every job already contends for)."""

    def marks(self) -> Path:
        folder = Path(self.handle.directory) / "cancelled"
        folder.mkdir(exist_ok=True)
        return folder

    def remember_cancelled(self, key: str) -> None:
        folder = self.marks()
        (folder / key.replace(":", "-")).touch()
        stale = time.time() - CANCELLED_SECONDS
        for mark in folder.iterdir():
            with suppress(FileNotFoundError):
                if mark.stat().st_mtime < stale:
                    mark.unlink()

    def was_cancelled(self, key: str) -> bool:
        mark = self.marks() / key.replace(":", "-")
        try:
            return mark.stat().st_mtime > time.time() - CANCELLED_SECONDS
        except FileNotFoundError:
            return False

    def terminate_job(self, job: Any) -> None:
        """Dash's, without its race: a job that ends while Dash lists its children is done."""
        import psutil

        with suppress(psutil.NoSuchProcess):
            super().terminate_job(job)


class RedisMarks:
    """Cancellations of the scaled mode's jobs, in Redis; a job queued on `celery` counts as
    lost when no live worker serves that queue (Celery itself would call it pending for ever)."""

    redis_url: str

    def remember_cancelled(self, key: str) -> None:
        redis_client(self.redis_url).set(key, 1, ex=CANCELLED_SECONDS)

    def was_cancelled(self, key: str) -> bool:
        return bool(redis_client(self.redis_url).exists(key))

    def job_lost(self, job: Any) -> bool:
        import redis

        if not self.job_running(job):
            return True
        try:
            return bool(unserved_queues(self.redis_url, (WEB_QUEUE,)))
        except redis.RedisError:
            return False  # Redis away: the job's fate is unknown, and the next poll asks again


def background_manager(settings: Settings) -> Any:
    """Dash's manager for background callbacks: Diskcache embedded, Celery over Redis scaled."""
    from dash import CeleryManager, DiskcacheManager

    if settings.mode == "scaled":
        manager_class = type(
            "AtlasCeleryManager",
            (RedisMarks, ReportLostJobs, UnreadResultsKeepPolling, CeleryManager),
            {"redis_url": settings.redis_url},
        )
        return manager_class(make_celery(settings))
    import diskcache

    manager_class = type(
        "AtlasDiskcacheManager",
        (DiskcacheMarks, ReportLostJobs, UnreadResultsKeepPolling, DiskcacheManager),
        {},
    )
    return manager_class(diskcache.Cache(str(settings.data_dir / "jobs")))
