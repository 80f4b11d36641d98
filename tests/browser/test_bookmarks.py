"""Bookmarks: every URL state opens the same view in a fresh browser on a freshly started
server, with no console error, whichever callback answers first; malformed callback inputs get
a message or are ignored, never an HTTP 500."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Response, expect

from dashboard.stores.content import CausalMask, ContentStore
from dashboard.stores.database import Database
from dashboard.study import Study
from dashboard.study.summary import cluster_sizes
from tests.browser.conftest import ServedApp, WatchedPage, serving, show_members
from tests.browser.test_dashboard import (
    GRID_IDS,
    MAP_CANVAS,
    MAP_DRAWN,
    floating_filter,
    grid_ids,
)
from tests.study_factory import A_MERGED_CLUSTER, write_random_study

pytestmark = pytest.mark.browser


@pytest.fixture
def fresh_study(random_study_template: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(random_study_template, tmp_path / "study"))


@pytest.fixture
def fresh_app(fresh_study: Path, tmp_path: Path) -> Iterator[ServedApp]:
    """A server started for this test alone: nothing is cached or computed yet."""
    (tmp_path / "data").mkdir()
    with serving(tmp_path / "data", str(fresh_study)) as app:
        yield app


@pytest.fixture
def failed_responses(watched: WatchedPage) -> list[str]:
    """Every response of status 500 or more that the page receives."""
    failures: list[str] = []

    def record(response: Response) -> None:
        if response.status >= 500:
            failures.append(f"{response.status} {response.url}")

    watched.page.on("response", record)
    return failures


def a_cluster(study_path: Path, iteration: int) -> int:
    """The largest cluster at `iteration`."""
    return int(cluster_sizes(Study(study_path), iteration).index[0])


def test_a_selection_bookmark_opens_on_a_cold_server(
    fresh_app: ServedApp, fresh_study: Path, watched: WatchedPage, failed_responses: list[str]
) -> None:
    """At an iteration whose map is computed on this first request, the selection card, the
    Open link and the map's marker all appear (the marker used to be patched before the map
    existed: "Cannot patch undefined")."""
    cluster = a_cluster(fresh_study, 5)
    page = watched.page
    page.goto(f"{fresh_app.url}/clusters?iteration=5&cluster={cluster}")
    expect(page.locator("#selected-title")).to_have_text(f"Cluster {cluster}", timeout=60_000)
    expect(page.locator("#open-cluster")).to_have_attribute(
        "href", f"/cluster/{cluster}?iteration=5"
    )
    expect(page.locator(MAP_CANVAS)).to_have_attribute(
        "data-selected", str(cluster), timeout=90_000
    )
    expect(page.locator("#study-name")).to_contain_text("shown at iteration 5")
    page.locator("#open-cluster").click()
    expect(page.locator("#cluster-title")).to_have_text(f"Cluster {cluster}")
    assert watched.errors == [] and failed_responses == []


def test_filter_sort_and_measures_bookmark_opens_on_a_cold_server(
    fresh_app: ServedApp, watched: WatchedPage, failed_responses: list[str]
) -> None:
    page = watched.page
    page.goto(f"{fresh_app.url}/clusters?color=size&dist=cohesion&sort=cluster&f_size=%3E1")
    expect(page.locator(GRID_IDS).first).to_be_visible(timeout=60_000)
    ids = grid_ids(page)
    assert ids and ids == sorted(ids, key=int)
    expect(floating_filter(page, "size")).to_have_value(">1")
    expect(page.locator("#clusters-color")).to_have_value("size")
    expect(page.locator("#clusters-dist-measure")).to_have_value("cohesion")
    page.wait_for_function(MAP_DRAWN, timeout=90_000)
    expect(page.locator("#clusters-map .atlas-map-colourbar-title")).to_have_text("members")
    assert "cluster=" not in page.url  # no selection invented
    assert watched.errors == [] and failed_responses == []


def test_study_and_iteration_bookmark_opens_on_a_cold_server(
    tmp_path: Path, browser: Browser
) -> None:
    data_dir = tmp_path / "data"
    write_random_study(data_dir / "first", seed=0)
    write_random_study(data_dir / "second", seed=1, n_windows=9)
    with serving(data_dir, "first") as app:
        context = browser.new_context()
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(f"{app.url}/clusters?study=second&iteration=3")
            expect(page.locator("#study-name")).to_contain_text("144 harvested tokens")
            expect(page.locator("#study-name")).to_contain_text("shown at iteration 3")
            expect(page.locator("#clusters-iteration")).to_have_value("3")
            page.locator(GRID_IDS).first.click()
            expect(page).to_have_url(re.compile(r"/cluster/\d+\?study=second&iteration=3$"))
            show_members(page)
            expect(page.locator("#member-table .ag-row").first).to_be_visible()
        finally:
            context.close()
        assert errors == []


@pytest.mark.parametrize(
    "path, shown",
    [
        ("/cluster/{cluster}?iteration=5", "#cluster-top-members a"),
        ("/sample/3?token=2", "#token-activity, #sample-detail p"),
        ("/component/layers.0.attn.q_proj:1", "#component-token-table"),
    ],
)
def test_detail_pages_open_from_a_bookmark_on_a_cold_server(
    fresh_app: ServedApp,
    fresh_study: Path,
    watched: WatchedPage,
    failed_responses: list[str],
    path: str,
    shown: str,
) -> None:
    watched.page.goto(fresh_app.url + path.format(cluster=a_cluster(fresh_study, 5)))
    expect(watched.page.locator(shown).first).to_be_visible(timeout=60_000)
    watched.page.wait_for_load_state("networkidle")
    assert watched.errors == [] and failed_responses == []


def test_a_mask_bookmark_opens_on_a_cold_server(
    fresh_study: Path, tmp_path: Path, watched: WatchedPage, failed_responses: list[str]
) -> None:
    study = Study(fresh_study)
    labels = study.subcomponents["label"].tolist()
    mask = CausalMask(study.provenance["decomposition"], {label: 1.0 for label in labels[:5]})
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    ContentStore(Database(f"sqlite:///{data_dir / 'atlas.sqlite3'}")).put_mask(mask, "first five")
    with serving(data_dir, str(fresh_study)) as app:
        watched.page.goto(f"{app.url}/masks/{mask.hash}?iteration=5")
        expect(watched.page.locator("#mask-label")).to_have_text("first five")
        expect(watched.page.locator("#mask-summary")).to_contain_text("5 of 24 subcomponents on")
        expect(watched.page.locator("#mask-summary")).to_contain_text("(iteration 5)")
        watched.page.wait_for_load_state("networkidle")
    assert watched.errors == [] and failed_responses == []


def test_malformed_callback_inputs_get_no_500(
    app_with_study: ServedApp, watched: WatchedPage, failed_responses: list[str]
) -> None:
    page = watched.page
    page.goto(app_with_study.url + "/clusters")
    page.wait_for_function(MAP_DRAWN, timeout=90_000)
    # a click without a cluster, on an unknown one, on one that is not a number: ignored
    for clicked in ("{}", "{cluster: 987654}", "{cluster: 'x'}", "null", "[1]"):
        page.evaluate(f"dash_clientside.set_props('clusters-map', {{clicked: {clicked}}})")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#clusters-summary")).to_contain_text("Click a point")
    # table requests that are not one, or name a column the table lacks: ignored, or a message
    for request in (
        "{query: 5}",
        "{query: {sort: 1}, start: 0, end: 10}",
        "{query: {sort: '', filters: {size: 3}}, start: 0, end: 10}",
        "{query: {sort: '', filters: {}}, start: -5, end: 10}",
        "{query: {sort: '', filters: {}}, start: 0, end: 100000}",
    ):
        page.evaluate(f"dash_clientside.set_props('clusters-grid', {{request: {request}}})")
    page.evaluate(
        "dash_clientside.set_props('clusters-grid', "
        "{request: {query: {sort: '-nope', filters: {}}, start: 0, end: 100}})"
    )
    expect(page.locator("#clusters-message")).to_contain_text("no column 'nope' to sort by")
    # an unknown cluster id: a message
    page.evaluate("dash_clientside.set_props('clusters-map', {selected: 987654})")
    expect(page.locator("#clusters-summary")).to_contain_text("No cluster 987654")
    # a forged page state with an iteration outside the history: a message, no 500
    page.evaluate(
        "dash_clientside.set_props('clusters-iteration', {value: 'abc'});"
        "document.querySelector('#clusters-iteration-apply').click()"
    )
    page.wait_for_load_state("networkidle")
    cluster_store = """dash_clientside.set_props('cluster-store', {data: {cluster: 1,
        iteration: 10 ** 9, study: null, version: 'not-a-version'}})"""
    page.goto(app_with_study.url + f"/cluster/{A_MERGED_CLUSTER}")
    expect(page.locator("#cluster-title")).to_be_visible()
    page.evaluate(cluster_store)
    expect(page.locator("#callback-error")).to_contain_text("could not be updated")
    # a mask hash that is not hex
    page.goto(app_with_study.url + "/masks/not-hex")
    expect(page.locator("#not-found-message")).to_contain_text("is not a hash")
    assert failed_responses == []
    assert [e for e in watched.errors if "500" in e] == []


def test_the_largest_cluster_page_is_drawn_within_the_limit(
    app_with_micro_study: ServedApp, micro_study: Path, watched: WatchedPage
) -> None:
    """The largest cluster of a real decomposition: its first screen drawn in 30 s with at most
    1,500 DOM elements, and each lower section filled in 30 s once scrolled to."""
    page = watched.page
    study = Study(micro_study)
    largest = int(cluster_sizes(study, study.default_iteration).index[0])
    page.goto(f"{app_with_micro_study.url}/cluster/{largest}")
    for drawn in ("#cluster-makeup svg", "#cluster-top-members a", "#cluster-facts"):
        expect(page.locator(drawn).first).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.getElementsByTagName('*').length") <= 1_500
    for section, filled in (
        ("#section-members", "#member-table .ag-row"),
        ("#section-tokens", "#cluster-top-tokens .main-svg"),
        ("#section-examples", "#top-examples .token"),
        ("#section-lenses", "#lens-tabs"),
    ):
        page.locator(section).scroll_into_view_if_needed()
        expect(page.locator(filled).first).to_be_visible(timeout=30_000)
    assert watched.errors == []
