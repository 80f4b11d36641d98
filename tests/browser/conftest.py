"""A served app (gunicorn, as in production) and real headless Chromium through Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

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
REPO = Path(__file__).resolve().parents[2]


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
        served.process.terminate()
        served.process.wait(10)


@pytest.fixture(scope="session")
def app_with_study(
    random_study_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    with serving(tmp_path_factory.mktemp("data-with-study"), str(random_study_template)) as app:
        yield app


@pytest.fixture(scope="session")
def app_without_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    with serving(tmp_path_factory.mktemp("data-without-study")) as app:
        yield app


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@dataclass
class WatchedPage:
    """A fresh browser context whose console errors and page errors are collected."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")


@pytest.fixture
def watched(browser: Browser) -> Iterator[WatchedPage]:
    context = browser.new_context()
    page = context.new_page()
    watched_page = WatchedPage(page)
    page.on("console", watched_page.on_console)
    page.on("pageerror", lambda error: watched_page.errors.append(f"page error: {error}"))
    yield watched_page
    context.close()


@pytest.fixture(scope="session")
def app_with_micro_study(
    micro_study: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedApp]:
    """The app on the micro study: a real model's decomposition, with analyses and lenses."""
    with serving(tmp_path_factory.mktemp("data-micro"), str(micro_study)) as app:
        yield app


@pytest.fixture(scope="session")
def app_with_two_studies(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """A data directory holding studies `first` (the configured one) and `second`."""
    from tests.study_factory import write_random_study

    data_dir = tmp_path_factory.mktemp("data-two-studies")
    write_random_study(data_dir / "first", seed=0)
    write_random_study(data_dir / "second", seed=1, n_windows=9)
    with serving(data_dir, "first") as app:
        yield app
