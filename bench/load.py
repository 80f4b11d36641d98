"""Load: many simulated researchers against the served app, embedded mode beside scaled mode.

Each mode is started for real, one after the other, on loopback only, each in a fresh data dir:
embedded is `spd-atlas serve --workers 1` (file cache, background jobs in-process); scaled is a
private `redis-server`, `spd-atlas worker --queue web`, `spd-atlas worker` (queue `gpu`) and
`spd-atlas serve --workers 2` with REDIS_URL and a fixed ATLAS_SECRET_KEY. Every process is
started in a process group of its own and stopped at the end (also on Ctrl-C or SIGTERM).

The callback payloads are recorded once from a real headless Chromium (the cluster list, a
filter and sort, a cluster page and a probe) and replayed from threads over keep-alive
`http.client` connections, each user with a page load's own signed `endId`:

- list: the list page, its first screen (map, distribution, first block of rows) with its
  layout: the pages router callback for `/clusters`;
- filter: the table's rows callback with a filter (`modules` `*mlp*`) and a sort (token entropy,
  descending: a click on its header);
- cluster: a cluster page, varied over the study's clusters: the pages router callback, then
  each section callback with the values of the layout it returned (one after the other on one
  connection; a browser sends the sections at once);
- probe: the "admit" callback (writes the request store), the background callback's start
  (answered with signed `cacheKey` and `job` handles) and its polls at the callback's interval
  (Dash's default 1 s) until the result; a unique text each time, so no cache answers it.

A step's latency is the user's wait for the whole view (a probe: click to result; so its p50 is
at least one poll interval). Users think ~0.2 s between steps. An error is an HTTP status other
than the one the browser got (a poll's 204 included: the job ended and its result was not read),
a payload without a Dash response, a page that names a problem (a cluster not found, a job not
admitted or failed), or a view not complete within 30 s (a probe: no result 30 s after the
click). Levels last --seconds / (number of levels); views under way at the end then finish.

Prints one JSON object (and writes it to --out): per mode, per level, per page kind: requests
(completed views), HTTP requests, throughput, p50/p95/p99 in ms, errors; per mode the lowest
level at which a page's p95 exceeds 1 s; and scaled/embedded throughput per page and level.

Run: python -m bench.load [--study DIR] [--seconds 60] [--levels 1,5,10,25,50] [--out FILE]
     [--smoke] (one user for 4 s per mode)
     (without --study, the micro study is built once into /tmp/atlas-bench-micro)
"""

from __future__ import annotations

import argparse
import copy
import datetime
import http.client
import json
import os
import platform
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.smoke import parse_arguments

REPO = Path(__file__).resolve().parents[1]
MICRO_CACHE = Path("/tmp/atlas-bench-micro")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
KINDS = ("list", "filter", "cluster", "probe")
THINK_SECONDS = 0.2
STEP_TIMEOUT = 30.0  # s for a whole view (a probe: from the click to its result)
WARMUP_TIMEOUT = 180.0  # the first probe of a mode loads the model
MAX_STEPS_PER_LEVEL = 20_000  # a bound on requests, whatever the speed
SLOW_MS = 1000.0
SECRET = "bench-load-secret"  # ATLAS_SECRET_KEY of the scaled mode (shared by its processes)
UPDATE = "/_dash-update-component"
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
FILTER = ("modules", "*mlp*")
SORT = "-token_entropy"  # a number column's first click on its header: descending
TEXTS = (
    "The river flows through the old city",
    "The cat sat on the mat near the door",
    "A small boat crossed the lake at dawn",
    "She wrote the letter and sent it home",
    "The children played in the park all day",
)
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------- processes


@dataclass
class Fleet:
    """The processes of one mode, each in a process group of its own, stopped in reverse."""

    data_dir: Path
    env: dict[str, str]
    processes: list[tuple[str, subprocess.Popen]] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log_file = (self.data_dir / f"{name}.log").open("a")
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
            start_new_session=True,  # its own group: Ctrl-C reaches only us; we stop it
        )
        log_file.close()
        self.processes.append((name, process))
        return process

    def check_alive(self, name: str, process: subprocess.Popen) -> None:
        if process.poll() is not None:
            tail = (self.data_dir / f"{name}.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail}")

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time so far of each process group (live members, with the children they reaped:
        gunicorn's workers, the embedded mode's job processes)."""
        groups = {process.pid: name for name, process in self.processes}
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

    def stop(self) -> None:
        for name, process in reversed(self.processes):
            stop_group(process, name)
        self.processes.clear()


def signal_group(pgid: int | None, signum: int) -> bool:
    """Send `signum` to a process group; whether any member was still there."""
    if pgid is None:
        return False
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    return True


def stop_group(process: subprocess.Popen, name: str) -> None:
    """SIGTERM the process group (gunicorn, celery and redis stop on TERM), SIGKILL what is
    left of it after 15 s, and reap the leader."""
    try:
        pgid: int | None = os.getpgid(process.pid)
    except ProcessLookupError:
        pgid = None
    signal_group(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the leader, then members that outlive it
        if process.poll() is not None and not signal_group(pgid, 0):
            return
        time.sleep(0.2)
    log(f"  {name} still runs 15 s after SIGTERM: SIGKILL")
    signal_group(pgid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait(5)


def cli(*args: str) -> list[str]:
    """`spd-atlas ARGS` with this interpreter (the venv's)."""
    return [sys.executable, "-m", "dashboard.cli", *args]


def wait_http(fleet: Fleet, name: str, process: subprocess.Popen, url: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        fleet.check_alive(name, process)
        try:
            with urllib.request.urlopen(url + "/_dash-layout", timeout=5):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{name} did not answer within 120 s")


def start_app(fleet: Fleet, workers: int) -> str:
    port = free_port()
    process = fleet.start("app", cli("serve", "--port", str(port), "--workers", str(workers)))
    url = f"http://127.0.0.1:{port}"
    wait_http(fleet, "app", process, url)
    return url


def start_redis(fleet: Fleet) -> int:
    import redis

    port = free_port()
    process = fleet.start(
        "redis",
        [
            *("redis-server", "--bind", "127.0.0.1", "--port", str(port)),
            *("--save", "", "--appendonly", "no", "--dir", str(fleet.data_dir)),
        ],
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        fleet.check_alive("redis", process)
        try:
            client.ping()
            return port
        except redis.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("the private redis-server did not start")


def start_worker(fleet: Fleet, queue: str, redis_port: int) -> None:
    import redis

    from dashboard.runtime import queue_served

    name = f"worker-{queue}"
    process = fleet.start(name, cli("worker", "--queue", queue))
    client = redis.Redis(port=redis_port)
    queue_name = {"web": "celery", "gpu": "gpu"}[queue]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        fleet.check_alive(name, process)
        if queue_served(client, queue_name):
            return
        time.sleep(0.3)
    raise RuntimeError(f"no {queue} worker announced itself within 120 s")


def start_mode(mode: str, data_dir: Path, study: Path, web_workers: int) -> tuple[Fleet, str]:
    env = {"ATLAS_DATA_DIR": str(data_dir), "ATLAS_STUDY": str(study)}
    if mode == "embedded":
        fleet = Fleet(data_dir, env)
        try:
            return fleet, start_app(fleet, 1)
        except BaseException:
            fleet.stop()
            raise
    fleet = Fleet(data_dir, env)
    try:
        port = start_redis(fleet)
        fleet.env.update(REDIS_URL=f"redis://127.0.0.1:{port}/0", ATLAS_SECRET_KEY=SECRET)
        start_worker(fleet, "web", port)
        start_worker(fleet, "gpu", port)
        return fleet, start_app(fleet, web_workers)
    except BaseException:
        fleet.stop()
        raise


def ensure_micro_study() -> Path:
    """Build (or find current) the micro study under MICRO_CACHE; a rerun takes seconds."""
    MICRO_CACHE.mkdir(parents=True, exist_ok=True)
    log(f"micro study in {MICRO_CACHE} (built once, checked current on reruns) ...")
    built = subprocess.run(
        cli("build", "--preset", "micro", "--device", "cpu"),
        cwd=REPO,
        env={**os.environ, "ATLAS_DATA_DIR": str(MICRO_CACHE)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if built.returncode != 0:
        raise SystemExit(f"spd-atlas build --preset micro failed:\n{built.stdout[-3000:]}")
    return MICRO_CACHE / "micro"


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


# ---------------------------------------------------------------- recording


@dataclass
class Recording:
    """Callback bodies as a real Chromium sent them."""

    list_page: dict
    rows_filter: dict
    cluster_router: dict
    cluster_sections: list[dict]
    cluster_ids: list[int]
    probe_admit: dict
    probe_start: dict
    probe_interval_s: float
    no_content_ok: set[str]  # outputs the browser got 204 (PreventUpdate) for


def end_id_of(url: str) -> str | None:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query).get("endId", [None])[0]


def record(url: str) -> Recording:
    """Browse the app once in headless Chromium and keep every callback POST."""
    from playwright.sync_api import sync_playwright

    posts: list[dict] = []

    def on_response(response) -> None:
        if UPDATE not in response.url or response.request.method != "POST":
            return
        try:
            answer = response.json() if response.status == 200 else None
        except Exception:  # a body dropped by a navigation: only the request is needed then
            answer = None
        posts.append(
            {
                "url": response.url,
                "status": response.status,
                "body": json.loads(response.request.post_data or "{}"),
                "answer": answer,
            }
        )

    grid_ids = "#clusters-grid .atlas-table-row .atlas-table-pinned a"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page()
            page.on("response", on_response)
            page.goto(url + "/clusters")
            page.locator(grid_ids).first.wait_for(timeout=120_000)
            page.wait_for_load_state("networkidle")
            column, expression = FILTER
            page.locator(f'#clusters-grid .atlas-table-filter[data-column="{column}"] input').fill(
                expression
            )
            page.wait_for_timeout(1000)  # the filter's debounce is 400 ms
            page.wait_for_load_state("networkidle")
            header = page.locator(
                f'#clusters-grid .atlas-table-title[data-column="{SORT.removeprefix("-")}"]'
            )
            for _ in range(50):  # columns out of view are not drawn: scroll sideways to it
                if header.count():
                    break
                page.locator("#clusters-grid .atlas-table-scroll").evaluate(
                    "element => { element.scrollLeft += element.clientWidth / 2; }"
                )
                page.wait_for_timeout(100)
            header.click()
            page.wait_for_timeout(1000)
            page.wait_for_load_state("networkidle")
            first = page.locator(grid_ids).first.inner_text().strip()
            page.goto(f"{url}/cluster/{first}")  # what the grid's link does: a page load
            page.locator("#cluster-title").wait_for(timeout=60_000)
            page.wait_for_timeout(1000)
            page.wait_for_load_state("networkidle")
            page.goto(url + "/probe")
            page.locator("#probe-text").fill(TEXTS[0] + " (recorded)")
            page.wait_for_load_state("networkidle")
            page.locator("#probe-run").click()
            page.locator("#probe-tokens").wait_for(timeout=WARMUP_TIMEOUT * 1000)
            page.wait_for_load_state("networkidle")
        finally:
            browser.close()

    bad = [post for post in posts if post["status"] not in (200, 204)]
    if bad:
        raise RuntimeError(f"the browser got errors: {[(p['status'], p['url']) for p in bad]}")

    def output(post: dict) -> str:
        return post["body"].get("output", "")

    def router_path(post: dict) -> str:
        if "_pages_content.children" not in output(post):
            return ""
        values = {i["property"]: i.get("value") for i in post["body"]["inputs"]}
        return values.get("pathname") or ""

    def asked(post: dict) -> dict:
        return (post["body"]["inputs"][0].get("value") or {}).get("query") or {}

    lists = [post for post in posts if router_path(post) == "/clusters" and post["answer"]]
    filtered = [
        post
        for post in posts
        if "clusters-grid.block" in output(post)
        and FILTER[0] in (asked(post).get("filters") or {})
        and asked(post).get("sort") == SORT
    ]
    if not lists or not filtered:
        raise RuntimeError("the recording lacks the list page or its filtered rows")
    ids = [int(row["cluster"]) for row in list_rows(lists[0]["answer"]["response"])]

    routers = [post for post in posts if router_path(post).startswith("/cluster/")]
    if not routers:
        raise RuntimeError("the recording lacks the cluster page")
    page_load = end_id_of(routers[0]["url"])
    sections: dict[str, dict] = {}
    for post in posts:
        if end_id_of(post["url"]) == page_load and post is not routers[0]:
            sections.setdefault(output(post), post["body"])
    admits = [post for post in posts if "probe-request.data" in output(post)]
    starts = [
        post
        for post in posts
        if "probe-result.children" in output(post) and "cacheKey=" not in post["url"]
    ]
    if not admits or not starts:
        raise RuntimeError("the recording lacks the probe's admit and start callbacks")
    with urllib.request.urlopen(url + "/_dash-dependencies", timeout=30) as response:
        dependencies = json.load(response)
    interval = next(
        (
            d["background"]["interval"]
            for d in dependencies
            if d["output"] == output(starts[0]) and d.get("background")
        ),
        1000,
    )
    return Recording(
        list_page=lists[0]["body"],
        rows_filter=filtered[-1]["body"],
        cluster_router=routers[0]["body"],
        cluster_sections=list(sections.values()),
        cluster_ids=ids,
        probe_admit=admits[-1]["body"],
        probe_start=starts[-1]["body"],
        probe_interval_s=interval / 1000,
        no_content_ok={output(post) for post in posts if post["status"] == 204},
    )


# ---------------------------------------------------------------- replay


class StepError(Exception):
    """Why a step failed, in words fit for counting (no per-request values)."""


class Connection:
    """One user's keep-alive HTTP connection (a stale one is reopened once, as browsers do)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.connection: http.client.HTTPConnection | None = None
        self.requests = 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(
        self, method: str, path: str, body: bytes | None, deadline: float
    ) -> tuple[int, bytes]:
        """One request that must be answered before `deadline` (time.monotonic())."""
        for attempt in (0, 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("no full view in time")
            fresh = self.connection is None
            if fresh:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=left)
            elif self.connection.sock is not None:
                self.connection.sock.settimeout(left)
            try:
                self.requests += 1
                self.connection.request(method, path, body=body, headers=JSON_HEADERS)
                response = self.connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if fresh or attempt:
                    raise StepError(f"connection failed: {type(e).__name__}") from None
            except TimeoutError:
                self.close()
                raise StepError("no full view in time") from None
            except OSError as error:
                self.close()
                raise StepError(f"connection failed: {type(error).__name__}") from None
        raise AssertionError("not reached")


def layout_props(node: Any, found: dict[str, dict]) -> dict[str, dict]:
    """id -> props of every component in a layout (as the router callback returns it)."""
    if isinstance(node, dict):
        props = node.get("props")
        if isinstance(props, dict) and isinstance(props.get("id"), str):
            found[props["id"]] = props
        for value in node.values():
            layout_props(value, found)
    elif isinstance(node, list):
        for value in node:
            layout_props(value, found)
    return found


def list_rows(response: dict) -> list[dict]:
    """The first block of rows in the list page's layout (as the router callback returns it)."""
    block = layout_props(response, {}).get("clusters-grid", {}).get("block") or {}
    return block.get("rows") or []


def with_values(body: dict, values: dict[tuple[str, str], Any]) -> dict:
    """`body` with each input and state value set from `values` where it names it."""
    body = copy.deepcopy(body)
    for entry in [*body.get("inputs", []), *body.get("state", [])]:
        if isinstance(entry, dict) and (entry.get("id"), entry.get("property")) in values:
            entry["value"] = values[(entry["id"], entry["property"])]
    return body


def without_values(body: dict) -> dict:
    """A poll's body: the renderer nulls every input and state value."""
    body = copy.deepcopy(body)
    for entry in [*body.get("inputs", []), *body.get("state", [])]:
        if isinstance(entry, dict):
            entry["value"] = None
    return body


@dataclass
class Step:
    kind: str
    started: float
    seconds: float
    http_requests: int
    error: str | None


class User:
    """One simulated researcher: list, filter, a cluster page, a probe, over and over."""

    def __init__(self, number: int, base: str, recording: Recording, seed: int):
        parts = urllib.parse.urlsplit(base)
        self.number = number
        self.base = base
        self.recording = recording
        self.connection = Connection(parts.hostname, parts.port)
        self.random = random.Random(seed)
        self.clicks = 0
        self.probes = 0
        self.end_id = ""
        self.deadline = 0.0  # of the step under way
        self.poll_body = json.dumps(without_values(recording.probe_start)).encode()
        self.list_body = json.dumps(recording.list_page).encode()
        self.filter_body = json.dumps(recording.rows_filter).encode()

    def load_page(self) -> None:
        """A page load: the HTML carries the signed `end_id` every callback then echoes."""
        status, data = self.connection.request("GET", "/clusters", None, self.deadline)
        if status != 200:
            raise StepError(f"page load: HTTP {status}")
        found = re.search(
            rb'<script id="_dash-config" type="application/json">(.*?)</script>', data
        )
        if not found:
            raise StepError("page load: no _dash-config")
        self.end_id = json.loads(found.group(1))["end_id"]

    def update_path(self, **handles: str) -> str:
        query = {"endId": self.end_id, **handles}
        return UPDATE + "?" + urllib.parse.urlencode(query, safe="~")

    def callback(
        self, body: bytes, output: str, parse: bool = True, poll: bool = False, **handles: str
    ) -> dict | None:
        """POST one callback; its JSON answer, or None for a 204 the browser got too (or not
        `parse`: then only checked to hold a Dash response, which saves this process's CPU)."""
        status, data = self.connection.request(
            "POST", self.update_path(**handles), body, self.deadline
        )
        if status == 204 and poll:
            raise StepError("probe: a poll got 204 (job ended, its result not read)")
        if status == 204 and output in self.recording.no_content_ok:
            return None
        if status != 200:
            raise StepError(f"{short(output)}: HTTP {status}")
        if not parse:
            if b'"response"' not in data[:64] or not data.rstrip().endswith(b"}"):
                raise StepError(f"{short(output)}: no response in the payload")
            return None
        try:
            answer = json.loads(data)
        except ValueError:
            raise StepError(f"{short(output)}: not JSON") from None
        if not isinstance(answer, dict):
            raise StepError(f"{short(output)}: not a Dash payload")
        return answer

    def list_page(self) -> None:
        answer = self.callback(self.list_body, self.recording.list_page["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("list: no response in the payload")
        if not list_rows(response):
            raise StepError("list: no rows in its first screen")

    def rows(self, body: bytes) -> None:
        answer = self.callback(body, self.recording.rows_filter["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("rows: no response in the payload")
        if response.get("clusters-message", {}).get("is_open"):
            raise StepError(f"rows: {response['clusters-message'].get('children')}")
        block = response["clusters-grid"]["block"]
        if not block.get("rows") or not block.get("count"):
            raise StepError("rows: no rows")

    def cluster(self) -> None:
        cluster = self.random.choice(self.recording.cluster_ids)
        router = with_values(
            self.recording.cluster_router, {("_pages_location", "pathname"): f"/cluster/{cluster}"}
        )
        answer = self.callback(json.dumps(router).encode(), router["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("cluster page: no response in the payload")
        props = layout_props(response, {})
        if props.get("cluster-store", {}).get("data", {}).get("cluster") != cluster:
            raise StepError("cluster page: not the cluster asked for")
        values = {
            (component, prop): value
            for component, found in props.items()
            for prop, value in found.items()
        }
        for section in self.recording.cluster_sections:
            body = with_values(section, values)
            self.callback(json.dumps(body).encode(), body["output"], parse=False)

    def probe(self) -> None:
        self.clicks += 1
        self.probes += 1
        admit = with_values(self.recording.probe_admit, {("probe-run", "n_clicks"): self.clicks})
        answer = self.callback(json.dumps(admit).encode(), admit["output"])
        admitted = (answer or {}).get("response", {})
        if admitted.get("probe-message", {}).get("is_open"):
            raise StepError(f"probe not admitted: {admitted['probe-message'].get('children')}")
        if "probe-request" not in admitted:
            raise StepError("probe not admitted: no request written")
        text = (
            f"{self.random.choice(TEXTS)}, said user {self.number} "
            f"for the {self.probes}th time ({secrets.token_hex(4)})."
        )
        start = with_values(
            self.recording.probe_start,
            {
                ("probe-request", "data"): admitted["probe-request"]["data"],
                ("probe-text", "value"): text,
            },
        )
        output = start["output"]
        answer = self.callback(json.dumps(start).encode(), output)
        if not answer or "cacheKey" not in answer or "job" not in answer:
            raise StepError("probe start: no cacheKey and job handles")
        handles = {"cacheKey": answer["cacheKey"], "job": answer["job"]}
        while True:
            time.sleep(self.recording.probe_interval_s)
            answer = self.callback(self.poll_body, output, poll=True, **handles)
            if answer is not None and "response" in answer:
                break
        result = answer["response"]
        message = result.get("probe-message", {})
        if message.get("is_open"):
            raise StepError(f"probe failed: {message.get('children')}")
        if "probe-result" not in result:
            raise StepError("probe: no result in the payload")

    def step(self, kind: str, timeout: float) -> Step:
        """One view of `kind`; a view not complete within `timeout` s is an error."""
        error = None
        started, before = time.monotonic(), self.connection.requests  # a failed page load counts
        try:
            if not self.end_id:
                self.deadline = time.monotonic() + timeout
                self.load_page()
                started, before = time.monotonic(), self.connection.requests
            self.deadline = started + timeout
            if kind == "list":
                self.list_page()
            elif kind == "filter":
                self.rows(self.filter_body)
            elif kind == "cluster":
                self.cluster()
            else:
                self.probe()
        except StepError as failure:
            error = str(failure)
            if error == "no full view in time":
                error = f"{kind}: no full view within {timeout:.0f} s"
        except Exception as failure:  # a malformed payload: count it, name its type
            error = f"{kind}: unexpected payload ({type(failure).__name__}: {failure})"[:200]
        return Step(
            kind,
            started,
            time.monotonic() - started,
            self.connection.requests - before,
            error,
        )


def short(output: str) -> str:
    """`..probe-result.children...probe-url.search..` -> `probe-result.children`."""
    first = output.strip(".").split("...")[0]
    return first.split("@")[0]


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
        fleet.stop()
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


def ratios(modes: dict) -> dict:
    """scaled/embedded throughput per page at each level both ran."""
    if not {"embedded", "scaled"} <= modes.keys():
        return {}
    out: dict[str, dict] = {}
    for users, scaled in modes["scaled"]["levels"].items():
        embedded = modes["embedded"]["levels"].get(users)
        if embedded is None:
            continue
        out[users] = {
            kind: (
                round(scaled["pages"][kind]["throughput_rps"] / base, 2)
                if (base := embedded["pages"][kind]["throughput_rps"])
                else None
            )
            for kind in scaled["pages"]
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--study", type=Path, help="study directory (default: the micro study)")
    parser.add_argument("--seconds", type=float, default=60.0, help="per mode, split over levels")
    parser.add_argument("--levels", default="1,5,10,25,50", help="concurrent users, rising")
    parser.add_argument("--modes", default="embedded,scaled", help="embedded, scaled or both")
    parser.add_argument(
        "--pages", default=",".join(KINDS), help="the page kinds users visit, in this order"
    )
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn workers, scaled")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and their logs")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parse_arguments(parser, {"seconds": 4.0, "levels": "1"})
    levels = [int(part) for part in args.levels.split(",") if part.strip()]
    modes = [part.strip() for part in args.modes.split(",") if part.strip()]
    kinds = tuple(part.strip() for part in args.pages.split(",") if part.strip())
    if not kinds or not set(kinds) <= set(KINDS):
        parser.error(f"--pages: some of {', '.join(KINDS)}")
    if not levels or min(levels) < 1 or not set(modes) <= {"embedded", "scaled"} or not modes:
        parser.error("--levels: positive integers; --modes: embedded and/or scaled")
    if args.web_workers < 2:
        parser.error("--web-workers: the scaled mode runs 2 or more")
    if "scaled" in modes and shutil.which("redis-server") is None:
        raise SystemExit("the scaled mode needs redis-server on PATH")

    def terminate(signum, _frame):  # SIGTERM/SIGHUP: stop like Ctrl-C, through the finally's
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    study = args.study.resolve() if args.study else ensure_micro_study()
    if not (study / "study.json").is_file():
        raise SystemExit(f"{study}: not a study (no study.json)")
    stop = threading.Event()
    result: dict[str, Any] = {
        "bench": "load",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "study": str(study),
        "levels": levels,
        "pages": list(kinds),
        "seconds_per_mode": args.seconds,
        "think_s": THINK_SECONDS,
        "step_timeout_s": STEP_TIMEOUT,
        "units": "requests: completed views of the page kind (a cluster page is its router and "
        "section callbacks, a probe its admit, start and polls); http_requests: their POSTs; "
        "throughput_rps: views per second; latency of views without error",
        "modes": {},
    }
    recording = None
    try:
        for mode in modes:
            result["modes"][mode], recording = run_mode(
                mode,
                study,
                levels,
                args.seconds,
                kinds,
                args.web_workers,
                args.keep,
                stop,
                recording,
            )
    except KeyboardInterrupt:
        stop.set()
        log("interrupted: every process was stopped")
        raise SystemExit(130) from None
    result["scaled_over_embedded_throughput"] = ratios(result["modes"])
    if "scaled" in result["modes"]:
        top = str(max(levels))
        errors = sum(
            page["errors"] for page in result["modes"]["scaled"]["levels"][top]["pages"].values()
        )
        result["goal"] = {
            "statement": f"zero errors at {top} concurrent users in scaled mode",
            "errors": errors,
            "met": errors == 0,
        }
    text = json.dumps(result, indent=1)
    print(text, flush=True)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
