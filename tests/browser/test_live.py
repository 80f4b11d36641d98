"""The live model in real headless Chromium: probe, a mask labelled by hash, and masked
inference opened from that hash in a fresh browser (embedded mode: the resident inference
process; micro study)."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.study import Study
from dashboard.study.summary import cluster_sizes
from tests.browser.conftest import ServedApp, WatchedPage, serving

pytestmark = pytest.mark.browser

JOB = 120_000  # ms: the first job loads the model


def first_cluster(study_path: Path) -> int:
    study = Study(study_path)
    return int(cluster_sizes(study, study.default_iteration).index[0])


def torch_in_web_workers(app: ServedApp) -> bool:
    """Whether a gunicorn worker of `app` (not a job process forked from it) has torch loaded."""
    workers = web_workers(app)
    assert workers, "no gunicorn worker found"
    return any("libtorch" in Path(f"/proc/{worker.pid}/maps").read_text() for worker in workers)


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


def test_held_out_text_then_run_on_a_fresh_server(
    micro_study: Path, tmp_path: Path, watched: WatchedPage
) -> None:
    """The held-out text is a job too: the web process never starts torch, so the masked
    inference job forked from it after the held-out text runs (it could hang for ever)."""
    (tmp_path / "data").mkdir()
    with serving(tmp_path / "data", str(micro_study)) as app:
        page = watched.page
        page.goto(f"{app.url}/infer?mode=ablate&clusters={first_cluster(micro_study)}")
        page.locator("#infer-heldout").click()
        expect(page.locator("#infer-prompts")).not_to_have_value("", timeout=JOB)
        page.locator("#infer-run").click()
        expect(page.locator("#infer-summary")).to_contain_text("top-1 agreement", timeout=JOB)
        assert not torch_in_web_workers(app)
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


def largest_cached_result(app: ServedApp) -> int:
    """Bytes of the largest inference result the app has cached (a file each)."""
    folder = app.log_path.parent / "cache" / "inference"
    return max((path.stat().st_size for path in folder.glob("*")), default=0)


def prompts_shown(page: Page) -> set[str]:
    """The prompt numbers in the masked-inference grid's rows (all drawn: the prompt is short)."""
    cells = page.locator("#infer-tokens .ag-cell[col-id='prompt']")
    expect(cells.first).to_be_visible()
    return set(cells.all_inner_texts())


def running_job(app: ServedApp) -> str | None:
    """The operation the app's inference process runs now, asked over its socket."""
    from dashboard.inference import resident
    from dashboard.settings import Settings

    found = resident.status(Settings.from_env({"ATLAS_DATA_DIR": str(app.log_path.parent)}))
    return None if found is None else found["running"]


def wait_until_running(app: ServedApp, operation: str) -> None:
    deadline = time.monotonic() + JOB / 1000
    while running_job(app) != operation:
        assert time.monotonic() < deadline, f"no {operation} job ever ran"
        time.sleep(0.05)


def test_a_second_run_replaces_the_running_job(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_micro_study.url + "/masks")
    page.locator("#masks-start input[value='full']").check()
    page.locator("#masks-label").fill("all on, for two runs")
    page.locator("#masks-save").click()
    name = page.locator("#masks-saved-hash").inner_text()
    page.goto(f"{app_with_micro_study.url}/infer?mask={name}")
    long_prompts = "\n".join(  # 19,000 characters: under the limit of a stored text
        f"Prompt {i}: " + "The river flows through the old city. " * 25 for i in range(20)
    )
    page.locator("#infer-prompts").fill(long_prompts)
    log_before = len(app_with_micro_study.log())
    page.locator("#infer-run").click()
    wait_until_running(app_with_micro_study, "masked_inference")  # the first job runs
    page.locator("#infer-prompts").fill("It was cold.")
    page.locator("#infer-run").click()
    expect(page.locator("#infer-summary")).to_contain_text("top-1 agreement", timeout=JOB)
    assert prompts_shown(page) == {"1"}
    # the inference process saw the first job's client leave: the job was cancelled
    deadline = time.monotonic() + JOB / 1000
    cancelled = re.compile(r"job masked_inference (dropped|ended after)")
    while not cancelled.search(app_with_micro_study.log()[log_before:]):
        assert time.monotonic() < deadline, "the first job was never cancelled"
        time.sleep(0.2)
    assert largest_cached_result(app_with_micro_study) < 100_000  # 20 long prompts: megabytes
    assert prompts_shown(page) == {"1"}
    assert watched.errors == []


def occupy_the_inference_process(app: ServedApp, study_path: Path) -> threading.Thread:
    """A job of several seconds sent straight to the app's inference process (the pages' jobs
    then wait behind it), once it runs."""
    from dashboard.inference.service import ResidentService
    from dashboard.settings import Settings

    study = Study(study_path)
    service = ResidentService(Settings.from_env({"ATLAS_DATA_DIR": str(app.log_path.parent)}))
    prompts = [f"Busy {i}: " + "The river flows through the old city. " * 25 for i in range(512)]
    values = [1.0] * len(study.subcomponents)
    job = threading.Thread(target=service.masked_inference, args=(study, values, prompts))
    job.start()
    wait_until_running(app, "masked_inference")
    return job


def test_jobs_beyond_the_limit_are_refused_and_the_input_kept(
    app_with_micro_study: ServedApp, micro_study: Path, browser: Browser
) -> None:
    """Embedded jobs wait on the inference process as processes of the web process: at most
    JOBS_PER_CORE per core at once."""
    from dashboard.inference.limits import JOBS_PER_CORE

    limit = JOBS_PER_CORE * (os.cpu_count() or 1)
    pages = [browser.new_context().new_page() for _ in range(limit + 1)]
    try:
        for page in pages:
            page.goto(app_with_micro_study.url + "/probe")
            expect(page.locator("#probe-run")).to_be_visible()
        busy = occupy_the_inference_process(app_with_micro_study, micro_study)
        for number, page in enumerate(pages[:limit]):  # each waits behind the long job
            page.locator("#probe-text").fill(f"Text number {number}.")
            page.locator("#probe-run").click()
            # the server shares the cores with the busy inference process: give it time
            expect(page.locator("#probe-cancel")).to_be_enabled(timeout=20_000)
        last = pages[limit]
        last.locator("#probe-text").fill("One more text.")
        last.locator("#probe-run").click()
        expect(last.locator("#probe-message")).to_contain_text("busy", timeout=20_000)
        expect(last.locator("#probe-text")).to_have_value("One more text.")
        busy.join(JOB / 1000)
        for page in pages[:limit]:
            expect(page.locator("#probe-tokens")).to_be_visible(timeout=JOB)
        last.locator("#probe-run").click()
        expect(last.locator("#probe-tokens")).to_be_visible(timeout=JOB)
        expect(last.locator("#probe-message")).to_be_hidden()
    finally:
        for page in pages:
            page.context.close()


def resident_processes(app: ServedApp) -> list[psutil.Process]:
    """The app's inference processes (started by the server, or restarted by a job)."""
    data_dir = str(app.log_path.parent)
    return [
        process
        for process in psutil.process_iter(["cmdline", "environ"])
        if "dashboard.inference.resident" in (process.info["cmdline"] or [])
        and (process.info["environ"] or {}).get("ATLAS_DATA_DIR") == data_dir
    ]


def web_workers(app: ServedApp) -> list[psutil.Process]:
    """The gunicorn workers of `app` (children of its master)."""
    server = psutil.Process(app.process.pid)
    masters = [p for p in [server, *server.children(recursive=True)] if "gunicorn" in p.cmdline()]
    return [child for child in masters[0].children() if "gunicorn" in child.cmdline()]


def run_and_wait(page: Page, result: str) -> None:
    page.locator("#infer-run").click()
    expect(page.locator(result)).to_contain_text("top-1 agreement", timeout=JOB)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_live_step_in_one_session(
    micro_study: Path, tmp_path: Path, watched: WatchedPage, workers: int
) -> None:
    """As a new user after `make run`: held-out text, masked inference, probe, a mask from
    prompts, its label, then masked inference with that hash on a held-out slice."""
    (tmp_path / "data").mkdir()
    with serving(tmp_path / "data", str(micro_study), workers=workers) as app:
        page = watched.page
        page.goto(f"{app.url}/infer?mode=ablate&clusters={first_cluster(micro_study)}")
        page.locator("#infer-heldout").click()
        expect(page.locator("#infer-prompts")).not_to_have_value("", timeout=JOB)
        run_and_wait(page, "#infer-summary")
        page.goto(f"{app.url}/probe")
        page.locator("#probe-text").fill("The cat sat on the mat.")
        page.locator("#probe-run").click()
        expect(page.locator("#probe-tokens")).to_contain_text(" on", timeout=JOB)
        page.goto(f"{app.url}/masks")
        page.locator("#masks-prompts").fill("The river flows into the sea.\nIt was cold.")
        page.locator("#masks-compute").click()
        expect(page.locator("#masks-prompt-status")).to_contain_text(
            "subcomponents on", timeout=JOB
        )
        page.locator("#masks-label").fill("from two prompts")
        page.locator("#masks-save").click()
        name = page.locator("#masks-saved-hash").inner_text()
        page.goto(f"{app.url}/infer?mask={name}&slice=2:12")
        expect(page.locator("#infer-slice")).to_have_value("2:12")
        run_and_wait(page, "#infer-summary")
        expect(page.locator("#infer-summary")).to_contain_text("over 12 held-out windows")
        expect(page).to_have_url(
            re.compile(rf"mask={name}.*slice=2%3A12|slice=2%3A12.*mask={name}")
        )
        page.locator("#infer-windows .ag-row[row-index='3'] .ag-cell").first.click()
        expect(page.locator("#infer-window-title")).to_have_text("Tokens of window 5")
        assert len(resident_processes(app)) == 1  # one model for every worker
        assert not torch_in_web_workers(app)
        assert len(web_workers(app)) == workers
    assert watched.errors == []


def start_a_long_masked_job(page: Page, app: ServedApp, study_path: Path, prefix: str) -> str:
    """Ablate a cluster on 20 long prompts (under a second of work; 19,000 characters, the
    limit being 20,000) and return once the inference process runs it; the prompts typed."""
    page.goto(f"{app.url}/infer?mode=ablate&clusters={first_cluster(study_path)}")
    long_prompts = "\n".join(
        f"{prefix} {i}: " + "The river flows through the old city. " * 25 for i in range(20)
    )
    page.locator("#infer-prompts").fill(long_prompts)
    page.locator("#infer-run").click()
    wait_until_running(app, "masked_inference")
    return long_prompts


def test_a_killed_inference_process_is_reported_and_the_next_job_runs(
    app_with_micro_study: ServedApp, micro_study: Path, watched: WatchedPage
) -> None:
    page = watched.page
    long_prompts = start_a_long_masked_job(page, app_with_micro_study, micro_study, "Killed")
    [process] = resident_processes(app_with_micro_study)
    process.send_signal(signal.SIGKILL)
    expect(page.locator("#infer-message")).to_contain_text("stopped during the job", timeout=5000)
    expect(page.locator("#infer-prompts")).to_have_value(long_prompts)
    expect(page.locator("#infer-cancel")).to_be_disabled()
    page.locator("#infer-prompts").fill("It was cold.")
    run_and_wait(page, "#infer-summary")
    assert watched.errors == []


def test_a_killed_job_process_is_reported_and_the_input_kept(
    app_with_micro_study: ServedApp, micro_study: Path, watched: WatchedPage
) -> None:
    """The page's own job process (Dash's, forked from the web worker) dies mid-job."""
    page = watched.page
    long_prompts = start_a_long_masked_job(page, app_with_micro_study, micro_study, "Lost")
    jobs = [job for worker in web_workers(app_with_micro_study) for job in worker.children()]
    assert jobs, "no job process found"
    for job in jobs:
        job.kill()
    expect(page.locator("#callback-error")).to_contain_text(
        "stopped before it finished", timeout=5000
    )
    expect(page.locator("#infer-prompts")).to_have_value(long_prompts)
    expect(page.locator("#infer-cancel")).to_be_disabled()
    page.locator("#infer-prompts").fill("It was cold.")
    run_and_wait(page, "#infer-summary")
    assert watched.errors == []
