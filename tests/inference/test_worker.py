"""The scaled backend against the real Redis server and a real worker process (CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dashboard.inference.service import (
    QUEUE,
    TASK,
    CeleryService,
    InferenceUnavailableError,
    InlineService,
)
from dashboard.settings import Settings
from dashboard.study import Study

pytestmark = pytest.mark.integration

REDIS = "redis://127.0.0.1:6379/7"
REPO = Path(__file__).resolve().parents[2]
TEXT = "The river flows through the old city."
LONG_PROMPTS = [TEXT * 28] * 32  # about a second of masked inference each on the micro model


def scaled_settings(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"ATLAS_DATA_DIR": str(data_dir), "REDIS_URL": REDIS, **env})


def start_worker(data_dir: Path, log: Path) -> subprocess.Popen:
    import redis

    redis.Redis.from_url(REDIS).delete("gpu")  # no job left queued by an earlier run
    env = {**os.environ, "ATLAS_DATA_DIR": str(data_dir), "REDIS_URL": REDIS}
    process = subprocess.Popen(
        [sys.executable, "-m", "dashboard.cli", "worker"],
        cwd=REPO,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    service = CeleryService(scaled_settings(data_dir))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker exited:\n{log.read_text()}")
        try:
            service.check_reachable()
            return process
        except InferenceUnavailableError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError(f"worker did not come up:\n{log.read_text()}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(30)


@pytest.fixture
def worker(micro_study: Path, micro_data_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen]:
    process = start_worker(micro_data_dir, tmp_path / "worker.log")
    yield process
    stop(process)


def test_operations_through_the_worker_match_inline(
    worker, micro_study: Path, micro_data_dir: Path
) -> None:
    study = Study(micro_study)
    remote = CeleryService(scaled_settings(micro_data_dir))
    local = InlineService(Settings.from_env({"ATLAS_DATA_DIR": str(micro_data_dir)}))
    assert remote.probe(study, TEXT, 0.1) == local.probe(study, TEXT, 0.1)
    importance = remote.prompt_importance(study, [TEXT], "max").per_subcomponent
    values = [1.0 if v > 0.5 else 0.0 for v in importance]
    prompts = [TEXT, "It was cold."]
    far = remote.masked_inference(study, values, prompts)
    near = local.masked_inference(study, values, prompts)
    for key, value in vars(near.summary).items():  # the same values as inline, within 1e-5
        assert abs(getattr(far.summary, key) - value) <= 1e-5, key
    for far_prompt, near_prompt in zip(far.prompts, near.prompts, strict=True):
        for key in ("kl", "target_loss", "masked_loss"):
            np.testing.assert_allclose(
                getattr(far_prompt, key), getattr(near_prompt, key), atol=1e-5
            )
        assert far_prompt.masked_top == near_prompt.masked_top
    far_slice = remote.masked_inference_slice(study, values, 2, 3, 16)
    assert far_slice == local.masked_inference_slice(study, values, 2, 3, 16)
    assert remote.heldout_prompts(study, count=2) == local.heldout_prompts(study, count=2)
    with pytest.raises(ValueError, match="the limit is 512"):
        remote.probe(study, "word " * 2000, 0.1)


def test_no_worker_is_reported_within_five_seconds(micro_study: Path, micro_data_dir) -> None:
    study = Study(micro_study)
    started = time.monotonic()
    with pytest.raises(InferenceUnavailableError, match="spd-atlas worker"):
        CeleryService(scaled_settings(micro_data_dir)).probe(study, TEXT, 0.1)
    assert time.monotonic() - started < 5
    unreachable = Settings.from_env(
        {"ATLAS_DATA_DIR": str(micro_data_dir), "REDIS_URL": "redis://127.0.0.1:1/0"}
    )
    started = time.monotonic()
    with pytest.raises(InferenceUnavailableError):
        CeleryService(unreachable).probe(study, TEXT, 0.1)
    assert time.monotonic() - started < 5


def queue_long_jobs(service: CeleryService, study: Study, count: int) -> list:
    """Jobs that keep the worker busy for several seconds, sent behind each other."""
    arguments = {"values": [1.0] * len(study.subcomponents), "prompts": LONG_PROMPTS}
    return [
        service.celery.send_task(
            TASK, args=[str(study.path), "masked_inference", arguments], queue=QUEUE
        )
        for _ in range(count)
    ]


def test_a_worker_busy_in_long_jobs_still_counts_as_present(
    worker, micro_study: Path, micro_data_dir: Path
) -> None:
    study = Study(micro_study)
    service = CeleryService(scaled_settings(micro_data_dir))
    jobs = queue_long_jobs(service, study, 5)
    checks_while_busy = 0
    while not jobs[-1].ready():
        service.check_reachable()  # the solo worker answers no control message meanwhile
        checks_while_busy += 1
        time.sleep(0.5)
    assert checks_while_busy >= 4
    assert all(len(job.get(timeout=5)["prompts"]) == len(LONG_PROMPTS) for job in jobs)


def test_a_worker_killed_mid_job_is_reported_and_a_restart_restores_service(
    micro_study: Path, micro_data_dir: Path, tmp_path: Path
) -> None:
    study = Study(micro_study)
    service = CeleryService(scaled_settings(micro_data_dir))
    process = start_worker(micro_data_dir, tmp_path / "first.log")
    queue_long_jobs(service, study, 6)  # the job below waits behind these
    outcome: dict = {}

    def waiting_job() -> None:
        started = time.monotonic()
        try:
            service.probe(study, TEXT, 0.1)
            outcome["finished"] = True
        except InferenceUnavailableError as error:
            outcome["error"] = str(error)
        outcome["seconds"] = time.monotonic() - started

    job = threading.Thread(target=waiting_job)
    job.start()
    time.sleep(2)
    stop(process, signal.SIGKILL)
    job.join(30)
    assert "no inference worker" in outcome.get("error", ""), outcome
    assert outcome["seconds"] < 2 + 8  # reported a few seconds after the kill, not awaited
    restarted = start_worker(micro_data_dir, tmp_path / "second.log")
    try:
        assert service.probe(study, TEXT, 0.1).tokens
    finally:
        stop(restarted)


def test_a_job_past_its_limit_is_reported_and_the_worker_starts_afresh(
    worker, micro_study: Path, micro_data_dir: Path
) -> None:
    study = Study(micro_study)
    service = CeleryService(scaled_settings(micro_data_dir))
    limited = CeleryService(scaled_settings(micro_data_dir, ATLAS_JOB_SECONDS="masked_inference=1"))
    service.probe(study, TEXT, 0.1)  # the model is loaded
    started = time.monotonic()
    with pytest.raises(InferenceUnavailableError, match="time limit of 1 s"):
        limited.masked_inference(study, [1.0] * len(study.subcomponents), LONG_PROMPTS * 16)
    assert time.monotonic() - started < 1 + 5
    assert worker.poll() is None  # `spd-atlas worker` started a fresh Celery worker ...
    assert service.probe(study, "It was cold.", 0.1).tokens
