"""The app served for real with the processes around it, and headless Chromium's settings: shared
by the browser tests, `bench.browser` and `bench.load`.

A `Fleet` is the processes of one deployment: the app (gunicorn via `spd-atlas serve`) and, in
the scaled mode, a private `redis-server` and the Celery workers (`spd-atlas worker --queue Q`).
Each runs in a process group of its own (Ctrl-C reaches only the caller, which stops them), logs
to `<data dir>/<name>.log`, is waited for until it serves, and is stopped with its whole group.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

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
REPO = Path(__file__).resolve().parents[1]
READY_SECONDS = 120.0  # a process that does not serve within this failed to start
STOP_SECONDS = 15.0  # a group still there this long after SIGTERM is killed
# `spd-atlas worker --queue NAME` -> the Celery queue it serves
CELERY_QUEUES = {"web": "celery", "gpu": "gpu", "harvest": "harvest"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(*args: str) -> list[str]:
    """`spd-atlas ARGS` with this interpreter (the venv's)."""
    return [sys.executable, "-m", "dashboard.cli", *args]


@dataclass
class ServedApp:
    url: str
    process: subprocess.Popen
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


@dataclass
class Fleet:
    """The processes of one deployment on `data_dir`, by name, stopped in reverse order."""

    data_dir: Path
    env: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    redis_port: int | None = None  # of the private Redis, once started (kept for a restart)
    started: list[str] = field(default_factory=list)  # names, in the order first started

    def log_path(self, name: str) -> Path:
        return self.data_dir / f"{name}.log"

    def log(self, name: str) -> str:
        return self.log_path(name).read_text(errors="replace")

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        """Start `argv` as `name`, in a process group of its own, its output in its log (a fresh
        log, or appended to on a restart)."""
        with self.log_path(name).open("a" if name in self.started else "w") as log_file:
            process = subprocess.Popen(
                argv,
                cwd=REPO,
                env={
                    "PATH": os.environ["PATH"],
                    "HOME": os.environ.get("HOME", "/tmp"),
                    "LANG": os.environ.get("LANG", "C.UTF-8"),
                    **self.env,
                },
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.processes[name] = process
        if name not in self.started:
            self.started.append(name)
        return process

    def wait_until(self, name: str, ready: Callable[[], bool], interval_s: float) -> None:
        """Poll `ready` until it holds; fail when `name` exits first or READY_SECONDS pass."""
        process = self.processes[name]
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = self.log(name)[-3000:]
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")
            if ready():
                return
            time.sleep(interval_s)
        raise RuntimeError(f"{name} did not serve within {READY_SECONDS:.0f} s")

    def start_app(self, workers: int) -> ServedApp:
        """`spd-atlas serve` with `workers` gunicorn workers, once it answers."""
        port = free_port()
        process = self.start("app", cli("serve", "--port", str(port), "--workers", str(workers)))
        url = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                with urllib.request.urlopen(url + "/_dash-layout", timeout=5):
                    return True
            except OSError:
                return False

        self.wait_until("app", answers, 0.3)
        return ServedApp(url, process, self.log_path("app"))

    def start_redis(self) -> int:
        """A private `redis-server` (on the port of the last one, when restarted); its port."""
        import redis

        port = self.redis_port = self.redis_port or free_port()
        self.start(
            "redis",
            [
                *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
                *("--save", "", "--appendonly", "no", "--dir", str(self.data_dir)),
            ],
        )
        client = redis.Redis(port=port)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        self.wait_until("redis", answers, 0.1)
        return port

    def start_worker(self, queue: str, name: str | None = None, *options: str) -> str:
        """`spd-atlas worker --queue QUEUE OPTIONS` (`web`, `gpu` or `harvest`) as `name`, once
        it serves its queue beside the workers already there; its name."""
        import redis

        from dashboard.runtime import live_workers

        client = redis.Redis(port=self.redis_port)
        name = name or f"worker-{queue}"
        before = live_workers(client, CELERY_QUEUES[queue])
        self.start(name, cli("worker", "--queue", queue, *options))
        self.wait_until(name, lambda: live_workers(client, CELERY_QUEUES[queue]) > before, 0.3)
        return name

    def start_scaled_services(self, secret: str) -> None:
        """The scaled mode's services: a private Redis (REDIS_URL and ATLAS_SECRET_KEY set for
        every process started after it), then the web and gpu workers."""
        port = self.start_redis()
        self.env.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", ATLAS_SECRET_KEY=secret)
        self.start_worker("web")
        self.start_worker("gpu")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of each process group (live members, with the children they reaped:
        gunicorn's workers, the embedded mode's job processes)."""
        groups = {process.pid: name for name, process in self.processes.items()}
        ticks: dict[str, int] = dict.fromkeys(groups.values(), 0)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # a process that ended meanwhile
            name = groups.get(int(fields[2]))  # the process group
            if name is not None:
                ticks[name] += sum(int(value) for value in fields[11:15])  # u, s, cu, cs time
        hertz = os.sysconf("SC_CLK_TCK")
        return {name: round(count / hertz, 1) for name, count in ticks.items()}

    def stop(self, name: str) -> None:
        """SIGTERM `name`'s process group (gunicorn, celery and redis stop on TERM; gunicorn
        first finishes running requests), SIGKILL what is left of it after STOP_SECONDS, and
        reap the leader."""
        process = self.processes.pop(name)
        try:
            pgid: int | None = os.getpgid(process.pid)
        except ProcessLookupError:
            pgid = None
        signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline:  # the leader, then members that outlive it
            if process.poll() is not None and not signal_group(pgid, 0):
                return
            time.sleep(0.2)
        print(
            f"  {name} still runs {STOP_SECONDS:.0f} s after SIGTERM: SIGKILL",
            file=sys.stderr,
            flush=True,
        )
        signal_group(pgid, signal.SIGKILL)
        if process.poll() is None:
            process.kill()
        process.wait(5)

    def stop_all(self) -> None:
        """Stop every process still running, in the reverse of the order they were first started
        (a restarted worker still stops before Redis)."""
        for name in reversed(self.started):
            if name in self.processes:
                self.stop(name)


def signal_group(pgid: int | None, signum: int) -> bool:
    """Send `signum` to a process group; whether any member was still there."""
    if pgid is None:
        return False
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def serving(
    data_dir: Path, study: str | None = None, extra: dict[str, str] | None = None, workers: int = 1
) -> Iterator[ServedApp]:
    """The app on a data directory (and ATLAS_STUDY, if given) until the block ends."""
    env = {"ATLAS_DATA_DIR": str(data_dir), **({"ATLAS_STUDY": study} if study else {})}
    fleet = Fleet(data_dir, {**env, **(extra or {})})
    try:
        yield fleet.start_app(workers)
    finally:
        fleet.stop_all()
