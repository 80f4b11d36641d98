"""Time until each kind of page is fully drawn in real headless Chromium, against the empty
`/probe` page (the floor, best of its warm visits) in the same run.

The app is started for real (`spd-atlas serve --workers 1`, a fresh data directory, so its caches
start cold) on a study: the demo study by default (`spd-atlas build --preset demo`), `--study
DIR`, or `--synthetic`, bench.app's generated study of 20,000 clusters (no model: no probe and no
masked inference). Every visit is a fresh navigation: a cold one in a new browser context (no
cache), a warm one in the browser the warm visits share (its HTTP cache holds the scripts).

A page is drawn when no callback request is under way, no Dash component is loading, the page's
main content is present, every graph in view has drawn its plot and every grid in view has its
rows, and nothing (no request, no DOM change) has happened for 500 ms; its time is the moment of
the last request or DOM change, from the navigation's start (a probe or masked-inference result:
from the click on Run). Lower sections that load when scrolled to are not waited for; on cluster
pages they are then scrolled to, so that the slowest callback counts theirs.

Pages: the floor; `/clusters`; the 5 largest clusters and 15 others spread over the list; 3
subcomponent pages; 3 sample pages; a probe result of 128 tokens; a masked-inference result on
the 8 held-out prompts (one cluster ablated). Each is visited cold (first visit after the server
started) and warm (repeat visits).

Prints one JSON object: per page kind p50/p95 cold and warm, DOM elements when drawn, bytes
transferred, the ratio of p95 to the floor, the slowest callback request (from sent to the last
byte of its response, as the browser's network stack timed it) and the longest the application
worked on one (its `Server-Timing` header); and the goals (p95 at most 2.5x the floor, the
largest clusters at most 4x, no cluster-page callback served in over 1 s cold or 300 ms warm, at
most 1,500 DOM elements when first drawn), met or not.
One progress line per visit on stderr.
Run: python -m bench.browser [--study DIR | --synthetic] [--warm 3] [--smoke]

Over 400 lines by choice: the plan of pages, the watch script installed in each page, the
visits and the report are one measurement, read top to bottom; the served app and Chromium's
settings are shared with the browser tests (`bench/serving.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from playwright.sync_api import Browser, BrowserContext, Page, Request, sync_playwright
from playwright.sync_api import Error as PlaywrightError

from bench.serving import CHROMIUM, CHROMIUM_ARGS, serving
from bench.smoke import parse_arguments
from dashboard.analysis.study_analyses import analysis_settings
from dashboard.server_timing import server_duration_ms
from dashboard.settings import Settings
from dashboard.study import Study

FLOOR = "/probe"  # the empty probe page
PROBE_TOKENS = 128
QUIET_MS = 500  # nothing for this long: drawn (as Playwright's "networkidle")
PAGE_TIMEOUT_MS = 120_000  # a job's first run loads the model
FLOOR_LIMIT = 2.5
LARGEST_LIMIT = 4.0
DOM_LIMIT = 1500
CALLBACK_LIMIT_MS = {"cold": 1000, "warm": 300}  # a cluster page's slowest callback
NAVIGATIONS = ("floor", "clusters", "cluster_largest", "cluster", "component", "sample")
JOBS = ("probe_result", "graph_result", "infer_result")
# The page's main content, beyond what every page is checked for (graphs and grids in view).
READY = {
    "floor": "#probe-text",
    "clusters": "#clusters-grid .atlas-table-row",
    "cluster_largest": "#cluster-overview > *",
    "cluster": "#cluster-overview > *",
    "component": "#component-tokens > *",
    "sample": "#sample-text .token",
    "probe_result": "#probe-result > *",
    "graph_result": "#graph-result #graph-figure .nsewdrag",
    "infer_result": "#infer-result > *",
}
JOB_PAGE_READY = "#probe-run, #graph-run, #infer-run"  # a job's page, ready for its inputs
LAZY_PAGES = ("cluster", "cluster_largest")  # with lower sections filled once scrolled to

# Installed before any page script: counts fetches under way, notes the last DOM change and
# the last click (a job's start), and keeps every resource timing entry.
WATCH_JS = """
(() => {
  const state = { inflight: 0, lastFetchEnd: 0, lastMutation: 0, lastClick: 0 };
  window.__benchDrawn = state;
  performance.setResourceTimingBufferSize(100000);
  new MutationObserver(() => { state.lastMutation = performance.now(); }).observe(document, {
    childList: true, subtree: true, attributes: true, characterData: true,
  });
  document.addEventListener("click", () => { state.lastClick = performance.now(); }, true);
  const originalFetch = window.fetch;
  window.fetch = function (...args) {
    state.inflight += 1;
    return originalFetch.apply(this, args).finally(() => {
      state.inflight -= 1;
      state.lastFetchEnd = performance.now();
    });
  };
})();
"""

# The drawn figures once the page has been drawn and quiet, else false. `fromClick`: time from
# the last click, bytes of the requests since; else from the navigation's start.
DRAWN_JS = """
({ ready, quiet, fromClick }) => {
  const state = window.__benchDrawn;
  if (!state || state.inflight > 0) return false;
  if (document.querySelector('[data-dash-is-loading="true"]')) return false;
  if (!document.querySelector(ready)) return false;
  const inView = (element) => {
    const box = element.getBoundingClientRect();
    return box.height > 0 && box.width > 0 && box.top < innerHeight && box.bottom > 0;
  };
  for (const graph of document.querySelectorAll(".dash-graph")) {
    if (inView(graph) && !graph.querySelector(".main-svg")) return false;
  }
  for (const grid of document.querySelectorAll(".ag-root-wrapper")) {
    if (!inView(grid)) continue;
    const waiting = grid.querySelectorAll(".ag-overlay-loading-wrapper, .ag-loading");
    if ([...waiting].some(inView)) return false;
  }
  const since = fromClick ? state.lastClick : 0;
  let last = Math.max(state.lastFetchEnd, state.lastMutation);
  let bytes = 0;
  const entries = [
    ...performance.getEntriesByType("navigation"),
    ...performance.getEntriesByType("resource"),
  ];
  for (const entry of entries) {
    last = Math.max(last, entry.responseEnd);
    if (entry.startTime >= since) bytes += entry.transferSize;
  }
  if (performance.now() - last < quiet) return false;
  return { ms: last - since, nodes: document.getElementsByTagName("*").length, bytes };
}
"""

# For a page never drawn: which of the conditions above still fail, and any problem it shows.
WAITING_JS = """
(ready) => {
  const inView = (element) => {
    const box = element.getBoundingClientRect();
    return box.height > 0 && box.width > 0 && box.top < innerHeight && box.bottom > 0;
  };
  const state = window.__benchDrawn || {};
  const messages = "#not-found-message, #probe-message, #infer-message, .alert-warning";
  return {
    requests_under_way: state.inflight,
    loading: [...document.querySelectorAll('[data-dash-is-loading="true"]')].map((e) => e.id),
    main_content: Boolean(document.querySelector(ready)),
    graphs_not_drawn: [...document.querySelectorAll(".dash-graph")]
      .filter((g) => inView(g) && !g.querySelector(".main-svg")).map((g) => g.id),
    grids_loading: [...document.querySelectorAll(".ag-overlay-loading-wrapper, .ag-loading")]
      .filter(inView).length,
    ms_since_last_change: performance.now() - Math.max(state.lastFetchEnd, state.lastMutation),
    page_says: [...document.querySelectorAll(messages)].filter(inView)
      .map((e) => e.innerText.trim()).filter(Boolean),
  };
}
"""


@dataclass
class Visit:
    kind: str
    path: str
    state: str  # cold or warm
    ms: float | None = None
    dom_nodes: int | None = None
    bytes: int | None = None
    callback_ms: float | None = None  # the slowest callback request of the visit
    callback: str | None = None  # its output
    server_callback_ms: float | None = None  # the longest the application worked on one
    server_callback: str | None = None  # its output
    error: str | None = None


@dataclass
class Plan:
    """The pages of one run: paths per navigation kind, and each job's inputs per visit."""

    navigations: dict[str, list[str]]  # the floor aside
    probe_texts: list[str]
    ablated_clusters: list[int]
    suffix: str  # the iteration the analyses were made at, when not the study's default


def spread(values: list, count: int) -> list:
    """`count` values evenly spaced over `values` (all of them when there are fewer)."""
    if len(values) <= count:
        return list(values)
    return [values[i] for i in np.linspace(0, len(values) - 1, count).round().astype(int)]


def has_model(study: Study) -> bool:
    """Whether the decomposition the study was built from is where the study recorded it."""
    recorded = (study.manifest.get("settings") or {}).get("decomposition_dir")
    return bool(recorded) and Path(recorded).is_dir()


def probe_texts(study: Study, count: int) -> list[str]:
    """`count` different texts of about PROBE_TOKENS tokens: harvested tokens, decoded."""
    vocab = study.table("vocab.parquet", columns=["token"])["token"].tolist()
    tokens = np.asarray(study.array("windows/token_ids.npy")).ravel()
    texts = []
    for start in spread(list(range(0, max(1, len(tokens) - PROBE_TOKENS))), count):
        pieces = [vocab[t] for t in tokens[start : start + PROBE_TOKENS]]
        texts.append("".join(p for p in pieces if not p.startswith("<|")))
    return texts


def plan(study: Study, sizes: argparse.Namespace, live: bool) -> Plan:
    """What to visit: clusters by size from the analyses table, subcomponents among their
    members, samples spread over the windows."""
    iteration = analysis_settings(study).get("iteration", study.default_iteration)
    suffix = "" if iteration == study.default_iteration else f"?iteration={iteration}"
    table = study.table("analyses/clusters.parquet", columns=["cluster", "size"])
    by_size = table.sort_values("size", ascending=False, kind="stable")["cluster"].tolist()
    largest, others = by_size[: sizes.largest], by_size[sizes.largest :]
    members = study.table("analyses/members.parquet", columns=["subcomponent"])["subcomponent"]
    labels = study.subcomponents["label"].iloc[np.unique(members.to_numpy())].tolist()
    windows, _ = study.window_shape
    runs = 1 + sizes.warm
    return Plan(
        navigations={
            "clusters": ["/clusters"],
            "cluster_largest": [f"/cluster/{c}" for c in largest],
            "cluster": [f"/cluster/{c}" for c in spread(others, sizes.others)],
            "component": [f"/component/{label}" for label in spread(labels, sizes.components)],
            "sample": [f"/sample/{n}" for n in spread(list(range(windows)), sizes.samples)],
        },
        probe_texts=probe_texts(study, runs) if live else [],
        ablated_clusters=[by_size[i % len(by_size)] for i in range(runs)] if live else [],
        suffix=suffix,
    )


def wait_drawn(page: Page, ready: str, from_click: bool) -> dict:
    handle = page.wait_for_function(
        DRAWN_JS,
        arg={"ready": ready, "quiet": QUIET_MS, "fromClick": from_click},
        polling=100,
        timeout=PAGE_TIMEOUT_MS,
    )
    return handle.json_value()


def waiting_for(page: Page, ready: str) -> str:
    """What a page that was never drawn still waits for, and the problem it shows, if any."""
    try:
        return json.dumps(page.evaluate(WAITING_JS, ready))
    except PlaywrightError as error:
        return f"(the page cannot be read: {str(error).splitlines()[0]})"


def callback_time(request: Request) -> tuple[float, float | None, str] | None:
    """A callback request's times and output: from the moment it was sent to the last byte of
    its response, as the browser's network stack saw it (queueing in gunicorn included; not the
    time the page's main thread took to get round to the answer), and the application's own time,
    from its `Server-Timing` header."""
    if "_dash-update-component" not in request.url:
        return None
    timing = request.timing
    try:
        output = json.loads(request.post_data or "{}").get("output", "?")
    except json.JSONDecodeError:
        output = "?"
    response = request.existing_response  # set by the time the request has finished
    server_ms = server_duration_ms(response.headers.get("server-timing")) if response else None
    return timing["responseEnd"] - max(timing["requestStart"], 0.0), server_ms, output


def visit(
    context: BrowserContext, url: str, visit: Visit, job: Callable[[Page], None] | None = None
) -> Visit:
    """Open `url` in a new page of `context`; time its drawing, or with `job`, the drawing of the
    result of what `job` starts with a click. On a cluster page, then scroll through the lower
    sections, so that the slowest callback counts theirs too."""
    page = context.new_page()
    page.add_init_script(WATCH_JS)
    errors: list[str] = []
    callbacks: list[tuple[float, float | None, str]] = []
    page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
    page.on(
        "requestfinished",
        lambda request: callbacks.extend(filter(None, [callback_time(request)])),
    )
    step = "drawing the page"
    ready = READY[visit.kind] if job is None else JOB_PAGE_READY
    try:
        page.goto(url)
        drawn = wait_drawn(page, ready, from_click=False)
        if job is not None:
            step = "starting the job"
            job(page)
            step, ready = "drawing the result", READY[visit.kind]
            drawn = wait_drawn(page, ready, from_click=True)
        visit.ms, visit.dom_nodes, visit.bytes = drawn["ms"], drawn["nodes"], drawn["bytes"]
        if visit.kind in LAZY_PAGES:
            step = "filling the lower sections"
            fill_lower_sections(page)
        if callbacks:
            slowest_ms, _, visit.callback = max(callbacks, key=lambda timed: timed[0])
            visit.callback_ms = round(slowest_ms, 1)
            served = [(ms, output) for _, ms, output in callbacks if ms is not None]
            if served:
                server_ms, visit.server_callback = max(served, key=lambda timed: timed[0])
                visit.server_callback_ms = round(server_ms, 1)
        if errors:
            visit.error = "; ".join(errors)
    except PlaywrightError as error:  # a failed visit is reported, and the run goes on
        visit.error = f"{step}: {type(error).__name__}: {str(error).splitlines()[0]}; " + (
            waiting_for(page, ready)
        )
    finally:
        page.close()
    return visit


def fill_lower_sections(page: Page) -> None:
    """Scroll to each lower section in turn, as a reader does, until it is filled."""
    for section in page.locator(".lazy-section").all():
        section.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)


def probe_job(text: str) -> Callable[[Page], None]:
    """Type `text` into the probe, then click Run."""

    def run(page: Page) -> None:
        page.locator("#probe-text").fill(text)
        page.locator("#probe-run").click()

    return run


def graph_job(text: str) -> Callable[[Page], None]:
    """Type `text` into the attribution graph's page, then click Build."""

    def run(page: Page) -> None:
        page.locator("#graph-text").fill(text)
        page.locator("#graph-run").click()

    return run


def infer_job(page: Page) -> None:
    """Fill the held-out prompts (the cluster to ablate is in the URL), then click Run."""
    page.locator("#infer-heldout").click()
    page.wait_for_function(
        "() => document.querySelector('#infer-prompts').value.trim() !== ''",
        timeout=PAGE_TIMEOUT_MS,
    )
    page.locator("#infer-run").click()


class Runner:
    """Visits pages one after the other, with a progress line each on stderr. A cold visit is
    a fresh browser (a new context: no cache); warm visits share one browser, as a researcher
    going from page to page does (its HTTP cache holds the app's scripts)."""

    def __init__(self, browser: Browser, base: str, total: int):
        self.browser, self.base, self.total = browser, base, total
        self.visits: list[Visit] = []
        self.warm_browser = browser.new_context()

    def run(
        self, kind: str, path: str, state: str, job: Callable[[Page], None] | None = None
    ) -> None:
        context = self.warm_browser if state == "warm" else self.browser.new_context()
        try:
            done = visit(context, self.base + path, Visit(kind, path, state), job)
        finally:
            if context is not self.warm_browser:
                context.close()
        self.visits.append(done)
        figures = (
            f"error: {done.error}"
            if done.ms is None
            else f"{done.ms:7.0f} ms {done.dom_nodes:6,} nodes {done.bytes / 1e6:6.2f} MB"
            f" callback {done.callback_ms or 0:6.0f} ms"
            f" (server {done.server_callback_ms or 0:4.0f})"
            + (f" ({done.error})" if done.error else "")
        )
        print(
            f"[{len(self.visits):3d}/{self.total}] {state} {kind:15s} {figures}  {path}",
            file=sys.stderr,
            flush=True,
        )


def passes(warm: int, floor_visits: int) -> list[tuple[str, int]]:
    """(cold or warm, visits of the floor) of each pass over every page: one cold pass, then
    `warm` passes, the first of them with `floor_visits` visits of the floor."""
    return [("cold", 1)] + [("warm", floor_visits if n == 0 else 0) for n in range(warm)]


def visit_all(runner: Runner, pages: Plan, warm: int, floor_visits: int) -> None:
    """Every page of the plan, in passes; each job's pass with its own input."""
    for number, (state, floors) in enumerate(passes(warm, floor_visits)):
        for _ in range(floors):
            runner.run("floor", FLOOR + pages.suffix, state)
        for kind, paths in pages.navigations.items():
            for path in paths:
                runner.run(kind, path + pages.suffix, state)
        if pages.probe_texts:
            text = pages.probe_texts[number]
            runner.run("probe_result", FLOOR + pages.suffix, state, probe_job(text))
            graph = "/graph" + pages.suffix
            runner.run("graph_result", graph, state, graph_job(" ".join(text.split()[:24])))
            infer = f"/infer?mode=ablate&clusters={pages.ablated_clusters[number]}"
            runner.run("infer_result", infer + pages.suffix.replace("?", "&"), state, infer_job)


def percentiles(values: list[float]) -> dict:
    """Visits, p50 and p95 of drawing times in ms."""
    if not values:
        return {"visits": 0, "p50_ms": None, "p95_ms": None}
    return {
        "visits": len(values),
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
    }


def slowest_callback(visits: list[Visit], timed: str) -> dict | None:
    """The visit whose slowest callback took longest, by `timed`: "callback" (in the browser's
    network stack) or "server_callback" (the application's own time)."""
    with_time = [v for v in visits if getattr(v, f"{timed}_ms") is not None]
    slowest = max(with_time, key=lambda v: getattr(v, f"{timed}_ms"), default=None)
    if slowest is None:
        return None
    return {
        "ms": getattr(slowest, f"{timed}_ms"),
        "output": getattr(slowest, timed),
        "path": slowest.path,
    }


def summarize(visits: list[Visit]) -> tuple[float | None, dict]:
    """The floor (best warm visit of /probe, else its cold one) and the figures per kind."""
    floors = [v for v in visits if v.kind == "floor" and v.ms is not None]
    warm_floors = [v.ms for v in floors if v.state == "warm"]
    floor = min(warm_floors or [v.ms for v in floors]) if floors else None
    kinds: dict[str, dict] = {}
    for kind in (*NAVIGATIONS, *JOBS):
        mine = [v for v in visits if v.kind == kind]
        if not mine:
            continue
        drawn = [v for v in mine if v.ms is not None]
        figures: dict = {"pages": len({v.path for v in mine})}
        for state in ("cold", "warm"):
            figures[state] = percentiles([v.ms for v in drawn if v.state == state])
        figures["dom_nodes_max"] = max((v.dom_nodes for v in drawn), default=None)
        figures["bytes_p50"] = int(np.median([v.bytes for v in drawn])) if drawn else None
        for state in ("cold", "warm"):
            mine_now = [v for v in drawn if v.state == state]
            figures[f"slowest_callback_{state}"] = slowest_callback(mine_now, "callback")
            figures[f"slowest_server_callback_{state}"] = slowest_callback(
                mine_now, "server_callback"
            )
        figures["ratio_p95_over_floor"] = {
            state: round(figures[state]["p95_ms"] / floor, 2)
            if floor and figures[state]["p95_ms"] is not None
            else None
            for state in ("cold", "warm")
        }
        figures["errors"] = sum(1 for v in mine if v.error)
        kinds[kind] = figures
    return floor, kinds


def ratio_goal(kinds: dict, names: tuple[str, ...], limit: float) -> dict:
    """p95 (cold and warm) of every page kind in `names` at most `limit` times the floor."""
    ratios = {
        f"{kind} {state}": ratio
        for kind in names
        if kind in kinds
        for state, ratio in kinds[kind]["ratio_p95_over_floor"].items()
        if ratio is not None
    }
    worst = max(ratios, key=ratios.get) if ratios else None
    return {
        "pages": [kind for kind in names if kind in kinds],
        "limit": limit,
        "worst": worst,
        "worst_ratio": ratios[worst] if worst else None,
        "met": bool(ratios) and max(ratios.values()) <= limit,
    }


def callback_goal(kinds: dict) -> dict:
    """The longest the server worked on a callback of any cluster page, cold and warm, against
    its limit (the times in the browser, queueing behind other requests included, are beside
    it in each page kind's figures)."""
    slowest = {
        state: max(
            (
                kinds[kind][f"slowest_server_callback_{state}"]
                for kind in ("cluster", "cluster_largest")
                if kind in kinds and kinds[kind][f"slowest_server_callback_{state}"]
            ),
            key=lambda found: found["ms"],
            default=None,
        )
        for state in CALLBACK_LIMIT_MS
    }
    measured = {state: found for state, found in slowest.items() if found}
    return {
        "limit_ms": CALLBACK_LIMIT_MS,
        "slowest": slowest,
        "met": bool(measured)
        and all(found["ms"] <= CALLBACK_LIMIT_MS[state] for state, found in measured.items()),
    }


def goals(visits: list[Visit], kinds: dict) -> dict:
    """The page goals, each met or not: the jobs' results are held to none of the time goals."""
    drawn = [v for v in visits if v.dom_nodes is not None]
    biggest = max(drawn, key=lambda v: v.dom_nodes, default=None)
    pages = tuple(kind for kind in NAVIGATIONS if kind not in ("floor", "cluster_largest"))
    return {
        "pages_p95_within_2.5x_floor": ratio_goal(kinds, pages, FLOOR_LIMIT),
        "largest_clusters_p95_within_4x_floor": ratio_goal(
            kinds, ("cluster_largest",), LARGEST_LIMIT
        ),
        "cluster_callbacks_served_within_1s_cold_300ms_warm": callback_goal(kinds),
        "dom_nodes_at_most_1500": {
            "limit": DOM_LIMIT,
            "largest": biggest.dom_nodes if biggest else None,
            "page": f"{biggest.kind} {biggest.path}" if biggest else None,
            "met": biggest is not None and biggest.dom_nodes <= DOM_LIMIT,
        },
    }


def synthetic_study(work: Path) -> Path:
    """bench.app's generated study (20,000 clusters), written under `work`."""
    from bench.app import CLUSTERS, SUBCOMPONENTS, TOKENS, generated_study

    print("generating the synthetic study ...", file=sys.stderr, flush=True)
    return generated_study(work / "synthetic", SUBCOMPONENTS, CLUSTERS, TOKENS)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--study", type=Path, help="a study directory (default: the demo study)")
    source.add_argument("--synthetic", action="store_true", help="bench.app's 20k-cluster study")
    parser.add_argument("--warm", type=int, default=3, help="warm passes over every page")
    parser.add_argument("--floor-visits", type=int, default=3, help="warm visits of the floor")
    parser.add_argument("--largest", type=int, default=5, help="largest clusters visited")
    parser.add_argument("--others", type=int, default=15, help="other clusters visited")
    parser.add_argument("--components", type=int, default=3, help="subcomponent pages")
    parser.add_argument("--samples", type=int, default=3, help="sample pages")
    args = parse_arguments(
        parser,
        {"warm": 0, "floor_visits": 0, "largest": 1, "others": 1, "components": 1, "samples": 1},
    )
    with tempfile.TemporaryDirectory(prefix="atlas-bench-browser-") as scratch:
        work = Path(scratch)
        if args.synthetic:
            study_path = synthetic_study(work)
        else:
            study_path = (args.study or Settings.from_env().data_dir / "demo").resolve()
        if not (study_path / "study.json").is_file():
            raise SystemExit(f"{study_path}: no study (spd-atlas build --preset demo makes one)")
        study = Study(study_path)
        n_clusters = len(study.table("analyses/clusters.parquet", columns=["cluster"]))
        live = has_model(study)
        pages = plan(study, args, live)
        per_pass = sum(map(len, pages.navigations.values())) + (len(JOBS) if live else 0)
        total = sum(floors + per_pass for _, floors in passes(args.warm, args.floor_visits))
        data_dir = work / "data"
        data_dir.mkdir()
        with serving(data_dir, str(study_path)) as app, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            runner = Runner(browser, app.url, total)
            try:
                visit_all(runner, pages, args.warm, args.floor_visits)
            finally:
                browser.close()
            failed = [v for v in runner.visits if v.error]
            if failed:
                print(f"app log (tail):\n{app.log()[-3000:]}", file=sys.stderr, flush=True)
    floor, kinds = summarize(runner.visits)
    result = {
        "bench": "browser",
        "study": study.name,
        "study_path": "synthetic" if args.synthetic else str(study_path),
        "clusters": n_clusters,
        "smoke": args.smoke,
        "visits": len(runner.visits),
        "jobs": "probe and masked inference" if live else "skipped: the study has no model",
        "drawn": f"no request or loading component, main content present, {QUIET_MS} ms quiet",
        "floor_ms": round(floor, 1) if floor is not None else None,
        "pages": kinds,
        "goals": goals(runner.visits, kinds),
        "errors": [f"{v.state} {v.kind} {v.path}: {v.error}" for v in failed][:10],
    }
    print(markdown_table(result), file=sys.stderr, flush=True)
    print(json.dumps(result), flush=True)


def markdown_table(result: dict) -> str:
    """The figures of `result` as the Markdown table the docs show (p95 in seconds)."""

    def seconds(figures: dict, state: str) -> str:
        p95 = figures[state]["p95_ms"]
        ratio = figures["ratio_p95_over_floor"][state]
        return "" if p95 is None else f"{p95 / 1000:.2f} s ({ratio:.1f}x)"

    def slowest(figures: dict, state: str) -> str:
        found = figures.get(f"slowest_callback_{state}")
        served = figures.get(f"slowest_server_callback_{state}")
        return ("" if not found else f"{found['ms']:.0f}") + (
            "" if not served else f" ({served['ms']:.0f})"
        )

    lines = [
        f"Floor (empty `/probe`, best warm visit): {result['floor_ms'] / 1000:.2f} s.",
        "",
        "| page | p95 cold (x floor) | p95 warm (x floor) | DOM elements | slowest callback, "
        "ms, in the browser (server) cold / warm |",
        "|---|---|---|---|---|",
    ]
    for kind, figures in result["pages"].items():
        lines.append(
            f"| {kind} ({figures['pages']} pages) | {seconds(figures, 'cold')} | "
            f"{seconds(figures, 'warm')} | {figures['dom_nodes_max']:,} | "
            f"{slowest(figures, 'cold')} / {slowest(figures, 'warm')} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
