"""Token-shaded text drawn by the app's TokenText and TokenRows components, in real headless
Chromium: threshold re-shading in the browser, exact values on hover, clickable tokens, and
example rows drawn a few at a time as they are scrolled to."""

from __future__ import annotations

import re

import numpy as np
import pytest
from playwright.sync_api import Page, Request, expect

from dashboard.analysis.activity import cluster_activation
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments
from tests.browser.conftest import ServedApp, WatchedPage
from tests.study_factory import A_MERGED_CLUSTER

pytestmark = pytest.mark.browser

SHADED = ".token[style*='background']"
TITLE = re.compile(r"^offset (\d+) · activation (\d\.\d{3})$")
ROWS_AT_ONCE = 8  # assets/atlas_components_tokens.js


def stored_activation(study_dir, cluster: int, window: int) -> np.ndarray:
    """A cluster's activation on every token of a window, read from the study's store."""
    study = Study(study_dir)
    members = np.flatnonzero(cluster_assignments(study, study.default_iteration) == cluster)
    activation = cluster_activation(study.activations, members)
    return activation.in_window(window, study.window_shape[1])


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
    open_examples(page, app_with_study.url + f"/cluster/{A_MERGED_CLUSTER}")
    shaded = page.locator(f"#top-examples .atlas-token-row:nth-child(-n+2) {SHADED}")
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
    app_with_study: ServedApp, watched: WatchedPage, random_study_template
) -> None:
    page = watched.page
    open_examples(page, app_with_study.url + f"/cluster/{A_MERGED_CLUSTER}")
    first = page.locator("#top-examples .atlas-token-row").first
    first.locator(".token-focus").hover()
    hovered = page.locator("#top-examples .token:hover")  # the element under the mouse
    offset, value = TITLE.match(hovered.get_attribute("title")).groups()
    window = int(first.locator("a").inner_text()[1:])
    exact = stored_activation(random_study_template, A_MERGED_CLUSTER, window)[int(offset)]
    assert value == f"{exact:.3f}" and exact > 0
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
    first = page.locator("#component-examples .atlas-token-row").first
    focus = first.locator(".token-focus")
    offset = TITLE.match(focus.get_attribute("title")).group(1)
    window = first.locator("a").inner_text()[1:]
    focus.click()
    expect(page.locator("#component-inspector")).to_contain_text(
        f"at offset {offset} of sample {window}"
    )
    expect(page.locator("#inspector-table")).to_contain_text("layers.0.attn.q_proj:1")
    assert watched.errors == [], watched.errors


def test_example_rows_are_drawn_a_few_at_a_time_as_they_are_scrolled_to(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_examples(page, app_with_study.url + f"/cluster/{A_MERGED_CLUSTER}")
    rows = page.locator("#quantile-examples .atlas-token-row")
    more = page.locator("#quantile-examples .atlas-token-rows-more")
    expect(more).to_have_text(re.compile(r"^\d+ of \d+ shown: scroll for more$"))
    page.wait_for_timeout(300)  # rows near the list's end are drawn ahead of the reader
    drawn, total = (int(n) for n in more.inner_text().split(" shown")[0].split(" of "))
    assert rows.count() == drawn and drawn % ROWS_AT_ONCE == 0
    assert total > drawn  # the random study's cluster has more than a screenful of them
    assert page.locator("#section-examples *").count() < 1_000
    for _ in range(total):  # scroll the list to its end until every row is drawn
        if rows.count() == total:
            break
        page.locator("#quantile-examples").evaluate(
            "list => { list.scrollTop = list.scrollHeight; }"
        )
        page.wait_for_timeout(100)
    expect(rows).to_have_count(total)
    expect(more).to_have_count(0)
    link = rows.first.locator("a")  # links to the sample, inside the app
    window = link.inner_text()[1:]
    link.click()
    expect(page.locator("#sample-text .token").first).to_be_visible(timeout=30_000)
    assert page.url.endswith(f"/sample/{window}")
    assert watched.errors == [], watched.errors
