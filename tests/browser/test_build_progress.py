"""A build in progress on `/study`: the panel appears on the page of a study not built yet when
its build starts, follows the record as the harvest advances, and says when the build ended."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from bench.serving import ServedApp, serving
from dashboard.pipeline.harvest import HarvestFigures
from dashboard.study.build_progress import clear_progress, write_progress
from tests.browser.conftest import WatchedPage

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def data_dir_and_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ServedApp]]:
    data_dir = tmp_path_factory.mktemp("data-building")
    with serving(data_dir) as app:
        yield data_dir, app


def harvest(shards_done: int, tokens_per_second: float, eta: float | None) -> dict:
    """The record's harvest figures: `shards_done` of 16 shards of 65,536 tokens."""
    figures = HarvestFigures(
        shards_done, 16, shards_done * 65_536, 1_048_576, tokens_per_second, eta
    )
    return figures.to_json()


def test_the_study_page_follows_a_build_in_progress(
    data_dir_and_app: tuple[Path, ServedApp], watched: WatchedPage
) -> None:
    data_dir, app = data_dir_and_app
    study = data_dir / "growing"
    page = watched.page
    try:
        page.goto(f"{app.url}/study?study=growing")
        expect(page.locator("#no-study")).to_be_visible()
        panel = page.locator("#build-progress")
        expect(panel).to_be_hidden()
        # the record of a build that this (live) process runs: the open page picks it up
        write_progress(study, "harvest", workers="celery", harvest=harvest(0, 0.0, None))
        expect(panel).to_contain_text("A build of this study is in progress", timeout=10_000)
        expect(panel).to_contain_text("shards computed by Celery harvest workers")
        expect(page.locator("#build-progress-figures")).to_contain_text("shards 0/16")
        expect(page.locator("#no-study")).to_contain_text("no study named 'growing'")
        write_progress(study, "harvest", workers="celery", harvest=harvest(4, 24_576.0, 128.0))
        figures_line = page.locator("#build-progress-figures")
        expect(figures_line).to_contain_text("shards 4/16", timeout=10_000)
        expect(figures_line).to_contain_text("262,144 of 1,048,576 tokens")
        expect(figures_line).to_contain_text("24,576 tokens/s")
        expect(figures_line).to_contain_text("ETA 2 min 8 s")
        write_progress(study, "clustering", workers="celery")
        expect(panel).to_contain_text("Stage: clustering", timeout=10_000)
        clear_progress(study)
        expect(panel).to_contain_text("The build has ended", timeout=10_000)
    finally:
        clear_progress(study)
    page.goto(f"{app.url}/study?study=growing")
    expect(page.locator("#no-study")).to_be_visible()
    expect(page.locator("#build-progress")).to_be_hidden()
    assert watched.errors == []
