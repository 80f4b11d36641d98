"""The callback traffic of a browser visit, for `bench.load` to replay: the bodies of the Dash
callback POSTs headless Chromium sends on the cluster list, a filter and sort, a cluster page and
a probe, and what a list page's answer holds."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from bench.serving import CHROMIUM, CHROMIUM_ARGS

WARMUP_TIMEOUT = 180.0  # the first probe of a mode loads the model
UPDATE = "/_dash-update-component"
FILTER = ("modules", "*mlp*")
SORT = "-token_entropy"  # a number column's first click on its header: descending
TEXTS = (
    "The river flows through the old city",
    "The cat sat on the mat near the door",
    "A small boat crossed the lake at dawn",
    "She wrote the letter and sent it home",
    "The children played in the park all day",
)


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
