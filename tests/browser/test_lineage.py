"""The merge hierarchy in real headless Chromium: a cluster's lineage, ids that keep their
members across iterations, the MDL curve that sets the list's iteration, and the study page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from dashboard.study import Study
from dashboard.study.merge_tree import MergeTree
from dashboard.study.summary import cluster_sizes, study_merge_tree
from tests.browser.conftest import ServedApp, WatchedPage

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def micro(micro_study: Path) -> tuple[Study, MergeTree]:
    study = Study(micro_study)
    return study, study_merge_tree(study)


def largest_merged_cluster(micro: tuple[Study, MergeTree]) -> tuple[int, int, int]:
    """The micro study's largest cluster at its default iteration, and the two it was formed
    from (the one keeping the surviving group first)."""
    study, tree = micro
    cluster = int(cluster_sizes(study, study.default_iteration).index[0])
    one, other = (int(c) for c in tree.children[tree.merge_of(cluster)])
    return cluster, one, other


def open_lineage(page, url: str) -> None:
    page.goto(url)
    page.locator("#section-lineage").scroll_into_view_if_needed()
    expect(page.locator("#cluster-lineage-tree circle").first).to_be_visible(timeout=60_000)


def test_a_lineage_node_opens_that_cluster_where_it_was_formed_and_the_url_reopens_it(
    app_with_micro_study: ServedApp,
    watched: WatchedPage,
    browser: Browser,
    micro: tuple[Study, MergeTree],
) -> None:
    _, tree = micro
    cluster, one, other = largest_merged_cluster(micro)
    page = watched.page
    open_lineage(page, f"{app_with_micro_study.url}/cluster/{cluster}")
    parts = page.locator("#lineage-parts")
    expect(parts).to_contain_text(str(one))
    expect(parts).to_contain_text(str(other))
    expect(page.locator("#lineage-overlap")).to_contain_text("Top-token overlap")
    expect(page.locator("#cluster-lineage-tree circle")).not_to_have_count(0)
    node = page.locator(f'#cluster-lineage-tree circle[data-cluster="{one}"]')
    node.hover()
    expect(page.locator("#cluster-lineage-tree .atlas-chart-readout")).to_contain_text(
        f"cluster {one} · {tree.size[one]} members"
    )
    node.click()
    formed = tree.formed(one)
    expect(page).to_have_url(re.compile(rf"/cluster/{one}\?iteration={formed}$"))
    expect(page.locator("#cluster-title")).to_have_text(f"Cluster {one}")
    expect(page.get_by_text(f"{tree.size[one]} members in")).to_contain_text(
        f"iteration {formed} of"
    )
    copied = page.url
    fresh = browser.new_context().new_page()
    try:
        fresh.goto(copied)
        expect(fresh.locator("#cluster-title")).to_have_text(f"Cluster {one}")
        expect(fresh.get_by_text(f"{tree.size[one]} members in")).to_contain_text(
            f"iteration {formed} of"
        )
    finally:
        fresh.context.close()
    assert watched.errors == []


def test_what_a_cluster_merges_into_is_listed_with_links(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro: tuple[Study, MergeTree]
) -> None:
    _, tree = micro
    cluster, one, _ = largest_merged_cluster(micro)
    page = watched.page
    open_lineage(page, f"{app_with_micro_study.url}/cluster/{one}?iteration={tree.formed(one)}")
    later = page.locator("#lineage-later")
    expect(later).to_contain_text(str(cluster))  # it becomes the largest cluster
    first = tree.later_merges(one)[0]
    becomes = later.get_by_role("link", name=str(tree.n_groups + first), exact=True).first
    becomes.click()
    formed = tree.n_groups + first
    expect(page).to_have_url(re.compile(rf"/cluster/{formed}\?iteration={first + 1}$"))
    assert watched.errors == []


def test_an_id_that_is_not_at_an_iteration_says_where_it_went(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro: tuple[Study, MergeTree]
) -> None:
    study, tree = micro
    cluster, one, _ = largest_merged_cluster(micro)
    page = watched.page
    page.goto(f"{app_with_micro_study.url}/cluster/{one}")  # merged away before the default
    ended = tree.ended(one)
    expect(page.locator("#not-found-message")).to_contain_text(
        f"exists from iteration {tree.formed(one)} to iteration {ended - 1}"
    )
    holder = tree.holder_at(one, study.default_iteration)
    expect(page.locator("#elsewhere-now")).to_contain_text(f"cluster {holder}")
    page.locator("#elsewhere-merged").click()
    parent = int(tree.parent[one])
    expect(page).to_have_url(re.compile(rf"/cluster/{parent}\?iteration={ended}$"))
    expect(page.locator("#cluster-title")).to_have_text(f"Cluster {parent}")
    page.goto(f"{app_with_micro_study.url}/cluster/{cluster}?iteration=0")  # not formed yet
    expect(page.locator("#not-found-message")).to_contain_text(f"Cluster {cluster} (")
    expect(page.locator("#elsewhere-now a")).to_have_count(int(tree.size[cluster]))
    assert watched.errors == []


def click_the_curve_at(page, chart: str, share: float) -> None:
    catcher = page.locator(f"{chart} rect.atlas-chart-pickable")
    catcher.scroll_into_view_if_needed()
    box = catcher.bounding_box()
    page.mouse.click(box["x"] + box["width"] * share, box["y"] + box["height"] / 2)


def test_the_mdl_curve_sets_the_list_s_iteration(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro: tuple[Study, MergeTree]
) -> None:
    study, _ = micro
    page = watched.page
    page.goto(app_with_micro_study.url + "/clusters")
    chart = "#clusters-mdl"
    expect(page.locator(f"{chart} .atlas-chart-mark")).to_have_count(1)  # the default
    click_the_curve_at(page, chart, 0.25)
    expect(page).to_have_url(re.compile(r"/clusters\?iteration=\d+$"))
    iteration = int(re.search(r"iteration=(\d+)", page.url).group(1))
    assert 0 < iteration < study.default_iteration
    expect(page.locator("#study-name")).to_contain_text(f"shown at iteration {iteration}")
    expect(page.locator(f"{chart} .atlas-chart-mark")).to_have_count(2)  # default and shown
    expect(page.locator("#clusters-grid .atlas-table-row").first).to_be_visible(timeout=60_000)
    assert watched.errors == []


def test_the_study_page(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro: tuple[Study, MergeTree]
) -> None:
    study, _ = micro
    page = watched.page
    page.goto(app_with_micro_study.url + "/clusters")
    page.get_by_role("link", name="Study", exact=True).click()
    expect(page).to_have_url(re.compile(r"/study$"))
    expect(page.locator("#study-title")).to_have_text(f"Study {study.name}")
    expect(page.locator("#study-provenance")).to_contain_text("decomposition (sha256)")
    expect(page.locator("#study-quality")).to_contain_text("nats from the target's")
    windows, length = study.window_shape
    expect(page.locator("#study-harvest")).to_contain_text(f"{windows * length:,}")
    expect(page.locator("#study-modules tbody tr")).to_have_count(
        study.subcomponents["module"].nunique()
    )
    expect(page.locator("#study-clustering")).to_contain_text(str(study.default_iteration))
    expect(page.locator("#study-stability")).to_be_visible()
    click_the_curve_at(page, "#study-mdl", 0.5)
    expect(page).to_have_url(re.compile(r"/clusters\?iteration=\d+$"))
    assert watched.errors == []
