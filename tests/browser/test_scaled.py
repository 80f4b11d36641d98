"""The scaled mode for real, in headless Chromium: gunicorn with two web workers, a Celery
worker for the pages' jobs and one for inference, on a Redis server of this module's own (so
that a test can stop it mid-run)."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from playwright.sync_api import Browser, expect

from bench.serving import Fleet, ServedApp
from dashboard.runtime import queue_served
from dashboard.study import Study
from tests.browser.conftest import WatchedPage
from tests.browser.test_dashboard import GRID_IDS, open_list

pytestmark = pytest.mark.browser

JOB = 120_000  # ms: the first job loads the model
REPORTED = 5_000  # ms: a stopped worker or Redis is reported within this


@pytest.fixture(scope="module")
def fleet(micro_study: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Redis and the two workers of one scaled deployment, on a Redis server of its own."""
    data_dir = tmp_path_factory.mktemp("data-scaled")
    fleet = Fleet(data_dir, {"ATLAS_DATA_DIR": str(data_dir), "ATLAS_STUDY": str(micro_study)})
    try:
        fleet.start_scaled_services("scaled-test-secret")
        yield fleet
    finally:
        fleet.stop_all()


@pytest.fixture(scope="module")
def scaled_app(fleet: Fleet) -> Iterator[ServedApp]:
    app = fleet.start_app(workers=2)
    try:
        yield app
    finally:
        fleet.stop("app")


def scaled_app_study(fleet: Fleet) -> Path:
    return Path(fleet.env["ATLAS_STUDY"])


def open_list_and_probe(page, url: str, text: str, iteration: int) -> None:
    page.goto(f"{url}/clusters?iteration={iteration}")
    expect(page.locator(GRID_IDS).first).to_be_visible(timeout=60_000)
    probe(page, url, text)
    expect_probed(page)


def probe(page, url: str, text: str) -> None:
    page.goto(url + "/probe")
    page.locator("#probe-text").fill(text)
    page.locator("#probe-run").click()


def expect_probed(page) -> None:
    expect(page.locator("#probe-message")).to_be_hidden()  # the request was admitted
    expect(page.locator("#probe-tokens, #probe-message").first).to_be_visible(timeout=JOB)
    expect(page.locator("#probe-message")).to_be_hidden()  # else it names what went wrong
    expect(page.locator("#probe-tokens")).to_contain_text(" on")
    expect(page).to_have_url(re.compile(r"\?text=[0-9a-f]{20}$"))


def health(app: ServedApp) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(app.url + "/healthz", timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_probe_in_the_scaled_mode(scaled_app: ServedApp, watched: WatchedPage) -> None:
    status, report = health(scaled_app)
    assert status == 200 and report["mode"] == "scaled", report
    probe(watched.page, scaled_app.url, "The cat sat on the mat.")
    expect_probed(watched.page)
    assert watched.errors == []


def test_the_attribution_graph_runs_on_the_gpu_queue_worker(
    fleet: Fleet, scaled_app: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(scaled_app.url + "/graph")
    page.locator("#graph-text").fill("The cat sat on the mat and the dog")
    page.locator("#graph-run").click()
    expect(page.locator("#graph-summary")).to_contain_text(
        "active (position, cluster)", timeout=JOB
    )
    expect(page.locator("#graph-faithfulness")).to_contain_text("Spearman rho")
    ran = re.findall(r"job attribution_graph on \S+: done", fleet.log("worker-gpu"))
    assert ran, fleet.log("worker-gpu")[-2000:]
    assert watched.errors == []


def test_web_workers_share_the_cache_and_all_reach_the_gpu_worker(
    fleet: Fleet, scaled_app: ServedApp, browser: Browser
) -> None:
    texts = [f"Probe number {i} sat on the mat." for i in range(6)]
    other_iteration = Study(scaled_app_study(fleet)).default_iteration - 10  # computed, cached
    jobs_before = fleet.log("worker-gpu").count("atlas.inference.run[")
    for text in texts:  # fresh browsers: new connections, spread over the web workers
        page = browser.new_context().new_page()
        try:
            open_list_and_probe(page, scaled_app.url, text, other_iteration)
        finally:
            page.context.close()
    callback = r'"POST /_dash-update-component\S* HTTP/1.1" 200 .* pid <(\d+)>'
    callback_pids = set(re.findall(callback, scaled_app.log()))
    assert len(callback_pids) >= 2, "one web worker served every callback"
    jobs = fleet.log("worker-gpu").count("atlas.inference.run[") - jobs_before
    assert jobs >= 2 * len(texts)  # each job reached the GPU worker: received, then succeeded
    client = redis.Redis(port=fleet.redis_port)
    page_cache = [
        k
        for k in client.scan_iter("atlas:*")
        if not k.startswith((b"atlas:workers:", b"atlas:inference:"))
    ]
    assert page_cache, "the pages' cache is not in Redis"
    inference_cache = list(client.scan_iter("atlas:inference:*"))
    assert len(inference_cache) >= len(texts)


def test_a_stopped_worker_is_reported_within_seconds_and_a_restart_restores_service(
    fleet: Fleet, scaled_app: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    for queue, command in (("web", "--queue web"), ("gpu", "worker`")):
        fleet.stop(f"worker-{queue}")
        try:
            status, report = health(scaled_app)
            assert status == 503 and not report["checks"]["workers"]["ok"], report
            assert {"web": "celery", "gpu": "gpu"}[queue] in report["checks"]["workers"]["detail"]
            probe(page, scaled_app.url, "The dog sat on the rug.")
            expect(page.locator("#probe-message")).to_contain_text(command, timeout=REPORTED)
            expect(page.locator("#probe-text")).to_have_value("The dog sat on the rug.")
        finally:
            fleet.start_worker(queue)
        page.locator("#probe-run").click()
        expect_probed(page)
    assert watched.errors == []


def test_redis_stopped_mid_run_is_reported_and_its_return_restores_service(
    fleet: Fleet, scaled_app: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    fleet.stop("redis")
    try:
        open_list(watched, scaled_app.url + "/clusters")  # pages serve on: cache misses
        cluster = page.locator(GRID_IDS).first.inner_text()
        page.goto(f"{scaled_app.url}/cluster/{cluster}")
        expect(page.locator("#cluster-makeup")).to_be_visible(timeout=30_000)
        status, report = health(scaled_app)
        assert status == 503 and "Redis" in report["checks"]["cache"]["detail"], report
        page.goto(scaled_app.url + "/probe")
        page.locator("#probe-text").fill("The bird sat on the wire.")
        page.locator("#probe-run").click()
        expect(page.locator("#probe-message")).to_contain_text("unreachable", timeout=REPORTED)
        expect(page.locator("#probe-text")).to_have_value("The bird sat on the wire.")
    finally:
        fleet.start_redis()
    deadline = time.monotonic() + 60  # the workers reconnect and announce themselves again
    client = redis.Redis(port=fleet.redis_port)
    while not (queue_served(client, "celery") and queue_served(client, "gpu")):
        assert time.monotonic() < deadline, "the workers did not come back after Redis did"
        time.sleep(0.5)
    page.locator("#probe-run").click()
    expect_probed(page)
    assert health(scaled_app)[0] == 200
    assert watched.errors == []
