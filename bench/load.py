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
import datetime
import json
import os
import platform
import shutil
import signal
import subprocess
import threading
from pathlib import Path
from typing import Any

from bench.load_modes import STEP_TIMEOUT, THINK_SECONDS, log, run_mode
from bench.serving import REPO, cli
from bench.smoke import parse_arguments

MICRO_CACHE = Path("/tmp/atlas-bench-micro")
KINDS = ("list", "filter", "cluster", "probe")


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
