"""The attribution graph in real headless Chromium on the micro study: build it, reopen it from
its address in a fresh browser, hover an edge, click a node for its cluster page, and turn
nodes into a mask opened in masked inference (embedded mode: the resident inference process)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.conftest import ServedApp, WatchedPage

pytestmark = pytest.mark.browser

JOB = 120_000  # ms: the first job loads the model
PROMPT = "The river flows through the old city and the people of the town walk along the"

POINT = """([name, index]) => {
    const gd = document.querySelector('#graph-figure .js-plotly-plot');
    const layout = gd._fullLayout, trace = gd._fullData.find(t => t.name === name);
    const box = gd.querySelector('.nsewdrag').getBoundingClientRect();
    return {
        x: box.left + layout.xaxis.l2p(trace.x[index]),
        y: box.top + layout.yaxis.l2p(trace.y[index]),
        custom: trace.customdata ? trace.customdata[index] : null,
        count: trace.x.length,
    };
}"""


def hover(page: Page, trace: str, shows: str) -> dict:
    """Move the mouse onto the first point of `trace` until its hover label shows `shows` (the
    figure may still be settling into its size); the point."""
    for _ in range(10):
        point = page.evaluate(POINT, [trace, 0])
        page.mouse.move(point["x"] - 3, point["y"] - 3)
        page.mouse.move(point["x"], point["y"])
        if shows in (page.locator(".hoverlayer").text_content() or ""):
            return point
        page.wait_for_timeout(300)
    raise AssertionError(f"no hover label with {shows!r} over the first point of {trace}: {point}")


def built(page: Page) -> None:
    expect(page.locator("#graph-summary")).to_contain_text(
        "active (position, cluster)", timeout=JOB
    )
    expect(page.locator("#graph-faithfulness")).to_contain_text("Spearman rho")
    expect(page.locator("#graph-figure .nsewdrag")).to_be_visible()


def test_build_reopen_hover_click_and_mask_these(
    app_with_micro_study: ServedApp, watched: WatchedPage, browser: Browser
) -> None:
    page = watched.page
    page.set_viewport_size({"width": 1280, "height": 1400})  # the whole figure in view
    page.goto(app_with_micro_study.url + "/graph")
    page.locator("#graph-text").fill(PROMPT)
    page.locator("#graph-run").click()
    built(page)
    expect(page).to_have_url(re.compile(r"\?text=[0-9a-f]{20}&threshold=0\.1&share=0\.8$"))
    summary = page.locator("#graph-summary").inner_text()

    fresh = browser.new_context().new_page()
    try:
        fresh.goto(page.url)  # the same graph, built on opening
        built(fresh)
        assert fresh.locator("#graph-summary").inner_text() == summary
        expect(fresh.locator("#graph-text")).to_have_value(PROMPT)
    finally:
        fresh.context.close()

    hover(page, "edges", "→")

    page.locator("#graph-pick input").first.check()
    page.locator("#graph-mask-these").click()
    expect(page).to_have_url(re.compile(r"/infer\?mask=[0-9a-f]{20}&prompts=[0-9a-f]{20}$"))
    expect(page.locator("#infer-prompts")).to_have_value(PROMPT)

    page.go_back()
    built(page)
    node = hover(page, "nodes", "click: its page")
    page.mouse.down()  # plotly clicks the point it hovers
    page.mouse.up()
    expect(page).to_have_url(re.compile(rf"/cluster/{node['custom'][0]}$"))
    expect(page.locator("#cluster-title")).to_be_visible()
    assert watched.errors == []


def test_a_bad_target_is_named(app_with_micro_study: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    page.goto(app_with_micro_study.url + "/graph?threshold=2")
    expect(page.locator("#graph-message")).to_contain_text("threshold='2' is outside (0, 1]")
    page.locator("#graph-text").fill("The cat sat")
    page.locator("#graph-target").fill("@99")
    page.locator("#graph-run").click()
    expect(page.locator("#graph-message")).to_contain_text(
        "target position 99 is outside the text's 0 to", timeout=JOB
    )
    assert watched.errors == []
