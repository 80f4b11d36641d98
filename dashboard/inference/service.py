"""One interface, two backends: inline (the model in this process, loaded on first use) and
Celery over Redis (the worker of `spd-atlas worker`, on queue `gpu`, holds the model)."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from functools import lru_cache
from typing import Protocol

from dashboard.settings import Settings
from dashboard.study import Study

QUEUE = "gpu"
TASK = "atlas.inference.run"
REACH_SECONDS = 2.0  # to find Redis and a worker: the page says so within 5 seconds
JOB_SECONDS = 600
POLL_SECONDS = 2.0
JOB_LOG = logging.getLogger("atlas.jobs")  # one line per job, with its time


class InferenceUnavailableError(RuntimeError):
    """The service cannot run now (worker down, Redis unreachable, no decomposition)."""


class InferenceService(Protocol):
    def run(self, study: Study, operation: str, arguments: dict) -> dict | list: ...


class InlineService:
    """Runs operations in this process; one model per study, loaded lazily under a lock."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.loaded: dict[str, object] = {}

    def decomposition(self, study: Study):
        from dashboard.decomposition.api import load_decomposition
        from dashboard.inference.locate import find_decomposition

        key = study.provenance["decomposition"]
        if key not in self.loaded:
            directory = find_decomposition(study, self.settings.data_dir)
            self.loaded[key] = load_decomposition(directory, device=self.settings.device)
        return self.loaded[key]

    def run(self, study: Study, operation: str, arguments: dict) -> dict | list:
        from dashboard.inference.compute import OPERATIONS

        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        started = time.perf_counter()
        outcome = "failed"
        try:
            with self.lock:
                result = OPERATIONS[operation](self.decomposition(study), **arguments)
            outcome = "done"
            return result
        finally:
            milliseconds = (time.perf_counter() - started) * 1000
            JOB_LOG.info(
                "job %s on %s: %s in %.0f ms", operation, study.name, outcome, milliseconds
            )


class CeleryService:
    """Sends operations to the worker on queue `gpu` and waits for the answer."""

    def __init__(self, settings: Settings):
        from celery import exceptions

        from dashboard.runtime import make_celery

        self.celery = make_celery(settings)
        self.exceptions = exceptions
        self.redis_url = settings.redis_url

    def check_reachable(self) -> None:
        """Raise InferenceUnavailableError unless Redis answers and a worker serves `gpu`."""
        import redis

        from dashboard.runtime import unserved_queues

        try:
            unserved = unserved_queues(self.redis_url, (QUEUE,), REACH_SECONDS)
        except redis.RedisError as error:
            raise InferenceUnavailableError(
                f"the job queue (Redis) is unreachable: {error}"
            ) from error
        if unserved:
            raise InferenceUnavailableError(
                f"no inference worker is listening on queue {QUEUE!r}: start one with "
                "`spd-atlas worker`; what you typed is kept"
            )

    def run(self, study: Study, operation: str, arguments: dict) -> dict | list:
        self.check_reachable()
        job = self.celery.send_task(TASK, args=[str(study.path), operation, arguments], queue=QUEUE)
        deadline = time.monotonic() + JOB_SECONDS
        while time.monotonic() < deadline:
            try:
                # the caller may itself be a task (a background callback of the scaled mode)
                return job.get(timeout=POLL_SECONDS, disable_sync_subtasks=False)
            except self.exceptions.TimeoutError:
                self.check_reachable()  # a worker that died mid-job is reported, not awaited
            except (ValueError, LookupError) as error:  # the operation refused its input
                raise type(error)(str(error)) from None
            except Exception as error:
                raise InferenceUnavailableError(f"the inference job failed: {error}") from error
        job.revoke()
        raise InferenceUnavailableError(f"the inference job took over {JOB_SECONDS} s")


class CachedService:
    """Any backend, with results kept in the configured cache (files, or Redis when scaled) by
    (study version, operation, hash of the arguments): a repeated request costs no model time.
    Errors are not cached."""

    TIMEOUT_SECONDS = 7 * 24 * 3600

    def __init__(self, backend: InferenceService, settings: Settings):
        from cachelib import FileSystemCache, RedisCache

        self.backend = backend
        self.cache_errors: tuple[type[Exception], ...] = (OSError,)
        if settings.redis_url:
            import redis

            from dashboard.runtime import redis_client

            client = redis_client(settings.redis_url, seconds=1)
            self.cache = RedisCache(client, key_prefix="atlas:inference:")
            self.cache_errors = (OSError, redis.RedisError)
        else:
            self.cache = FileSystemCache(str(settings.cache_dir / "inference"), threshold=5000)

    @staticmethod
    def key(study: Study, operation: str, arguments: dict) -> str:
        digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()
        return f"{study.version}:{operation}:{digest[:32]}"

    def run(self, study: Study, operation: str, arguments: dict) -> dict | list:
        key = self.key(study, operation, arguments)
        try:
            found = self.cache.get(key)
        except self.cache_errors as error:  # a cache that is away is a miss
            JOB_LOG.warning("inference cache unreadable, computing: %s", error)
            found = None
        if found is not None:
            return found
        result = self.backend.run(study, operation, arguments)
        try:
            self.cache.set(key, result, timeout=self.TIMEOUT_SECONDS)
        except self.cache_errors as error:
            JOB_LOG.warning("inference cache unwritable, result not kept: %s", error)
        return result


@lru_cache(maxsize=4)
def inference_service(settings: Settings) -> InferenceService:
    """This process's service: Celery when scaled (REDIS_URL set), else inline (one model per
    process); results cached either way."""
    backend = CeleryService(settings) if settings.mode == "scaled" else InlineService(settings)
    return CachedService(backend, settings)
