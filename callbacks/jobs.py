"""What the pages' background jobs share: their outputs and their running state."""

from __future__ import annotations

from types import ModuleType

from dash import Output


def job_outputs(page: ModuleType) -> list[Output]:
    """Result, address and message of a job page (its ids named as RESULT, URL_SYNC, MESSAGE)."""
    return [
        Output(page.RESULT, "children"),
        Output(page.URL_SYNC, "search"),
        Output(page.MESSAGE, "children"),
        Output(page.MESSAGE, "is_open"),
    ]


def job_running(page: ModuleType, progress: str) -> list[tuple]:
    """While a job runs: Run is off, Cancel is on, and the progress line says what runs."""
    return [
        (Output(page.RUN, "disabled"), True, False),
        (Output(page.CANCEL, "disabled"), False, True),
        (Output(page.PROGRESS, "children"), progress, ""),
    ]
