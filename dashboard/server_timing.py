"""Every callback's response says how long the application worked on it, as a `Server-Timing`
header (`app;dur=<ms>`, from the request reaching Flask to its response): what a browser's timing
of the request adds to it is queueing before the application and transfer."""

from __future__ import annotations

import time

from flask import Flask, Response, g, request

TIMING_METRIC = "app"
TIMED_PATH_SUFFIX = "_dash-update-component"  # Dash callbacks; pages and assets are not timed


def add_server_timing(server: Flask) -> None:
    @server.before_request
    def note_arrival() -> None:
        if request.path.endswith(TIMED_PATH_SUFFIX):
            g.atlas_arrived = time.perf_counter()

    @server.after_request
    def stamp_duration(response: Response) -> Response:
        arrived = g.pop("atlas_arrived", None)
        if arrived is not None:
            elapsed_ms = (time.perf_counter() - arrived) * 1000
            response.headers.add("Server-Timing", f"{TIMING_METRIC};dur={elapsed_ms:.1f}")
        return response


def server_duration_ms(header: str | None) -> float | None:
    """The application's time in a `Server-Timing` header value, if it names it."""
    for metric in (header or "").split(","):
        name, *parameters = (part.strip() for part in metric.split(";"))
        if name != TIMING_METRIC:
            continue
        for parameter in parameters:
            key, _, value = parameter.partition("=")
            if key == "dur":
                try:
                    return float(value)
                except ValueError:
                    return None
    return None
