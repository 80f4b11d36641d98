"""The panel of a build in progress: its stage and the harvest's shards, tokens per second and
ETA, from the record `spd-atlas build` keeps beside the study (`study/build_progress.py`)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

PANEL = "build-progress"
POLL = "build-progress-poll"
NAME = "build-progress-study"  # the address's `study=`, to read the record again
POLL_MILLISECONDS = 2000


def duration_text(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `2 h 10 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def harvest_lines(harvest: dict) -> list:
    done, total = harvest.get("tokens_done", 0), harvest.get("tokens_total", 0) or 1
    rate, eta = harvest.get("tokens_per_second", 0.0), harvest.get("eta_seconds")
    figures = [
        f"shards {harvest.get('shards_done', 0)}/{harvest.get('shards_total', 0)}",
        f"{done:,} of {total:,} tokens",
        f"{rate:,.0f} tokens/s" if rate else "tokens/s after the first shard",
        f"ETA {duration_text(eta)}" if eta is not None else "ETA after the first shard",
    ]
    return [
        dbc.Progress(value=100 * done / total, className="mb-2", id="build-progress-bar"),
        html.Div(" · ".join(figures), id="build-progress-figures"),
    ]


def progress_body(record: dict | None) -> list:
    """What the panel shows for a record (None: no build runs now)."""
    if record is None:
        return [html.Span("The build has ended: reload the page to see the study.")]
    workers = "Celery harvest workers" if record.get("workers") == "celery" else "one process"
    body = [
        html.H5("A build of this study is in progress", className="alert-heading"),
        html.Div(f"Stage: {record.get('stage', '?')} (shards computed by {workers})"),
    ]
    if isinstance(record.get("harvest"), dict):
        body.extend(harvest_lines(record["harvest"]))
    return body


def build_progress_section(name: str | None, record: dict | None, watch: bool) -> html.Div:
    """The panel, refreshed while a build runs. With no build now: nothing, or (`watch`: the
    study does not exist yet) a hidden panel that appears when a build starts."""
    if record is None and not watch:
        return html.Div()
    return html.Div(
        [
            dcc.Store(id=NAME, data=name),
            dcc.Interval(id=POLL, interval=POLL_MILLISECONDS),
            dbc.Alert(progress_body(record), id=PANEL, color="info", is_open=record is not None),
        ]
    )
