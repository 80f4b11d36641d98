"""The resident inference process of the embedded mode, on the micro study's real decomposition:
the same values as inline, one process for every client, and a watchdog for each job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from multiprocessing import AuthenticationError
from pathlib import Path

import numpy as np
import pytest

from dashboard.inference import resident
from dashboard.inference.service import (
    InferenceUnavailableError,
    InlineService,
    ResidentService,
)
from dashboard.settings import Settings
from dashboard.study import Study

TEXT = "The river flows through the old city and into the sea."
# masked inference on these runs for seconds (0.65 s per 32 on the micro model, at 2 cores)
LONG_PROMPTS = [
    f"Prompt {i}: " + "The river flows through the old city. " * 25 for i in range(32 * 8)
]


@pytest.fixture
def data_dir(micro_study: Path, micro_data_dir: Path, tmp_path: Path) -> Path:
    """A data directory of this test's own (its own resident process), finding the micro
    decomposition at the path its study records."""
    del micro_study
    (tmp_path / "data").mkdir()
    return tmp_path / "data"


def settings_for(data_dir: Path, **env: str) -> Settings:
    return Settings.from_env({"ATLAS_DATA_DIR": str(data_dir), **env})


@pytest.fixture
def owned(data_dir: Path) -> Iterator[None]:
    """Stop this test's resident process at its end (it would outlive it until pytest ends)."""
    yield
    pid = resident_pid(settings_for(data_dir))
    if pid is not None:
        os.kill(pid, signal.SIGKILL)


def resident_pid(settings: Settings) -> int | None:
    found = resident.status(settings)
    return None if found is None else found["pid"]


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not resident.process_alive(pid) or zombie(pid):
            return True
        time.sleep(0.1)
    return False


def zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_resident_values_equal_inline(micro_study: Path, data_dir: Path, owned) -> None:
    study = Study(micro_study)
    remote = ResidentService(settings_for(data_dir))
    local = InlineService(settings_for(data_dir))
    assert remote.probe(study, TEXT, 0.1) == local.probe(study, TEXT, 0.1)
    prompts = [TEXT, "It was cold."]
    np.testing.assert_allclose(
        remote.prompt_importance(study, prompts, "mean").per_subcomponent,
        local.prompt_importance(study, prompts, "mean").per_subcomponent,
        atol=1e-5,
    )
    values = [0.0 if i % 3 else 1.0 for i in range(len(study.subcomponents))]
    prompts = [TEXT, "In 1990 the team won the cup."]
    far = remote.masked_inference(study, values, prompts)
    near = local.masked_inference(study, values, prompts)
    for key, value in vars(near.summary).items():
        assert abs(getattr(far.summary, key) - value) <= 1e-5
    for far_prompt, near_prompt in zip(far.prompts, near.prompts, strict=True):
        np.testing.assert_allclose(far_prompt.kl, near_prompt.kl, atol=1e-5)
    far_slice = remote.masked_inference_slice(study, values, 2, 3, 16)
    assert far_slice == local.masked_inference_slice(study, values, 2, 3, 16)
    assert remote.heldout_prompts(study, count=2) == local.heldout_prompts(study, count=2)
    with pytest.raises(ValueError, match="the limit is 512"):
        remote.probe(study, "word " * 2000, 0.1)


def test_every_client_shares_one_process(micro_study: Path, data_dir: Path, owned) -> None:
    study = Study(micro_study)
    settings = settings_for(data_dir)
    pids, results = set(), []

    def client() -> None:
        results.append(ResidentService(settings).probe(study, TEXT, 0.1))
        pids.add(resident_pid(settings))

    threads = [threading.Thread(target=client) for _ in range(4)]  # each may start one
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(results) == 4 and len(pids) == 1
    assert results[0] == results[3]


def test_a_killed_process_is_reported_at_once_and_the_next_job_works(
    micro_study: Path, data_dir: Path, owned
) -> None:
    study = Study(micro_study)
    settings = settings_for(data_dir)
    service = ResidentService(settings)
    service.probe(study, TEXT, 0.1)  # started, model loaded
    first = resident_pid(settings)
    outcome: dict = {}

    def long_job() -> None:
        try:
            service.masked_inference(study, [1.0] * len(study.subcomponents), LONG_PROMPTS)
        except InferenceUnavailableError as error:
            outcome["error"] = str(error)
        outcome["at"] = time.monotonic()

    job = threading.Thread(target=long_job)
    job.start()
    time.sleep(0.5)
    killed_at = time.monotonic()
    os.kill(first, signal.SIGKILL)
    job.join(30)
    assert "stopped during the job" in outcome.get("error", ""), outcome
    assert outcome["at"] - killed_at < 5
    assert service.probe(study, TEXT, 0.1).tokens
    assert resident_pid(settings) not in (None, first)


def test_a_job_past_its_limit_is_reported_and_its_process_stopped(
    micro_study: Path, data_dir: Path, owned
) -> None:
    study = Study(micro_study)
    settings = settings_for(data_dir, ATLAS_JOB_SECONDS="masked_inference=1")
    service = ResidentService(settings)
    service.probe(study, TEXT, 0.1)
    first = resident_pid(settings)
    started = time.monotonic()
    with pytest.raises(InferenceUnavailableError, match="time limit of 1 s"):
        service.masked_inference(study, [1.0] * len(study.subcomponents), LONG_PROMPTS)
    assert time.monotonic() - started < 1 + 5
    assert gone_within(first, 5)
    assert service.probe(study, TEXT, 0.1).tokens


def test_the_process_stops_with_its_owner(data_dir: Path) -> None:
    owner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    settings = settings_for(data_dir)
    process = resident.start(settings, owner.pid)
    try:
        deadline = time.monotonic() + resident.START_SECONDS
        while resident.connect(settings) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert resident_pid(settings) == process.pid
        owner.kill()
        owner.wait()
        process.wait(10)
    finally:
        resident.stop(process)
        owner.kill()
    assert resident.connect(settings) is None


def test_a_client_without_the_key_is_refused(data_dir: Path, owned) -> None:
    settings = settings_for(data_dir)
    resident.connect_or_start(settings).close()
    stranger = settings_for(data_dir, ATLAS_SECRET_KEY="not the data directory's key")
    with pytest.raises(AuthenticationError, match="digest"):
        resident.connect(stranger)
    assert resident_pid(settings) is not None  # and it still serves the others
