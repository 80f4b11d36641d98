"""Responses carry the application's own time as a Server-Timing header."""

from __future__ import annotations

import time

from flask import Flask

from dashboard.server_timing import add_server_timing, server_duration_ms


def test_a_callback_response_says_how_long_the_application_worked_on_it() -> None:
    server = Flask(__name__)
    add_server_timing(server)

    @server.route("/_dash-update-component", methods=["POST"])
    def slow_callback() -> str:
        time.sleep(0.05)
        return "{}"

    @server.route("/page")
    def page() -> str:
        return "page"

    client = server.test_client()
    duration = server_duration_ms(client.post("/_dash-update-component").headers["Server-Timing"])
    assert duration is not None and 50 <= duration < 5000
    assert "Server-Timing" not in client.get("/page").headers  # only callbacks are timed


def test_reading_server_timing_headers() -> None:
    assert server_duration_ms("db;dur=3, app;dur=12.5;desc=x") == 12.5
    assert server_duration_ms("db;dur=3") is None
    assert server_duration_ms(None) is None
    assert server_duration_ms("app;dur=soon") is None
