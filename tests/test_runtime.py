import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from dash import CeleryManager, DiskcacheManager
from flask import Flask
from flask_caching import Cache

from dashboard.runtime import background_manager, cache_config
from dashboard.settings import Settings

REDIS_URL = "redis://127.0.0.1:6379/0"


def embedded(tmp_path: Path) -> Settings:
    return Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path)})


def scaled(tmp_path: Path) -> Settings:
    return Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path), "REDIS_URL": REDIS_URL})


def test_embedded_mode_uses_files(tmp_path: Path) -> None:
    settings = embedded(tmp_path)
    assert cache_config(settings)["CACHE_TYPE"] == "FileSystemCache"
    assert cache_config(settings)["CACHE_DIR"] == str(tmp_path / "cache")
    assert isinstance(background_manager(settings), DiskcacheManager)


def test_scaled_mode_uses_redis_and_celery(tmp_path: Path) -> None:
    settings = scaled(tmp_path)
    config = cache_config(settings)
    assert config["CACHE_TYPE"] == "RedisCache"
    assert config["CACHE_REDIS_URL"] == REDIS_URL
    manager = background_manager(settings)
    assert isinstance(manager, CeleryManager)
    assert manager.handle.conf.broker_url == REDIS_URL


def memoized_round_trip(config: dict) -> tuple[list[int], int]:
    """Call a memoized function twice through flask-caching; return results and real calls."""
    server = Flask(__name__)
    cache = Cache(server, config=config)
    calls = []

    @cache.memoize()
    def square(value: int) -> int:
        calls.append(value)
        return value * value

    with server.app_context():
        cache.clear()
        results = [square(7), square(7), square(8)]
    return results, len(calls)


def test_file_cache_round_trip(tmp_path: Path) -> None:
    results, calls = memoized_round_trip(cache_config(embedded(tmp_path)))
    assert results == [49, 49, 64]
    assert calls == 2


@pytest.mark.integration
def test_redis_cache_round_trip_through_the_real_server(tmp_path: Path) -> None:
    config = cache_config(scaled(tmp_path)) | {
        "CACHE_KEY_PREFIX": f"atlas-test-{uuid.uuid4().hex}:"
    }
    results, calls = memoized_round_trip(config)
    assert results == [49, 49, 64]
    assert calls == 2
    server = Flask(__name__)
    cache = Cache(server, config=config)
    with server.app_context():
        cache.set("shared", {"cluster": 5})
        # a second client (as another web worker would be) reads what the first stored
        other = Cache(Flask("other"), config=config)
        with other.app.app_context():
            assert other.get("shared") == {"cluster": 5}
        cache.clear()


def test_pages_render_without_torch(tmp_path: Path) -> None:
    """Importing the app and building every page's layout never imports torch."""
    code = (
        "import sys, dash, app\n"
        "for page in dash.page_registry.values():\n"
        "    page['layout']()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('pages', len(dash.page_registry))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"ATLAS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    pages = Path(__file__).resolve().parents[1] / "dashboard" / "pages"
    registered = [f for f in pages.glob("*.py") if "register_page(" in f.read_text()]
    assert f"pages {len(registered)}" in result.stdout


def test_python_app_py_serves(tmp_path: Path) -> None:
    """`python app.py` (Dash's development server) answers on $PORT."""
    import socket
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=Path(__file__).resolve().parents[1],
        env={"ATLAS_DATA_DIR": str(tmp_path), "PORT": str(port), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/clusters", timeout=2
                ) as reply:
                    assert reply.status == 200
                    assert "SPD Atlas" in reply.read().decode()
                break
            except OSError:
                assert process.poll() is None, process.stdout.read()
                assert time.monotonic() < deadline, "python app.py did not answer within 60 s"
                time.sleep(0.3)
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "SPD Atlas: embedded mode" in output
    assert "ATLAS_DATA_DIR" in output


def test_a_result_stored_between_the_read_and_the_running_check_is_not_lost(
    tmp_path: Path,
) -> None:
    """Dash's order: get_result, then job_running; the job ends in between."""
    manager = background_manager(embedded(tmp_path))
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    job = str(running.pid)
    assert manager.get_result("key", job) is manager.UNDEFINED  # it runs, no result yet
    manager.handle.set("key", ["the result"])  # stored just before it ended
    running.kill()
    running.wait()
    assert manager.job_running(job)  # so the page polls once more ...
    assert manager.get_result("key", job) == ["the result"]  # ... and takes it
    assert not manager.job_running(job)


def dead_process_pid() -> int:
    """The pid of a process that ran and died (reaped: it no longer exists)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_job_whose_process_died_is_reported_unless_cancelled(tmp_path: Path) -> None:
    from dashboard.runtime import LOST_JOB_MESSAGE

    manager = background_manager(embedded(tmp_path))
    lost = manager.get_result(f"key-{uuid.uuid4().hex}", dead_process_pid())
    assert lost["background_callback_error"]["msg"] == LOST_JOB_MESSAGE
    cancelled = dead_process_pid()
    manager.terminate_job(cancelled)  # Cancel, or a newer request that replaces the job
    assert manager.get_result(f"key-{uuid.uuid4().hex}", cancelled) is manager.UNDEFINED
    running = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert manager.get_result(f"key-{uuid.uuid4().hex}", running.pid) is manager.UNDEFINED
    finally:
        running.kill()
        running.wait()


def test_a_scaled_job_with_no_worker_on_its_queue_is_reported(tmp_path: Path) -> None:
    import redis

    from dashboard.runtime import LOST_JOB_MESSAGE, WEB_QUEUE, presence_key

    redis.Redis.from_url(REDIS_URL).delete(presence_key(WEB_QUEUE))
    manager = background_manager(scaled(tmp_path))
    job = uuid.uuid4().hex  # a task id Celery has never seen: pending, as a queued job is
    assert manager.job_running(job)
    lost = manager.get_result(f"key-{uuid.uuid4().hex}", job)
    assert lost["background_callback_error"]["msg"] == LOST_JOB_MESSAGE
    cancelled = uuid.uuid4().hex
    manager.terminate_job(cancelled)
    assert manager.get_result(f"key-{uuid.uuid4().hex}", cancelled) is manager.UNDEFINED
