"""The harvest sharded over real Celery workers on a private Redis: the same bytes as one process,
a worker killed mid-shard, a shard that keeps failing; and the shards' plan and assembly."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.serving import Fleet
from dashboard.decomposition import load_decomposition
from dashboard.pipeline.harvest import (
    HarvestConfig,
    Shard,
    harvest_windows,
    plan_shards,
    run_harvest,
)
from dashboard.pipeline.presets import BUILD_PRESETS
from dashboard.pipeline.sparse_store import ColumnStore, assemble
from dashboard.settings import Settings

pytestmark = pytest.mark.integration

MICRO = BUILD_PRESETS["micro"]
CPU = torch.device("cpu")
# 4 shards of 131,072 tokens: a second or more each on the micro model, so a kill lands mid-shard
LONG = HarvestConfig(n_tokens=524_288, window_length=32, batch_size=64, threshold=0.1)
LONG_SHARD_BATCHES = 64
VISIBILITY_SECONDS = 5


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, micro_data_dir: Path) -> Iterator[Fleet]:
    """A private Redis and two harvest workers of one torch thread each."""
    fleet = Fleet(
        tmp_path_factory.mktemp("harvest-fleet"),
        {
            "ATLAS_DATA_DIR": str(micro_data_dir),
            "ATLAS_DEVICE": "cpu",
            "ATLAS_TORCH_THREADS": "1",
            "ATLAS_HARVEST_VISIBILITY_SECONDS": str(VISIBILITY_SECONDS),
        },
    )
    try:
        port = fleet.start_redis()
        fleet.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        for name in ("harvest-1", "harvest-2"):
            fleet.start_worker("harvest", name)
        yield fleet
    finally:
        fleet.stop_all()


def settings_of(fleet: Fleet) -> Settings:
    return Settings.from_env(fleet.env)


@pytest.fixture(scope="module")
def decomposition(micro_decomposition: Path):
    return load_decomposition(micro_decomposition, device="cpu")


def in_memory(name: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    return np.zeros(shape, dtype=dtype)


def assembled(shards: list[Path], n_subcomponents: int) -> ColumnStore:
    return assemble(shards, n_subcomponents, in_memory)


def same_store(first: ColumnStore, second: ColumnStore) -> bool:
    return all(
        np.asarray(a).tobytes() == np.asarray(b).tobytes()
        for a, b in zip(dataclasses.astuple(first), dataclasses.astuple(second), strict=True)
    )


def shard_bytes(shards: list[Path]) -> list[dict[str, bytes]]:
    return [{file.name: file.read_bytes() for file in sorted(shard.iterdir())} for shard in shards]


def task_ids(log: str, event: str) -> list[str]:
    return re.findall(rf"Task atlas\.harvest_shard\[([0-9a-f-]+)\] {event}", log)


def test_shards_cover_every_window_in_whole_batches() -> None:
    shards = plan_shards(n_windows=1000, batch_size=64, shard_batches=4)
    assert [(s.first_window, s.stop_window) for s in shards] == [
        (0, 256),
        (256, 512),
        (512, 768),
        (768, 1000),
    ]
    assert shards[1] == Shard(1, 256, 512) and shards[1].name == "windows_00000256_00000512"
    assert shards[-1].n_tokens(window_length=32) == 232 * 32
    with pytest.raises(ValueError, match="at least one batch"):
        plan_shards(1000, 64, 0)


def test_the_shards_size_changes_no_byte(decomposition, tmp_path: Path) -> None:
    windows = harvest_windows(decomposition, MICRO.harvest)
    stores = [
        assembled(
            run_harvest(decomposition, MICRO.harvest, tmp_path / str(size), windows, size),
            len(decomposition.labels),
        )
        for size in (1, 3, 4)  # four shards; a short last one; the whole harvest at once
    ]
    assert same_store(stores[0], stores[1]) and same_store(stores[0], stores[2])


def test_two_workers_write_the_bytes_of_one_process(
    fleet: Fleet, decomposition, micro_decomposition: Path, tmp_path: Path
) -> None:
    from dashboard.pipeline.harvest_workers import harvest_on_workers

    windows = harvest_windows(decomposition, MICRO.harvest)
    local = run_harvest(decomposition, MICRO.harvest, tmp_path / "local", windows, 1)
    figures = []
    sharded = harvest_on_workers(
        micro_decomposition, MICRO.harvest, tmp_path / "celery", windows, 1, settings_of(fleet),
        figures.append,
    )  # fmt: skip
    assert [path.name for path in sharded] == [path.name for path in local]
    assert shard_bytes(sharded) == shard_bytes(local)
    assert figures[-1].shards_done == figures[-1].shards_total == 4
    assert figures[-1].tokens_done == windows.size and figures[-1].tokens_per_second > 0
    # both workers took shards
    assert all(task_ids(fleet.log(name), "succeeded") for name in ("harvest-1", "harvest-2"))
    again = harvest_on_workers(
        micro_decomposition, MICRO.harvest, tmp_path / "celery", windows, 1, settings_of(fleet)
    )
    assert [(path / "ci.npy").stat().st_mtime_ns for path in again] == [
        (path / "ci.npy").stat().st_mtime_ns for path in sharded
    ]  # a shard already written is never computed again


def test_a_study_built_on_the_workers_is_the_single_process_study(
    fleet: Fleet, micro_study: Path, micro_decomposition: Path, tmp_path: Path
) -> None:
    from dashboard.pipeline.build import build_study

    data_dir = tmp_path / "data"
    data_dir.mkdir()
    out = build_study(
        "micro", MICRO, data_dir, data_dir / "micro", CPU, decomposition_dir=micro_decomposition,
        workers="celery", settings=settings_of(fleet),
    )  # fmt: skip
    files = sorted(
        path.relative_to(micro_study) for path in micro_study.rglob("*") if path.is_file()
    )
    assert files == sorted(path.relative_to(out) for path in out.rglob("*") if path.is_file())
    differing = [
        str(name)
        for name in files
        if (micro_study / name).read_bytes() != (out / name).read_bytes()
    ]
    assert differing == ["study.json"], differing  # which records when, and how long things took
    assert without_times(json.loads((out / "study.json").read_text())) == without_times(
        json.loads((micro_study / "study.json").read_text())
    )


def without_times(value: object) -> object:
    """The manifest without its date and the seconds its stages took."""
    if isinstance(value, dict):
        return {
            key: without_times(item)
            for key, item in value.items()
            if key not in ("created_at", "timings", "seconds")
        }
    return value


def test_a_shard_that_fails_three_times_stops_the_build_naming_it(
    fleet: Fleet, decomposition, micro_decomposition: Path, tmp_path: Path
) -> None:
    from dashboard.pipeline.harvest_workers import HarvestShardError, harvest_on_workers

    windows = harvest_windows(decomposition, MICRO.harvest).copy()
    bad = plan_shards(len(windows), MICRO.harvest.batch_size, 1)[2]
    windows[bad.first_window + 5, 7] = len(decomposition.tokenizer) + 1000  # no such token
    with pytest.raises(HarvestShardError) as raised:
        harvest_on_workers(
            micro_decomposition, MICRO.harvest, tmp_path, windows, 1, settings_of(fleet)
        )
    message = str(raised.value)
    assert "harvest shard 2 (windows 128 to 192) failed 3 times: IndexError" in message
    retried = [name for name in ("harvest-1", "harvest-2") if "Retry in 1s" in fleet.log(name)]
    assert retried
    deadline = time.monotonic() + 60  # the other shards still finish, and the next run retries
    while len(list((tmp_path / "shards").glob("windows_*[0-9]"))) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert not (tmp_path / "shards" / bad.name).exists()


def test_a_worker_killed_mid_shard_leaves_its_shard_to_the_other(
    fleet: Fleet, decomposition, micro_decomposition: Path, tmp_path: Path
) -> None:
    from dashboard.pipeline.harvest_workers import harvest_on_workers

    windows = harvest_windows(decomposition, LONG)
    outcome: dict[str, object] = {}

    def harvest() -> None:
        try:
            outcome["shards"] = harvest_on_workers(
                micro_decomposition, LONG, tmp_path / "celery", windows, LONG_SHARD_BATCHES,
                settings_of(fleet),
            )  # fmt: skip
        except Exception as error:  # reported by the asserts below
            outcome["error"] = error

    earlier = {name: len(fleet.log(name)) for name in ("harvest-1", "harvest-2")}

    def log(name: str) -> str:  # of this test
        return fleet.log(name)[earlier[name] :]

    coordinator = threading.Thread(target=harvest)
    coordinator.start()
    deadline = time.monotonic() + 120
    while not task_ids(log("harvest-1"), "received"):  # then kill it in the middle of it
        assert time.monotonic() < deadline and coordinator.is_alive(), outcome
        time.sleep(0.02)
    killed = fleet.processes.pop("harvest-1")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(10)
    coordinator.join(240)
    assert not coordinator.is_alive() and "error" not in outcome, outcome
    killed_log = log("harvest-1")
    abandoned = set(task_ids(killed_log, "received")) - set(task_ids(killed_log, "succeeded"))
    assert len(abandoned) == 1, killed_log[-3000:]
    assert abandoned <= set(task_ids(log("harvest-2"), "succeeded"))  # redone there
    assert not list((tmp_path / "celery" / "shards").glob(".*"))  # no draft left behind
    local = run_harvest(decomposition, LONG, tmp_path / "local", windows, LONG_SHARD_BATCHES)
    assert shard_bytes(outcome["shards"]) == shard_bytes(local)
