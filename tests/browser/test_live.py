"""The live model in real headless Chromium: probe, a mask labelled by hash, and masked
inference opened from that hash in a fresh browser (inline backend, micro study)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ServedApp, WatchedPage, serving

pytestmark = pytest.mark.browser

JOB = 120_000  # ms: the first job loads the model


def test_probe_shows_clusters_per_token_and_keeps_the_text_in_the_url(
    app_with_micro_study: ServedApp, watched: WatchedPage, browser: Browser
) -> None:
    page = watched.page
    page.goto(app_with_micro_study.url + "/probe")
    page.locator("#probe-text").fill("The cat sat on the mat.")
    page.locator("#probe-run").click()
    expect(page.locator("#probe-tokens")).to_contain_text(" on", timeout=JOB)
    expect(page).to_have_url(re.compile(r"\?text=[0-9a-f]{20}$"))
    fresh = browser.new_context().new_page()
    try:
        fresh.goto(page.url)
        expect(fresh.locator("#probe-text")).to_have_value("The cat sat on the mat.")
    finally:
        fresh.context.close()
    page.locator("#probe-tokens a").first.click()
    expect(page.locator("#cluster-title")).to_be_visible()
    page.goto(app_with_micro_study.url + "/probe?text=nothex")
    expect(page.locator("#probe-message")).to_contain_text("'nothex' is not a hash")
    assert watched.errors == []


def test_label_a_mask_then_run_it_from_its_hash_in_a_fresh_browser(
    app_with_micro_study: ServedApp, watched: WatchedPage, browser: Browser
) -> None:
    page = watched.page
    page.goto(app_with_micro_study.url + "/masks")
    page.locator("#masks-start input[value='full']").check()
    expect(page.locator("#masks-summary")).to_contain_text("subcomponents on")
    page.locator("#masks-label").fill("everything on")
    page.locator("#masks-save").click()
    name = page.locator("#masks-saved-hash").inner_text()
    assert re.fullmatch(r"[0-9a-f]{20}", name)
    fresh = browser.new_context().new_page()
    try:
        fresh.goto(f"{app_with_micro_study.url}/infer?mask={name}")
        fresh.locator("#infer-prompts").fill("The river flows into the sea.\nIt was cold.")
        fresh.locator("#infer-run").click()
        expect(fresh.locator("#infer-summary")).to_contain_text("top-1 agreement", timeout=JOB)
        expect(fresh).to_have_url(re.compile(rf"mask={name}"))
        fresh.goto(f"{app_with_micro_study.url}/masks/{name}")
        expect(fresh.locator("#mask-label")).to_have_text("everything on")
    finally:
        fresh.context.close()
    assert watched.errors == []


def test_bad_mask_hashes_say_so_and_keep_the_input(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_micro_study.url + "/masks/xyz")
    expect(page.locator("#not-found-message")).to_contain_text("'xyz' is not a hash")
    page.goto(app_with_micro_study.url + "/masks/" + "0" * 20)
    expect(page.locator("#not-found-message")).to_contain_text("no mask is stored")
    page.goto(app_with_micro_study.url + "/infer?mask=" + "0" * 20)
    page.locator("#infer-prompts").fill("Hello there.")
    page.locator("#infer-run").click()
    expect(page.locator("#infer-message")).to_contain_text("no mask is stored", timeout=JOB)
    expect(page.locator("#infer-mask")).to_have_value("0" * 20)
    expect(page.locator("#infer-prompts")).to_have_value("Hello there.")
    assert watched.errors == []


@pytest.fixture(scope="module")
def scaled_app(micro_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApp]:
    """The scaled mode for real: gunicorn, a Celery worker for the pages' background jobs and
    one for inference, all on the real Redis."""
    import redis

    data_dir = tmp_path_factory.mktemp("data-scaled")
    redis.Redis.from_url("redis://127.0.0.1:6379/9").flushdb()  # no jobs left from other runs
    env = {
        "ATLAS_DATA_DIR": str(data_dir),
        "ATLAS_STUDY": str(micro_study),
        "REDIS_URL": "redis://127.0.0.1:6379/9",
        "ATLAS_SECRET_KEY": "scaled-test-secret",
    }
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "dashboard.cli", "worker", "--queue", queue],
            cwd=Path(__file__).resolve().parents[2],
            env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
            stdout=(data_dir / f"{queue}.log").open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        for queue in ("web", "gpu")
    ]
    try:
        wait_for_queues(env["REDIS_URL"], {"celery", "gpu"}, workers)
        with serving(data_dir, str(micro_study), extra=env) as app:
            yield app
    finally:
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)


def wait_for_queues(redis_url: str, queues: set[str], workers: list, seconds: float = 90) -> None:
    """Until a worker serves each queue (jobs sent earlier would wait for a worker's start)."""
    from celery import Celery

    probe = Celery(broker=redis_url, backend=redis_url)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            raise RuntimeError("a worker exited during start-up")
        replies = probe.control.inspect(timeout=1).active_queues() or {}
        if queues <= {q["name"] for served in replies.values() for q in served}:
            return
    raise RuntimeError(f"no worker for {queues} within {seconds} s")


def test_probe_in_the_scaled_mode(scaled_app: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    page.goto(scaled_app.url + "/probe")
    page.locator("#probe-text").fill("The cat sat on the mat.")
    page.locator("#probe-run").click()
    expect(page.locator("#probe-tokens, #probe-message").first).to_be_visible(timeout=JOB)
    expect(page.locator("#probe-message")).to_be_hidden()  # else it names what went wrong
    expect(page.locator("#probe-tokens")).to_contain_text(" on")
    expect(page).to_have_url(re.compile(r"\?text=[0-9a-f]{20}$"))
    assert watched.errors == []
