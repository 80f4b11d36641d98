"""The app served for real (gunicorn via `spd-atlas serve`) and headless Chromium's settings:
shared by the browser tests and `bench.browser`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
]
REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServedApp:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


def serve(env: dict[str, str], log_path: Path, workers: int = 1) -> ServedApp:
    port = free_port()
    log = open(log_path, "w")  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen(
        [
            sys.executable,
            *("-m", "dashboard.cli", "serve"),
            *("--port", str(port), "--workers", str(workers)),
        ],
        cwd=REPO,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited early:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_dash-layout", timeout=2):
                return ServedApp(url, process, log_path)
        except OSError:
            time.sleep(0.3)
    process.terminate()
    raise RuntimeError(f"app did not answer within 60 s:\n{log_path.read_text()}")


@contextmanager
def serving(
    data_dir: Path, study: str | None = None, extra: dict[str, str] | None = None, workers: int = 1
) -> Iterator[ServedApp]:
    """The app on a data directory (and ATLAS_STUDY, if given) until the block ends."""
    env = {"ATLAS_DATA_DIR": str(data_dir), **({"ATLAS_STUDY": study} if study else {})}
    served = serve({**env, **(extra or {})}, data_dir / "app.log", workers)
    try:
        yield served
    finally:
        stop(served.process)


def stop(process: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop a server: gracefully, or killed (with its workers) when a request still runs after
    `grace_s` (gunicorn waits for running requests, such as a first map's UMAP)."""
    process.terminate()
    try:
        process.wait(grace_s)
    except subprocess.TimeoutExpired:
        for child in psutil.Process(process.pid).children(recursive=True):
            child.kill()
        process.kill()
        process.wait(10)
