"""The resident inference process of the embedded mode, and the way to reach it.

One per data directory on this host: a fresh interpreter (spawned, never a fork of the web
process) that keeps the model loaded and answers every gunicorn worker's jobs over a local
socket, one job at a time. The server starts it and stops it (`dashboard.gunicorn_hooks`); a
job that finds none answering starts one (after a crash, or under a server started without the
hooks). It stops by itself when its owner, the server's process, is gone.

A job past its time limit stops the process (torch cannot be interrupted), so that the next job
gets a fresh one; a job whose process died is told so at once, by its closed connection.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import hmac
import logging
import os
import subprocess
import sys
import threading
import time
from contextlib import suppress
from dataclasses import dataclass
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path

from dashboard.settings import Settings

log = logging.getLogger("atlas.inference")

START_SECONDS = 60.0  # for a process just started to answer (imports, not the model)
BIND_SECONDS = 5.0  # for the socket of a process that is exiting to be released
LIMIT_EXIT_CODE = 70  # the process stopped itself: a job passed its time limit
SERVER_PID_VARIABLE = "ATLAS_SERVER_PID"  # the owner of a process a job starts


class ResidentUnavailableError(RuntimeError):
    """The resident process could not be reached or started."""


def address(settings: Settings) -> str:
    """An abstract Unix socket named after the data directory (no file, no path length limit)."""
    digest = hashlib.sha256(str(settings.data_dir).encode()).hexdigest()[:20]
    return f"\0spd-atlas-inference-{digest}"


def authkey(settings: Settings) -> bytes:
    """Only processes that know the data directory's secret key may send jobs."""
    return hmac.new(settings.secret_key.encode(), b"spd-atlas inference", "sha256").digest()


def connect(settings: Settings) -> Connection | None:
    """A connection to the running resident process, or None when none answers."""
    try:
        return Client(address(settings), family="AF_UNIX", authkey=authkey(settings))
    except (ConnectionRefusedError, FileNotFoundError, ConnectionResetError, EOFError):
        return None  # none listens, or one that is exiting (its socket not yet released)


def status(settings: Settings, seconds: float = 2.0) -> dict | None:
    """The resident process's pid and the operation it runs now (None when idle); None when no
    process answers; TimeoutError when one is connected but does not answer in `seconds`."""
    connection = connect(settings)
    if connection is None:
        return None
    with connection:
        connection.send({"operation": "ping"})
        if not connection.poll(seconds):
            raise TimeoutError(f"the inference process did not answer within {seconds:g} s")
        return connection.recv()["result"]


def start(settings: Settings, owner_pid: int, detached: bool = False) -> subprocess.Popen:
    """Start a resident process for `settings` owned by `owner_pid` (its log: our stderr).
    `detached`: not as a child of this process (a job's process, whose children Dash kills
    when the job ends), so the returned process is only the one that detaches it."""
    environment = {**os.environ, "ATLAS_DATA_DIR": str(settings.data_dir)}
    command = [sys.executable, "-m", "dashboard.inference.resident", "--owner", str(owner_pid)]
    return subprocess.Popen(
        ["setsid", "--fork", *command] if detached else command,
        env=environment,
        start_new_session=True,  # a signal to the web server's group does not reach it
        stdin=subprocess.DEVNULL,
    )


def owner_pid() -> int:
    """The process a resident started from here should outlive no longer than: the server."""
    return int(os.environ.get(SERVER_PID_VARIABLE) or os.getpid())


def connect_or_start(settings: Settings) -> Connection:
    """A connection to the resident process, starting one if none answers (one starter per
    data directory at a time, under a file lock)."""
    connection = connect(settings)
    if connection is not None:
        return connection
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / ".inference.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        connection = connect(settings)
        if connection is not None:
            return connection
        log.info("starting the resident inference process")
        start(settings, owner_pid(), detached=True).wait()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            connection = connect(settings)
            if connection is not None:
                return connection
            time.sleep(0.1)
    raise ResidentUnavailableError(
        f"the inference process did not answer within {START_SECONDS:g} s; the server's log "
        "says why"
    )


def stop(process: subprocess.Popen, grace_seconds: float = 5.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class RunningJob:
    operation: str
    started: float
    limit: float
    connection: Connection


class Resident:
    """The process's state: the service (one model), the job running now, and the watchdog."""

    def __init__(self, settings: Settings):
        from dashboard.inference.service import InlineService

        self.settings = settings
        self.service = InlineService(settings, keep=1)
        self.running: RunningJob | None = None

    def preload(self) -> None:
        """Load the configured study's model now, so that the first job does not wait for it."""
        from dashboard.app_state import current_study

        study = current_study().study
        if study is None:
            return
        started = time.perf_counter()
        log.info("loading the model of study %s ...", study.name)
        try:
            with self.service.lock:
                self.service.decomposition(study)
        except (OSError, LookupError, ValueError) as error:
            log.warning("the model of study %s is not loaded: %s", study.name, error)
            return
        log.info("model of study %s loaded in %.1f s", study.name, time.perf_counter() - started)

    def answer(self, connection: Connection) -> None:
        """Read one job from `connection`, run it, send its result or its error."""
        from dashboard.app_state import open_study
        from dashboard.inference.results import to_json
        from dashboard.inference.service import logged_job

        try:
            request = connection.recv()
        except (EOFError, OSError):
            return
        if request.get("operation") == "ping":  # which process, and the job it runs now
            running = self.running.operation if self.running is not None else None
            connection.send({"status": "ok", "result": {"pid": os.getpid(), "running": running}})
            return
        try:
            path = Path(request["study"])
            study = open_study(path, (path / "study.json").stat().st_mtime_ns)
            with self.service.lock:
                if connection.poll():  # the job was cancelled while it waited: its client left
                    log.info("job %s dropped: its client left (cancelled)", request["operation"])
                    return
                connection.send({"status": "started", "pid": os.getpid()})
                self.running = RunningJob(
                    request["operation"], time.monotonic(), request["limit"], connection
                )
                try:
                    with logged_job(request["operation"], study):
                        result = self.service.compute(
                            study, request["operation"], request["arguments"]
                        )
                finally:
                    self.running = None
            reply = {"status": "ok", "result": to_json(result)}
        except (ValueError, LookupError) as error:  # the operation refused its input
            status = "lookup" if isinstance(error, LookupError) else "input"
            reply = {"status": status, "message": str(error)}
        except Exception as error:  # reported to the job, which reports it
            log.exception("job %s failed", request.get("operation"))
            reply = {"status": "failed", "message": f"{type(error).__name__}: {error}"}
        try:
            connection.send(reply)
        except OSError:
            log.info(
                "job %s ended after its client left (cancelled): result dropped",
                request.get("operation"),
            )

    def watch(self, owner: int) -> None:
        """Stop the process when a job passes its limit, or when the owner is gone."""
        while True:
            time.sleep(0.25)
            job = self.running
            if job is not None and time.monotonic() - job.started > job.limit:
                message = (
                    f"the job ({job.operation}) passed its time limit of {job.limit:g} s and "
                    "was stopped; the next job starts a fresh inference process"
                )
                log.error(message)
                with suppress(OSError):
                    job.connection.send({"status": "limit", "message": message})
                os._exit(LIMIT_EXIT_CODE)
            if not process_alive(owner):
                log.info("the server (pid %d) is gone: stopping", owner)
                os._exit(0)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def serve(settings: Settings, owner: int) -> None:
    """Listen for jobs until the owner is gone; one thread per connection, one job at a time."""
    listener = None
    deadline = time.monotonic() + BIND_SECONDS  # one that is exiting releases its socket soon
    while listener is None:
        try:
            listener = Listener(address(settings), family="AF_UNIX", authkey=authkey(settings))
        except OSError:
            if time.monotonic() > deadline:  # another resident process serves this directory
                log.info("an inference process already serves %s", settings.data_dir)
                return
            time.sleep(0.1)
    resident = Resident(settings)
    log.info("inference process %d serving %s", os.getpid(), settings.data_dir)
    threading.Thread(target=resident.watch, args=(owner,), daemon=True).start()
    threading.Thread(target=resident.preload, daemon=True).start()
    while True:
        try:
            connection = listener.accept()
        except (OSError, EOFError, AuthenticationError) as error:  # a client without the key
            log.warning("a connection was refused: %s", error)
            continue
        threading.Thread(target=answer_then_close, args=(resident, connection), daemon=True).start()


def answer_then_close(resident: Resident, connection: Connection) -> None:
    try:
        resident.answer(connection)
    finally:
        connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owner", type=int, required=True, help="stop when this pid is gone")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(name)s: %(message)s")
    serve(Settings.from_env(), args.owner)


if __name__ == "__main__":
    main()
