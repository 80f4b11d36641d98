"""Every page opened in real headless Chromium: the right content and no console errors."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ServedApp, WatchedPage, serving, show_members
from tests.browser.test_dashboard import MAP_DRAWN
from tests.study_factory import A_MERGED_CLUSTER

pytestmark = pytest.mark.browser

EVERY_PAGE_WITH_STUDY = {
    "/clusters": "#clusters-grid a",
    f"/cluster/{A_MERGED_CLUSTER}": "#cluster-top-members a",
    "/component/layers.0.attn.q_proj:0": "#component-title",
    "/sample/0": "#sample-text .token",
    "/probe": "#probe-text",
    "/masks": "#masks-clusters",
    "/masks/abc123": "#not-found",
    "/infer": "#infer-prompts",
    "/no/such/page": "#not-found",
}


def open_page(watched: WatchedPage, url: str, selector: str) -> None:
    watched.page.goto(url)
    expect(watched.page.locator(selector).first).to_be_visible(timeout=60_000)
    watched.page.wait_for_load_state("networkidle")


@pytest.mark.parametrize(("path", "selector"), EVERY_PAGE_WITH_STUDY.items())
def test_every_page_with_a_study(
    app_with_study: ServedApp, watched: WatchedPage, path: str, selector: str
) -> None:
    open_page(watched, app_with_study.url + path, selector)
    expect(watched.page.locator("#navbar-study")).to_have_text("random-0")
    assert watched.errors == []


@pytest.mark.parametrize("path", [*EVERY_PAGE_WITH_STUDY][:4])
def test_study_pages_without_a_study_say_so(
    app_without_study: ServedApp, watched: WatchedPage, path: str
) -> None:
    open_page(watched, app_without_study.url + path, "#no-study")
    expect(watched.page.locator("#no-study")).to_contain_text("No study loaded")
    expect(watched.page.locator("#no-study")).to_contain_text("ATLAS_STUDY")
    assert watched.errors == []


def test_root_opens_the_cluster_list(app_with_study: ServedApp, watched: WatchedPage) -> None:
    open_page(watched, app_with_study.url + "/", "#clusters-grid a")
    assert watched.page.url.endswith("/clusters")


def test_cluster_list_links_to_cluster_and_component_pages(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_page(watched, app_with_study.url + "/clusters", "#clusters-grid a")
    first = page.locator("#clusters-grid a").first
    cluster_name = f"Cluster {first.inner_text()}"
    first.click()
    expect(page.locator("#cluster-title")).to_have_text(cluster_name)
    assert re.search(r"/cluster/\d+$", page.url)
    show_members(page)
    member = page.locator("#member-table a").first
    expect(member).to_be_visible()
    label = member.inner_text()
    member.click()
    expect(page.locator("#component-title")).to_have_text(label)
    page.locator("#component-cluster").click()
    expect(page.locator("#cluster-title")).to_have_text(cluster_name)
    page.go_back()
    expect(page.locator("#component-title")).to_have_text(label)
    assert watched.errors == []


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/cluster/999999", "There is no cluster '999999'"),
        ("/cluster/abc", "There is no cluster 'abc'"),
        ("/cluster/1/x", "There is no cluster '1/x'"),
        ("/component/nope:1", "has no subcomponent 'nope:1'"),
        ("/sample/500", "Sample '500' does not exist"),
        ("/no/such/page", "not a page of SPD Atlas"),
    ],
)
def test_unknown_ids_show_not_found(
    app_with_study: ServedApp, watched: WatchedPage, path: str, message: str
) -> None:
    open_page(watched, app_with_study.url + path, "#not-found")
    expect(watched.page.locator("#not-found-message")).to_contain_text(message)
    assert watched.errors == []


def test_token_text_is_shown_as_text_not_html(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    """The random study's token 0 is '<b>tok0</b>': it must appear literally."""
    open_page(watched, app_with_study.url + "/sample/0", "#sample-text .token")
    page = watched.page
    assert page.locator("#sample-text b").count() == 0
    for window in range(12):
        page.goto(f"{app_with_study.url}/sample/{window}")
        expect(page.locator("#sample-text .token").first).to_be_visible()
        if "<b>tok0</b>" in page.locator("#sample-text").inner_text():
            break
    else:
        pytest.fail("token 0 does not occur in any window of the random study")
    assert page.locator("#sample-text b").count() == 0


def test_invalid_study_is_reported(
    tmp_path_factory: pytest.TempPathFactory, watched: WatchedPage
) -> None:
    data_dir = tmp_path_factory.mktemp("data-invalid")
    broken = data_dir / "broken"
    broken.mkdir()
    (broken / "study.json").write_text('{"schema_version": 9}')
    with serving(data_dir, "broken") as served:
        open_page(watched, served.url + "/clusters", "#no-study")
        expect(watched.page.locator("#study-problem")).to_contain_text(
            "schema_version: is 9, this version of SPD Atlas reads schema version 1"
        )
        assert watched.errors == []


def test_graphs_are_drawn_by_the_lean_plotly_bundle_and_the_list_without_plotly(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    from dashboard.plotly_bundle import TRACES

    page = watched.page
    registered = "Object.keys(window.Plotly.PlotSchema.get().traces).sort()"
    open_page(
        watched, app_with_study.url + f"/cluster/{A_MERGED_CLUSTER}", "#cluster-top-members a"
    )
    assert page.evaluate("window.Plotly === undefined")  # its first screen draws no plotly
    page.locator("#section-tokens").scroll_into_view_if_needed()
    expect(page.locator("#cluster-top-tokens .main-svg").first).to_be_attached(timeout=60_000)
    assert page.evaluate(registered) == sorted(TRACES)
    # to the list by a link inside the app: its map is a 2D canvas and its distribution SVG
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#clusters-grid a").first).to_be_visible(timeout=60_000)
    page.wait_for_function(MAP_DRAWN, timeout=60_000)
    n_clusters = page.evaluate("document.querySelector('#clusters-map canvas').dataset.drawn")
    assert int(n_clusters) > 1
    expect(page.locator("#clusters-distribution svg rect.atlas-chart-brushable")).to_have_count(1)
    assert page.locator(".js-plotly-plot").count() == 0
    # the map is drawn at the screen's resolution
    canvas = page.evaluate(
        "(() => { const c = document.querySelector('#clusters-map canvas');"
        " return [c.width, c.clientWidth, window.devicePixelRatio]; })()"
    )
    assert canvas[0] == round(canvas[1] * canvas[2])
    assert watched.errors == []
