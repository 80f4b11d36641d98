"""What the pages' background jobs share: their outputs, their running state, and the check
that admits a click as a job only when the job can run now."""

from __future__ import annotations

from types import ModuleType

from dash import Input, Output, callback, no_update

from dashboard.app_state import settings
from dashboard.inference.service import QUEUE as INFERENCE_QUEUE
from dashboard.runtime import WEB_QUEUE, queue_served
from dashboard.settings import Settings

REACH_SECONDS = 2.0  # Redis gets this long to answer: the page says what is wrong within 5 s


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


def job_problem(current: Settings) -> str | None:
    """Why a page's job cannot start now, or None. Embedded, jobs run here; scaled, Redis must
    answer and workers must serve both the pages' jobs and the inference queue."""
    if current.mode != "scaled":
        return None
    import redis

    client = redis.Redis.from_url(
        current.redis_url, socket_connect_timeout=REACH_SECONDS, socket_timeout=REACH_SECONDS
    )
    try:
        missing = [
            command
            for queue, command in (
                (WEB_QUEUE, "spd-atlas worker --queue web"),
                (INFERENCE_QUEUE, "spd-atlas worker"),
            )
            if not queue_served(client, queue)
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
    def admit(clicks: int):
        problem = job_problem(settings())
        if problem is None:
            return clicks, "", *[False] * (len(message) - 1)
        return no_update, problem, *[True] * (len(message) - 1)
