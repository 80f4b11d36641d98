"""One mode of `bench.load`: its processes started (`bench.serving.Fleet`), levels of concurrent
users run against it, each level summarized, and the servers' logs searched for trouble."""

from __future__ import annotations

import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bench.load_recording import WARMUP_TIMEOUT, Recording, record
from bench.load_users import Step, User, short
from bench.serving import Fleet

THINK_SECONDS = 0.2
STEP_TIMEOUT = 30.0  # s for a whole view (a probe: from the click to its result)
MAX_STEPS_PER_LEVEL = 20_000  # a bound on requests, whatever the speed
SLOW_MS = 1000.0
SECRET = "bench-load-secret"  # ATLAS_SECRET_KEY of the scaled mode (shared by its processes)
LOG_PATTERNS = (
    "WORKER TIMEOUT",
    "Traceback",
    "[ERROR]",
    "ERROR/",
    "database is locked",
    "max number of clients",
    "Too many open files",
    "Connection refused",
)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_mode(mode: str, data_dir: Path, study: Path, web_workers: int) -> tuple[Fleet, str]:
    """The mode's processes, started in `data_dir` (stopped again if one fails); the app's URL."""
    fleet = Fleet(data_dir, {"ATLAS_DATA_DIR": str(data_dir), "ATLAS_STUDY": str(study)})
    try:
        if mode == "scaled":
            fleet.start_scaled_services(SECRET)
        return fleet, fleet.start_app(1 if mode == "embedded" else web_workers).url
    except BaseException:
        fleet.stop_all()
        raise


def cpu_busy(seconds: float = 2.0) -> float | None:
    """The busy share of all CPUs over `seconds` (from /proc/stat), before a mode starts."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle and iowait
        return sum(fields), idle

    try:
        total0, idle0 = sample()
        time.sleep(seconds)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return round(1 - (idle1 - idle0) / max(total1 - total0, 1), 2)


def log_findings(data_dir: Path) -> dict:
    """Counts of tell-tale lines (worker timeouts, tracebacks, errors) in each process log."""
    findings: dict[str, dict] = {}
    for path in sorted(data_dir.glob("*.log")):
        text = path.read_text(errors="replace")
        counts = {pattern: text.count(pattern) for pattern in LOG_PATTERNS if pattern in text}
        if counts:
            findings[path.name] = counts
    return findings


def run_level(
    base: str,
    recording: Recording,
    users: int,
    seconds: float,
    kinds: tuple[str, ...],
    stop: threading.Event,
) -> tuple[list[Step], float, float]:
    """`users` users for `seconds` (steps under way then finish, within STEP_TIMEOUT): their
    steps, the level's duration and this process's CPU seconds."""
    steps: list[Step] = []
    lock = threading.Lock()
    started = time.monotonic()
    deadline = started + seconds
    budget = [MAX_STEPS_PER_LEVEL]
    cpu = time.process_time()

    def run_user(number: int) -> None:
        user = User(number, base, recording, seed=number * 7919 + users)
        order = list(kinds)
        offset = user.random.randrange(len(order))
        time.sleep(user.random.uniform(0, THINK_SECONDS))
        index = 0
        try:
            while time.monotonic() < deadline and not stop.is_set():
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                step = user.step(order[(offset + index) % len(order)], STEP_TIMEOUT)
                index += 1
                with lock:
                    steps.append(step)
                if stop.wait(user.random.uniform(0.5, 1.5) * THINK_SECONDS):
                    return
        finally:
            user.connection.close()

    threads = [
        threading.Thread(target=run_user, args=(n,), daemon=True, name=f"user-{n}")
        for n in range(users)
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():  # join in slices: Ctrl-C stays responsive
                thread.join(0.5)
    except BaseException:
        stop.set()  # the users stop before their servers do
        raise
    return steps, time.monotonic() - started, time.process_time() - cpu


def warm_up(base: str, recording: Recording, kinds: tuple[str, ...]) -> list[str]:
    """One user, one step of each kind (the first probe loads the model); its errors."""
    user = User(-1, base, recording, seed=1)
    try:
        return [
            f"{kind}: {step.error}"
            for kind in kinds
            if (step := user.step(kind, WARMUP_TIMEOUT)).error
        ]
    finally:
        user.connection.close()


BUSY = "The server is busy"  # the embedded mode's refusal of a job beyond one per core


def summarize(steps: list[Step], seconds: float, kinds: tuple[str, ...]) -> dict:
    pages = {}
    for kind in kinds:
        mine = [step for step in steps if step.kind == kind]
        ok = np.array([s.seconds * 1000 for s in mine if s.error is None])
        busy = sum(1 for s in mine if s.error is not None and BUSY in s.error)
        pages[kind] = {
            "requests": len(mine),
            "http_requests": sum(s.http_requests for s in mine),
            # completed views only: a refusal or an error is not throughput
            "throughput_rps": round(len(ok) / seconds, 2) if seconds else 0.0,
            **{
                f"p{q}_ms": round(float(np.percentile(ok, q)), 1) if len(ok) else None
                for q in (50, 95, 99)
            },
            "errors": sum(1 for s in mine if s.error is not None) - busy,
            "busy_refusals": busy,
        }
    return pages


def run_mode(
    mode: str,
    study: Path,
    levels: list[int],
    seconds: float,
    kinds: tuple[str, ...],
    web_workers: int,
    keep: bool,
    stop: threading.Event,
    recording: Recording | None,
) -> tuple[dict, Recording]:
    """One mode started in a fresh data dir, recorded from (the run's first), warmed up and put
    under each level of users in turn; its figures, and the recording for the next mode."""
    busy = cpu_busy()  # others' work on this machine shows here
    data_dir = Path(tempfile.mkdtemp(prefix=f"atlas-load-{mode}-"))
    log(f"{mode}: starting in {data_dir} (CPUs {busy if busy is None else f'{busy:.0%}'} busy) ...")
    fleet, base = start_mode(mode, data_dir, study, web_workers)
    errors_seen = False
    try:
        if recording is None:
            log(f"{mode}: recording the callbacks from headless Chromium ...")
            recording = record(base)
            log(
                f"{mode}: recorded {len(recording.cluster_sections)} cluster sections "
                f"({', '.join(short(body['output']) for body in recording.cluster_sections)}), "
                f"{len(recording.cluster_ids)} clusters, probe polled every "
                f"{recording.probe_interval_s:g} s"
            )
        warm = warm_up(base, recording, kinds)
        if warm:
            log(f"{mode}: warm-up errors: {warm}")
        result: dict[str, Any] = {
            "web_workers": 1 if mode == "embedded" else web_workers,
            "cpu_busy_before_start": busy,
            "warmup_errors": warm,
            "levels": {},
        }
        messages: Counter[str] = Counter()
        per_level = seconds / len(levels)
        for users in levels:
            if stop.is_set():
                break
            server_cpu = fleet.cpu_seconds()
            steps, elapsed, client_cpu = run_level(base, recording, users, per_level, kinds, stop)
            server_cpu = {
                name: round(seconds - server_cpu.get(name, 0.0), 1)
                for name, seconds in fleet.cpu_seconds().items()
            }
            pages = summarize(steps, elapsed, kinds)
            result["levels"][str(users)] = {
                "seconds": round(elapsed, 1),
                # CPU seconds spent in the level, per process group (2 cores: 2 per second)
                "server_cpu_s": server_cpu,
                "client_cpu_s": round(client_cpu, 1),  # this load generator's own
                "pages": pages,
            }
            messages.update(f"{users} users, {s.kind}: {s.error}" for s in steps if s.error)
            log(
                f"{mode:8s} {users:3d} users {elapsed:5.1f} s | "
                + " | ".join(
                    f"{kind} {p['requests']} req {p['throughput_rps']}/s "
                    f"p95 {p['p95_ms']} ms {p['errors']} err"
                    for kind, p in pages.items()
                )
                + f" | server CPU {sum(server_cpu.values()):.1f} s"
            )
        result["first_level_p95_over_1s"] = first_slow(result["levels"], kinds)
        result["first_level_p95_over_1s_by_page"] = {
            kind: first_slow(result["levels"], (kind,)) for kind in kinds
        }
        result["errors"] = dict(messages.most_common())
        errors_seen = bool(messages or warm)
    finally:
        fleet.stop_all()
        result_logs = log_findings(data_dir)
        if keep or errors_seen:
            log(f"{mode}: logs kept in {data_dir}")
        else:
            shutil.rmtree(data_dir, ignore_errors=True)
    result["server_log_findings"] = result_logs
    result["data_dir"] = str(data_dir) if (keep or errors_seen) else None
    return result, recording


def first_slow(levels: dict, kinds: tuple[str, ...]) -> int | None:
    """The lowest concurrency at which a page of `kinds` has p95 above 1 s (or errors only)."""
    for users, level in levels.items():
        for kind in kinds:
            page = level["pages"][kind]
            p95 = page["p95_ms"]
            if (p95 is not None and p95 > SLOW_MS) or (p95 is None and page["errors"]):
                return int(users)
    return None
