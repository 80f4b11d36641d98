"""One interface, three backends: the resident inference process (embedded mode), Celery over
Redis (scaled mode: the worker of `spd-atlas worker`, on queue `gpu`, holds the model), and
inline, the model in this process, which both of those run.

Every operation is a typed method of `InferenceService` returning a dataclass of
`dashboard.inference.results`; the operation table, `OPERATIONS`, is read from those methods."""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import signal
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar, get_type_hints

from dashboard.inference.results import (
    AttributionGraph,
    HeldoutPrompts,
    MaskedInference,
    MaskedSlice,
    ProbeResult,
    PromptImportance,
    from_json,
)
from dashboard.settings import Settings
from dashboard.study import Study

QUEUE = "gpu"
TASK = "atlas.inference.run"
REACH_SECONDS = 2.0  # to find Redis and a worker: the page says so within 5 seconds
QUEUED_JOBS_ALLOWED = 4  # a scaled job gives up after this many of its limits, queue included
POLL_SECONDS = 2.0
JOB_LOG = logging.getLogger("atlas.jobs")  # one line per job, with its time


class InferenceUnavailableError(RuntimeError):
    """The service cannot run now (worker down, Redis unreachable, no decomposition)."""


@dataclass(frozen=True)
class Operation:
    """An operation: its name (its method's, and its model function's in `compute`), the type
    of its result and its parameters after the study."""

    name: str
    result: type
    parameters: tuple[str, ...]


OPERATIONS: dict[str, Operation] = {}
Method = TypeVar("Method", bound=Callable)


def operation(method: Method) -> Method:
    """Enter a typed method of InferenceService in OPERATIONS, as its signature declares it."""
    OPERATIONS[method.__name__] = Operation(
        name=method.__name__,
        result=get_type_hints(method)["return"],
        parameters=tuple(inspect.signature(method).parameters)[2:],  # after self and study
    )
    return method


class InferenceService(ABC):
    """Every operation as a typed method: the study, then the operation's JSON-ready
    arguments. A backend runs them by name (`call`); ValueError is bad input, LookupError a
    missing decomposition, InferenceUnavailableError a service that cannot run now."""

    @abstractmethod
    def call(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        """Run `operation` (a name of OPERATIONS) with these arguments; its result's type is
        the operation's."""

    @operation
    def heldout_prompts(
        self, study: Study, count: int = 8, characters: int = 240
    ) -> HeldoutPrompts:
        """Openings of `count` documents the models never trained on, about `characters` long."""
        return self.call(study, "heldout_prompts", {"count": count, "characters": characters})

    @operation
    def probe(self, study: Study, text: str, threshold: float) -> ProbeResult:
        """Tokens of `text` and every (position, subcomponent, CI) above `threshold`."""
        return self.call(study, "probe", {"text": text, "threshold": threshold})

    @operation
    def prompt_importance(
        self, study: Study, prompts: list[str], aggregate: str
    ) -> PromptImportance:
        """Per subcomponent, the max or mean (`aggregate`) CI over every token of `prompts`."""
        return self.call(study, "prompt_importance", {"prompts": prompts, "aggregate": aggregate})

    @operation
    def masked_inference(
        self, study: Study, values: list[float], prompts: list[str], top_k: int = 5
    ) -> MaskedInference:
        """The target against the model masked by `values` (one per subcomponent) on each
        prompt: both models' `top_k` next tokens, per-position loss and KL; their means."""
        return self.call(
            study, "masked_inference", {"values": values, "prompts": prompts, "top_k": top_k}
        )

    @operation
    def attribution_graph(
        self,
        study: Study,
        text: str,
        assignments: list[int],
        target: str = "",
        threshold: float = 0.1,
        node_share: float = 0.8,
        edge_share: float = 0.8,
    ) -> AttributionGraph:
        """The cluster attribution graph of `text` for `target` (empty: the likeliest next
        token; `@P`: the next token at position P; else one token), with `assignments` a
        cluster per subcomponent; its top nodes checked by ablation."""
        return self.call(
            study,
            "attribution_graph",
            {
                "text": text,
                "assignments": assignments,
                "target": target,
                "threshold": threshold,
                "node_share": node_share,
                "edge_share": edge_share,
            },
        )

    @operation
    def masked_inference_slice(
        self,
        study: Study,
        values: list[float],
        start: int,
        count: int,
        window_length: int,
        batch_size: int = 8,
        top_k: int = 3,
    ) -> MaskedSlice:
        """Masked inference on held-out windows `start .. start + count - 1` of
        `window_length` tokens, `batch_size` windows per forward."""
        return self.call(
            study,
            "masked_inference_slice",
            {
                "values": values,
                "start": start,
                "count": count,
                "window_length": window_length,
                "batch_size": batch_size,
                "top_k": top_k,
            },
        )


@contextmanager
def logged_job(operation: str, study: Study) -> Iterator[None]:
    """One log line per job: operation, study, outcome and time."""
    started = time.perf_counter()
    outcome = "failed"
    try:
        yield
        outcome = "done"
    finally:
        milliseconds = (time.perf_counter() - started) * 1000
        JOB_LOG.info("job %s on %s: %s in %.0f ms", operation, study.name, outcome, milliseconds)


class InlineService(InferenceService):
    """Runs operations in this process, one at a time; models loaded lazily under a lock, at
    most `keep` of them (the oldest is dropped first: a new study's model replaces the last)."""

    def __init__(self, settings: Settings, keep: int = 4):
        self.settings = settings
        self.keep = keep
        self.lock = threading.Lock()
        self.loaded: dict[str, object] = {}

    def decomposition(self, study: Study):
        from dashboard.decomposition.api import load_decomposition
        from dashboard.inference.locate import find_decomposition

        key = study.provenance["decomposition"]
        if key not in self.loaded:
            directory = find_decomposition(study, self.settings.data_dir)
            while len(self.loaded) >= self.keep:
                self.loaded.pop(next(iter(self.loaded)))
            self.loaded[key] = load_decomposition(directory, device=self.settings.device)
        return self.loaded[key]

    def compute(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        """Run `operation` by its model function of the same name; the caller holds the lock."""
        from dashboard.inference import compute

        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}")
        return getattr(compute, operation)(self.decomposition(study), **arguments)

    def call(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        with self.lock, logged_job(operation, study):
            return self.compute(study, operation, arguments)


class ResidentService(InferenceService):
    """Sends operations to this data directory's resident inference process (starting one when
    none answers) and waits for the answer. A process that dies during the job is reported at
    once (its connection closes); one that passes the job's time limit stops itself, or is
    stopped from here if it cannot."""

    GRACE_SECONDS = 5.0  # past the limit, for the process to report and stop by itself

    def __init__(self, settings: Settings):
        self.settings = settings

    def call(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        from dashboard.inference import resident

        limit = self.settings.job_limit(operation)
        try:
            connection = resident.connect_or_start(self.settings)
        except resident.ResidentUnavailableError as error:
            raise InferenceUnavailableError(f"{error}; what you typed is kept") from error
        request = {"study": str(study.path), "operation": operation}
        with connection:
            try:
                connection.send({**request, "arguments": arguments, "limit": limit})
                reply = connection.recv()
                if reply["status"] == "started":  # the job left the queue and runs now
                    reply = self.await_result(connection, reply["pid"], limit)
            except (EOFError, OSError) as error:
                raise InferenceUnavailableError(
                    "the inference process stopped during the job; the next job starts a fresh "
                    "one; what you typed is kept"
                ) from error
        if reply["status"] == "ok":
            return from_json(OPERATIONS[operation].result, reply["result"])
        if reply["status"] == "input":
            raise ValueError(reply["message"])
        if reply["status"] == "lookup":
            raise LookupError(reply["message"])
        raise InferenceUnavailableError(f"{reply['message']}; what you typed is kept")

    def await_result(self, connection, pid: int, limit: float) -> dict:
        """The job's answer; past its limit and grace, its process is stopped from here."""
        deadline = time.monotonic() + limit + self.GRACE_SECONDS
        while not connection.poll(min(1.0, max(deadline - time.monotonic(), 0.0))):
            if time.monotonic() >= deadline:
                JOB_LOG.error("inference process %d missed the job's limit: killing it", pid)
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                return {
                    "status": "limit",
                    "message": f"the job passed its time limit of {limit:g} s and its process "
                    "was stopped; the next job starts a fresh one",
                }
        return connection.recv()


class CeleryService(InferenceService):
    """Sends operations to the worker on queue `gpu` and waits for the answer."""

    def __init__(self, settings: Settings):
        from celery import exceptions

        from dashboard.runtime import make_celery

        self.celery = make_celery(settings)
        self.exceptions = exceptions
        self.redis_url = settings.redis_url
        self.settings = settings

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

    def call(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        self.check_reachable()
        limit = self.settings.job_limit(operation)
        job = self.celery.send_task(
            TASK, args=[str(study.path), operation, arguments, limit], queue=QUEUE
        )
        # the worker stops a job past its limit; this waits for a queue ahead of it, too
        deadline = time.monotonic() + QUEUED_JOBS_ALLOWED * limit
        while time.monotonic() < deadline:
            try:
                # the caller may itself be a task (a background callback of the scaled mode)
                found = job.get(timeout=POLL_SECONDS, disable_sync_subtasks=False)
            except self.exceptions.TimeoutError:
                self.check_reachable()  # a worker that died mid-job is reported, not awaited
            except (ValueError, LookupError) as error:  # the operation refused its input
                raise type(error)(str(error)) from None
            except Exception as error:
                raise InferenceUnavailableError(f"the inference job failed: {error}") from error
            else:
                return from_json(OPERATIONS[operation].result, found)
        job.revoke()
        raise InferenceUnavailableError(
            f"the inference job waited and ran over {QUEUED_JOBS_ALLOWED * limit:g} s"
        )


class CachedService(InferenceService):
    """Any backend, with results kept in the configured cache (files, or Redis when scaled) by
    (study version, operation, hash of the arguments, defaults included): a repeated request
    costs no model time. Errors are not cached; an entry that is not of the operation's result
    type (one an earlier version wrote) is a miss."""

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
    def key(study: Study, operation: str, arguments: dict[str, Any]) -> str:
        digest = hashlib.sha256(json.dumps(arguments, sort_keys=True).encode()).hexdigest()
        return f"{study.version}:{operation}:{digest[:32]}"

    def call(self, study: Study, operation: str, arguments: dict[str, Any]) -> Any:
        key = self.key(study, operation, arguments)
        try:
            found = self.cache.get(key)
        except self.cache_errors as error:  # a cache that is away is a miss
            JOB_LOG.warning("inference cache unreadable, computing: %s", error)
            found = None
        if isinstance(found, OPERATIONS[operation].result):
            return found
        result = self.backend.call(study, operation, arguments)
        try:
            self.cache.set(key, result, timeout=self.TIMEOUT_SECONDS)
        except self.cache_errors as error:
            JOB_LOG.warning("inference cache unwritable, result not kept: %s", error)
        return result


@lru_cache(maxsize=4)
def inference_service(settings: Settings) -> InferenceService:
    """This process's service: Celery when scaled (REDIS_URL set), else the resident inference
    process (the web process never loads torch); results cached either way."""
    backend = CeleryService(settings) if settings.mode == "scaled" else ResidentService(settings)
    return CachedService(backend, settings)
