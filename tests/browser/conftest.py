"""A served app (gunicorn, as in production) and real headless Chromium through Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from bench.serving import CHROMIUM, CHROMIUM_ARGS, ServedApp, serving


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


def show_members(page: Page) -> None:
    """Scroll a cluster page's Members section into view: it is filled once scrolled near."""
    page.locator("#section-members").scroll_into_view_if_needed()


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
