"""What the pages' background jobs share: their outputs, their running state, and the check
that admits a click as a job only when the job can run now."""

from __future__ import annotations

import os
import uuid
from types import ModuleType

from dash import Input, Output, callback, no_update

from dashboard.app_state import settings
from dashboard.inference.limits import JOBS_PER_CORE
from dashboard.inference.service import QUEUE as INFERENCE_QUEUE
from dashboard.runtime import WEB_QUEUE, unserved_queues
from dashboard.settings import Settings

REACH_SECONDS = 2.0  # Redis gets this long to answer: the page says what is wrong within 5 s
# how often a page asks for its job's result: a warm probe takes tens of ms, so Dash's default
# of 1 s would be most of the wait
POLL_MS = 250


def job_outputs(page: ModuleType) -> list[Output]:
    """Result, address and message of a job page (its ids named as RESULT, URL_SYNC, MESSAGE)."""
    return [
        Output(page.RESULT, "children"),
        Output(page.URL_SYNC, "search"),
        Output(page.MESSAGE, "children"),
        Output(page.MESSAGE, "is_open"),
    ]


def job_running(page: ModuleType, progress: str) -> list[tuple]:
    """While a job runs: Cancel is on and the progress line says what runs."""
    return [
        (Output(page.CANCEL, "disabled"), False, True),
        (Output(page.PROGRESS, "children"), progress, ""),
    ]


def running_local_jobs() -> int:
    """Background jobs of this web process now running (the embedded mode forks one each)."""
    import psutil

    children = psutil.Process().children()
    return sum(1 for child in children if child.is_running() and child.status() != "zombie")


def job_problem(current: Settings) -> str | None:
    """Why a page's job cannot start now, or None. Embedded, jobs run as processes of this one
    that wait on the resident inference process, which computes one job at a time: at most
    JOBS_PER_CORE per core wait at once; scaled, Redis must answer and workers must serve both
    the pages' jobs and the inference queue."""
    if current.mode != "scaled":
        running, limit = running_local_jobs(), JOBS_PER_CORE * (os.cpu_count() or 1)
        if running >= limit:
            return (
                f"The server is busy with {running} jobs ({JOBS_PER_CORE} per CPU core); try "
                "again in a moment; what you typed is kept."
            )
        return None
    import redis

    start = {WEB_QUEUE: "spd-atlas worker --queue web", INFERENCE_QUEUE: "spd-atlas worker"}
    try:
        missing = [
            start[q] for q in unserved_queues(current.redis_url, tuple(start), REACH_SECONDS)
        ]
    except redis.RedisError as error:
        return f"The job queue (Redis) is unreachable ({error}); what you typed is kept."
    if missing:
        commands = "` and `".join(missing)
        return f"No worker is running for this job: start `{commands}`; what you typed is kept."
    return None


def admit_jobs(trigger: str, request: str, *message: Output) -> None:
    """A click on `trigger` becomes a job request in the store `request` (the job's Input) when
    the job can run now, and clears the message outputs (text, then `is_open` if given);
    otherwise they say why, and nothing is queued."""

    @callback(
        Output(request, "data"),
        *[
            Output(output.component_id, output.component_property, allow_duplicate=True)
            for output in message
        ],
        Input(trigger, "n_clicks"),
        prevent_initial_call=True,
    )
    def admit(_clicks: int):
        problem = job_problem(settings())
        if problem is None:
            # unique per request: Dash keys a job's result by its arguments, so two users asking
            # the same at once would otherwise share one result, and one of them would get none
            return uuid.uuid4().hex, "", *[False] * (len(message) - 1)
        return no_update, problem, *[True] * (len(message) - 1)
