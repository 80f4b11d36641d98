"""Token-shaded text drawn by AG Grid rows and the TokenText cell renderer, in real headless
Chromium: threshold re-shading in the browser, exact values on hover, clickable tokens, and rows
drawn only when in view."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import ServedApp, WatchedPage

pytestmark = pytest.mark.browser

SHADED = ".token[style*='background']"
TITLE = re.compile(r"^offset (\d+) · activation (\d\.\d{3})$")
FIRST_EXAMPLE = """(grid) => {
    const row = dash_ag_grid.getApi(grid).getDisplayedRowAtIndex(0).data;
    return {offset: row.start + row.focus, value: row.values[row.focus]};
}"""


def open_examples(page: Page, url: str) -> None:
    """Open a cluster page and scroll to its examples (a section filled once scrolled near)."""
    page.goto(url)
    page.locator("#section-examples").scroll_into_view_if_needed()
    expect(page.locator("#top-examples .token").first).to_be_visible(timeout=60_000)
    page.wait_for_load_state("networkidle")


def test_threshold_reshades_examples_without_a_request(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_examples(page, app_with_study.url + "/cluster/1")
    # the first two rows: always drawn (a virtualized grid draws more or fewer rows below them
    # as it measures their heights)
    shaded = page.locator(
        ", ".join(f"#top-examples .ag-row[row-index='{row}'] {SHADED}" for row in (0, 1))
    )
    before = shaded.count()
    assert before > 0
    requests: list[str] = []

    def on_request(request: Request) -> None:
        if "_dash-update-component" in request.url:
            requests.append(request.post_data or "")

    page.on("request", on_request)
    thumb = page.locator("#cluster-threshold [role=slider]")
    thumb.focus()
    for _ in range(10):  # steps of 0.05: threshold 0.5
        thumb.press("ArrowRight")
    expect(page.locator("#cluster-threshold input[type=number]")).to_have_value("0.5")
    expect(shaded).not_to_have_count(before)
    after = shaded.count()
    assert 0 < after < before  # the top examples' own tokens are above 0.5
    for token in shaded.all():
        assert float(TITLE.match(token.get_attribute("title")).group(2)) > 0.5
    for _ in range(10):
        thumb.press("ArrowLeft")
    expect(shaded).to_have_count(before)
    page.wait_for_timeout(500)  # a request for the threshold would have started by now
    assert requests == [], requests
    assert watched.errors == [], watched.errors


def test_hovering_a_token_shows_its_exact_value(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_examples(page, app_with_study.url + "/cluster/1")
    page.locator("#top-examples .ag-row[row-index='0'] .token-focus").hover()
    hovered = page.locator("#top-examples .token:hover")  # the element under the mouse
    expected = page.evaluate(FIRST_EXAMPLE, "top-examples")
    expect(hovered).to_have_attribute(
        "title", f"offset {expected['offset']} · activation {expected['value']:.3f}"
    )
    page.goto(app_with_study.url + "/sample/1")
    page.locator("#sample-text .token").nth(3).hover()
    expect(page.locator("#sample-text .token:hover")).to_have_attribute(
        "title", re.compile(r"^offset 3: (cluster \d+, activation \d\.\d{3}|no cluster fires)$")
    )
    assert watched.errors == [], watched.errors


def test_clicking_a_sample_token_selects_it(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_study.url + "/sample/1")
    page.locator("#sample-text .token").nth(3).click()
    expect(page).to_have_url(re.compile(r"/sample/1\?token=3$"))
    expect(page.locator("#sample-detail")).to_contain_text("Active at offset 3")
    expect(page.locator("#sample-text .token-focus")).to_have_attribute(
        "title", re.compile(r"^offset 3:")
    )
    page.locator("#sample-text .token").nth(5).click()
    expect(page).to_have_url(re.compile(r"token=5$"))
    expect(page.locator("#sample-detail")).to_contain_text("Active at offset 5")
    page.go_back()
    expect(page.locator("#sample-detail")).to_contain_text("Active at offset 3")
    assert watched.errors == [], watched.errors


def test_clicking_a_component_token_fills_the_inspector(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_study.url + "/component/layers.0.attn.q_proj:1")
    focus = page.locator("#component-examples .ag-row[row-index='0'] .token-focus")
    offset = TITLE.match(focus.get_attribute("title")).group(1)
    window = page.locator("#component-examples .ag-row[row-index='0'] a").inner_text()[1:]
    focus.click()
    expect(page.locator("#component-inspector")).to_contain_text(
        f"at offset {offset} of sample {window}"
    )
    expect(page.locator("#inspector-table")).to_contain_text("layers.0.attn.q_proj:1")
    assert watched.errors == [], watched.errors


def test_grids_draw_only_the_rows_in_view(app_with_study: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    open_examples(page, app_with_study.url + "/cluster/1")
    rows = page.locator("#quantile-examples .ag-center-cols-container .ag-row")
    expect(rows.first).to_be_visible()
    total = page.evaluate("dash_ag_grid.getApi('quantile-examples').getDisplayedRowCount()")
    assert rows.count() < total
    assert page.locator("#section-examples *").count() < 1_000
    assert watched.errors == [], watched.errors
