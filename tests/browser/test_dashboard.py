"""The dashboard's views in real headless Chromium: map selection, filters in the URL, Back,
fresh browsers on copied URLs, and the cluster, sample and component pages.

Over 400 lines by choice: these flows share one served app and its helpers for the list and the
map; split by page they would each start their own."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import ServedApp, WatchedPage, serving, show_members

pytestmark = pytest.mark.browser

GRID_IDS = "#clusters-grid .atlas-table-row .atlas-table-pinned a"


MAP_DRAWN = """() => {
    const canvas = document.querySelector('#clusters-map canvas');
    return Boolean(canvas && Number(canvas.dataset.drawn) > 0);
}"""
MAP_CANVAS = "#clusters-map canvas"


def open_list(watched: WatchedPage, url: str) -> None:
    """Open the list and wait for rows and the drawn map (the first map may run UMAP)."""
    watched.page.goto(url)
    expect(watched.page.locator(GRID_IDS).first).to_be_visible(timeout=60_000)
    watched.page.wait_for_function(MAP_DRAWN, timeout=90_000)


def grid_ids(page) -> list[str]:
    expect(page.locator(GRID_IDS).first).to_be_visible(timeout=30_000)
    page.wait_for_load_state("networkidle")
    return page.locator(GRID_IDS).all_inner_texts()


def floating_filter(page, column: str):
    return page.locator(f'#clusters-grid .atlas-table-filter[data-column="{column}"] input')


def hover_on_the_map(page, cluster: str) -> str:
    """Move the mouse onto `cluster`'s point, as drawn, and return the cluster the hover label
    names (the point drawn in front there). The map is scrolled to the middle of the window
    first: below the fold, its lower points are off screen."""
    page.evaluate(  # at once: Bootstrap makes scrolling smooth
        f"document.querySelector('{MAP_CANVAS}').scrollIntoView("
        "{block: 'center', behavior: 'instant'})"
    )
    where = page.evaluate(
        f"document.querySelector('{MAP_CANVAS}').atlasScreenPosition({int(cluster)})"
    )
    assert where is not None, f"cluster {cluster} is not on the map"
    page.mouse.move(where["x"], where["y"])
    label = page.locator("#clusters-map .atlas-map-hover")
    expect(label).to_have_text(re.compile(r"cluster \d+ · \d+ members"))
    return label.inner_text().split()[1]


def test_select_on_the_map_then_open(app_with_study: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    open_list(watched, app_with_study.url + "/clusters")
    cluster = hover_on_the_map(page, grid_ids(page)[0])
    page.mouse.down()
    page.mouse.up()
    title = page.locator("#selected-title")
    expect(title).to_have_text(f"Cluster {cluster}")
    expect(page.locator(MAP_CANVAS)).to_have_attribute("data-selected", cluster)
    expect(page).to_have_url(re.compile(rf"[?&]cluster={cluster}\b"))
    page.locator("#open-cluster").click()
    expect(page.locator("#cluster-title")).to_have_text(f"Cluster {cluster}")
    assert re.search(rf"/cluster/{cluster}$", page.url)
    assert watched.errors == []


def test_the_list_s_first_screen_comes_with_the_page(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro_study
) -> None:
    """At the iteration a study stores, the map, the distribution, the selection and the first
    rows come in the page's layout: no callback is asked for before the page is drawn. (The
    random study of the other tests stores none: there the callbacks fill them.)"""
    from dashboard.analysis.study_analyses import cluster_analyses
    from dashboard.study import Study

    study = Study(micro_study)
    clusters = sorted(cluster_analyses(study, study.default_iteration).clusters["cluster"])
    page = watched.page
    outputs: list[str] = []
    page.on(
        "request",
        lambda request: (
            outputs.append(request.post_data_json["output"])
            if "_dash-update-component" in request.url
            else None
        ),
    )
    open_list(watched, f"{app_with_micro_study.url}/clusters?cluster={clusters[1]}&sort=cluster")
    page.wait_for_load_state("networkidle")
    expect(page.locator("#selected-title")).to_have_text(f"Cluster {clusters[1]}")
    expect(page.locator("#clusters-distribution rect.atlas-chart-brushable")).to_be_visible()
    assert grid_ids(page)[0] == str(clusters[0])
    assert [output for output in outputs if "_pages_content" not in output] == []
    assert watched.errors == []


def test_a_filter_lives_in_the_url_and_a_fresh_browser_shows_it(
    app_with_study: ServedApp, watched: WatchedPage, browser: Browser
) -> None:
    page = watched.page
    open_list(watched, app_with_study.url + "/clusters")
    everything = grid_ids(page)
    floating_filter(page, "size").fill(">1")
    expect(page).to_have_url(re.compile(r"f_size=%3E1"))
    filtered = grid_ids(page)
    assert 0 < len(filtered) < len(everything)
    copied = page.url
    fresh = browser.new_context().new_page()
    try:
        fresh.goto(copied)
        expect(fresh.locator(GRID_IDS).first).to_be_visible(timeout=60_000)
        assert grid_ids(fresh) == filtered
        expect(floating_filter(fresh, "size")).to_have_value(">1")
    finally:
        fresh.context.close()
    assert watched.errors == []


def test_back_restores_the_previous_view(app_with_study: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    open_list(watched, app_with_study.url + "/clusters?sort=cluster")
    ascending = grid_ids(page)
    assert ascending == sorted(ascending, key=int)
    floating_filter(page, "size").fill(">1")
    expect(page).to_have_url(re.compile(r"f_size=%3E1"))
    filtered = grid_ids(page)
    page.go_back()
    expect(page).not_to_have_url(re.compile("f_size"))
    expect(floating_filter(page, "size")).to_have_value("")
    assert grid_ids(page) == ascending != filtered
    assert watched.errors == []


def test_bad_filter_is_named_and_distribution_range_filters(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_study.url + "/clusters?f_depth_mean=%3Edeep")
    expect(page.locator("#clusters-message")).to_contain_text("depth_mean: cannot read '>deep'")
    open_list(watched, app_with_study.url + "/clusters")
    # drag across the distribution's bars (members): the range becomes the size filter
    area = page.locator("#clusters-distribution rect.atlas-chart-brushable")
    box = area.bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(page).to_have_url(re.compile(r"f_size=1\.\.[\d.]+"))
    expect(page.locator("#clusters-distribution .atlas-chart-brush")).to_have_count(1)
    low, high = map(float, floating_filter(page, "size").input_value().split(".."))
    sizes = page.locator('#clusters-grid .atlas-table-row [data-column="size"]')
    expect(sizes.first).to_be_visible()
    page.wait_for_load_state("networkidle")
    shown = [float(size) for size in sizes.all_inner_texts() if size.strip()]
    assert shown and all(low <= size <= high for size in shown)
    assert watched.errors == []


def test_component_link_and_iteration_picker(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_list(watched, app_with_study.url + "/clusters?component=layers.0.attn.q_proj:0")
    expect(page.locator("#clusters-message")).to_contain_text("holds layers.0.attn.q_proj:0")
    ids = grid_ids(page)
    assert len(ids) == 1
    open_list(watched, app_with_study.url + "/clusters")
    page.locator("#clusters-iteration").fill("0")
    page.locator("#clusters-iteration-apply").click()
    expect(page).to_have_url(re.compile(r"iteration=0"))
    expect(page.locator("#study-name")).to_contain_text("shown at iteration 0")
    page.locator(GRID_IDS).first.click()
    expect(page).to_have_url(re.compile(r"/cluster/\d+\?iteration=0$"))
    show_members(page)
    expect(page.locator("#member-table")).to_be_visible()
    assert watched.errors == []


def test_sample_token_and_component_inspector(
    app_with_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    page.goto(app_with_study.url + "/sample/1")
    page.locator("#sample-text .token").nth(3).click()
    expect(page).to_have_url(re.compile(r"token=3"))
    expect(page.locator("#sample-detail")).to_contain_text("Active at offset 3")
    page.goto(app_with_study.url + "/component/layers.0.attn.q_proj:1")
    expect(page.locator("#component-token-table")).to_be_visible()
    page.locator("#component-examples .token-focus").first.click()
    expect(page.locator("#inspector-table")).to_contain_text("layers.0.attn.q_proj:1")
    with page.expect_download() as download:
        page.locator("#component-download-button").click()
    assert unquote(download.value.suggested_filename) == "layers.0.attn.q_proj_1-tokens.csv"
    assert watched.errors == []


def open_first_cluster(watched: WatchedPage, url: str) -> str:
    """Open the list, then the page of its first cluster; that cluster's id."""
    open_list(watched, url + "/clusters")
    first = watched.page.locator(GRID_IDS).first.inner_text()
    watched.page.goto(f"{url}/cluster/{first}")
    return first


def test_cluster_page_of_a_real_decomposition(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    first = open_first_cluster(watched, app_with_micro_study.url)
    expect(page.locator("#cluster-title")).to_have_text(f"Cluster {first}")
    expect(page.locator("#cluster-makeup")).to_be_visible(timeout=30_000)
    lower = {
        "#section-tokens": "#cluster-top-tokens",
        "#section-coactivating-clusters": "#coactivation-table",
        "#section-examples": "#top-examples .token",
        "#section-lenses": "#lens-tabs",
        "#section-plane-view": "#plane-graph",
    }
    page.wait_for_load_state("networkidle")
    for selector in lower.values():  # the lower sections wait until they are scrolled to
        expect(page.locator(selector)).to_have_count(0)
    for section, selector in lower.items():
        page.locator(section).scroll_into_view_if_needed()
        expect(page.locator(selector).first).to_be_visible(timeout=30_000)
    page.get_by_text("Tuned lens").click()
    expect(page.locator("#cluster-lenses")).to_contain_text("read · promoted")
    page.locator("#cluster-lens-member").select_option(index=2)  # 0: placeholder, 1: all
    expect(page.locator("#lens-paths")).to_contain_text("read at residual point")
    page.locator("#top-examples a").first.click()
    expect(page.locator("#sample-text .token").first).to_be_visible()
    assert watched.errors == []


def test_the_study_lives_in_the_url(app_with_two_studies: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    open_list(watched, app_with_two_studies.url + "/clusters?study=second")
    expect(page.locator("#study-name")).to_contain_text("144 harvested tokens")  # 9 x 16
    page.locator(GRID_IDS).first.click()
    expect(page).to_have_url(re.compile(r"/cluster/\d+\?study=second$"))
    page.locator("#cluster-top-members a").first.click()
    expect(page).to_have_url(re.compile(r"/component/.+\?study=second$"))
    page.goto(app_with_two_studies.url + "/clusters")
    expect(page.locator("#study-name")).to_contain_text("192 harvested tokens")  # 12 x 16
    page.goto(app_with_two_studies.url + "/clusters?study=..%2Fetc")
    expect(page.locator("#no-study")).to_contain_text("is not allowed")
    page.goto(app_with_two_studies.url + "/cluster/1?study=third")
    expect(page.locator("#no-study")).to_contain_text("no study named 'third'")
    assert watched.errors == []


def plane_colours(page) -> dict:
    """The plane view's drawn points: their colour values and the colour bar's title."""
    return page.evaluate(
        """() => {
            const plot = document.querySelector('#plane-graph .js-plotly-plot');
            const points = plot._fullData[0];
            const colours = Array.isArray(points.marker.color) ? points.marker.color : [];
            const title = plot.querySelector('.colorbar .cbtitle');
            return {count: points.x.length, distinct: new Set(colours).size,
                    coloured: colours.length, title: title ? title.textContent : null};
        }"""
    )


def test_the_plane_view_colours_by_token_group_and_by_sae_feature(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_first_cluster(watched, app_with_micro_study.url)
    page.locator("#section-plane-view").scroll_into_view_if_needed()
    expect(page.locator("#plane-graph .main-svg").first).to_be_visible(timeout=30_000)
    by_group = plane_colours(page)
    assert by_group["title"] == "token group"
    assert by_group["coloured"] == by_group["count"] > 0 and by_group["distinct"] > 1
    page.locator("#cluster-plane-colour").select_option("sae")
    expect(page.locator("#plane-graph .cbtitle")).to_contain_text("SAE p", timeout=30_000)
    by_sae = plane_colours(page)
    assert re.fullmatch(r"SAE p\d+ f\d+", by_sae["title"])
    assert by_sae["coloured"] == by_sae["count"] and by_sae["distinct"] > 1
    page.locator("#cluster-plane-colour").select_option("none")
    expect(page.locator("#plane-graph .cbtitle")).to_have_count(0, timeout=30_000)
    assert plane_colours(page)["coloured"] == 0
    assert watched.errors == []


def test_the_decomposition_quality_opens_onto_its_modules(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_list(watched, app_with_micro_study.url + "/clusters")
    quality = page.locator("#decomposition-quality")
    expect(quality).to_contain_text("nats from the target's")
    expect(quality.locator("tbody tr").first).to_be_hidden()
    quality.locator("summary").click()
    expect(quality.locator("tbody tr")).to_have_count(14)  # the micro preset's modules
    open_first_cluster(watched, app_with_micro_study.url)
    expect(page.locator("#cluster-decomposition-quality")).to_contain_text("a token needs")
    assert watched.errors == []


def test_lumps_are_labelled_in_the_list_and_on_their_page(
    app_with_study: ServedApp, watched: WatchedPage, random_study_template
) -> None:
    from dashboard.analysis.cluster_table import cluster_table
    from dashboard.analysis.study_analyses import cluster_analyses
    from dashboard.study import Study
    from dashboard.study.summary import vocab_tokens

    study = Study(random_study_template)
    table = cluster_table(
        cluster_analyses(study, study.default_iteration), study.subcomponents, vocab_tokens(study)
    )
    lumps = set(table.loc[table["labels"].str.contains("lump"), "cluster"].astype(str))
    assert lumps and len(lumps) < len(table)  # the random study has both kinds
    page = watched.page
    open_list(watched, app_with_study.url + "/clusters?f_labels=lump")
    shown = grid_ids(page)
    assert shown and set(shown) <= lumps
    page.locator(GRID_IDS).first.click()
    expect(page.locator("#cluster-reliability")).to_contain_text("Lump:")
    expect(page.locator("#cluster-reliability")).to_contain_text("independently")
    assert watched.errors == []


def test_a_cluster_s_charts_show_exact_values_on_hover(
    app_with_study: ServedApp, watched: WatchedPage, random_study_template
) -> None:
    """The first screen's SVG charts (no plotly.js): hovering a histogram bin reads out the
    stored counts of that bin, and hovering a makeup cell its member count."""
    import numpy as np

    from dashboard.analysis.measures import makeup_matrix
    from dashboard.analysis.study_analyses import cluster_analyses
    from dashboard.study import Study

    study = Study(random_study_template)
    analyses = cluster_analyses(study, study.default_iteration)
    cluster = int(analyses.clusters["cluster"].iloc[0])
    row = analyses.row_of(cluster)
    counts = analyses.arrays["ci_histogram"][row]
    maxima = analyses.arrays["window_max_histogram"][row]
    page = watched.page
    page.goto(f"{app_with_study.url}/cluster/{cluster}")
    catcher = page.locator("#cluster-activation-0 rect[fill=transparent]")
    expect(catcher).to_be_visible(timeout=30_000)
    assert page.evaluate("window.Plotly === undefined")  # nothing on this screen needs plotly
    box = catcher.bounding_box()
    for bin_index in (0, len(counts) // 2, len(counts) - 1):
        x = (bin_index + 0.5) / len(counts) * box["width"]
        catcher.hover(position={"x": x, "y": box["height"] / 2})
        readout = page.locator("#cluster-activation-0 .atlas-chart-readout")
        expect(readout).to_contain_text(
            f"all tokens {counts[bin_index]:g}, window maxima {maxima[bin_index]:g}"
        )
    members = analyses.members.loc[analyses.members["cluster"] == cluster, "subcomponent"]
    matrix = makeup_matrix(study.subcomponents, members.to_numpy())
    layer, kind = np.unravel_index(np.argmax(matrix.to_numpy()), matrix.shape)
    cells = page.locator("#cluster-makeup svg > g:has(rect)")
    cells.nth(layer * matrix.shape[1] + kind).hover()
    expect(page.locator("#cluster-makeup .atlas-chart-readout")).to_have_text(
        f"layer {matrix.index[layer]}, {matrix.columns[kind]}: "
        f"{matrix.to_numpy()[layer, kind]} members"
    )
    assert watched.errors == []


def test_stability_is_said_on_a_cluster_page_and_filters_the_list(
    app_with_micro_study: ServedApp, watched: WatchedPage, micro_study
) -> None:
    """The micro study's build ran the stability ensemble: a cluster's page says its
    stability, and the list filtered on it shows only clusters in the range."""
    from dashboard.study import Study

    clusters = Study(micro_study).table("analyses/clusters.parquet")
    measured = clusters[clusters["size"] >= 2].sort_values("size", ascending=False)
    page = watched.page
    row = measured.iloc[0]
    page.goto(f"{app_with_micro_study.url}/cluster/{int(row['cluster'])}")
    expect(page.locator("#cluster-reliability")).to_contain_text(
        f"Stability {row['stability']:.2f}: clustered again on 4 disjoint subsets"
    )
    low = float(measured["stability"].median())
    open_list(watched, f"{app_with_micro_study.url}/clusters?f_stability={low:.4f}..1")
    shown = grid_ids(page)
    kept = clusters.loc[clusters["stability"] >= round(low, 4), "cluster"].astype(str)
    assert shown and set(shown) <= set(kept)
    assert watched.errors == []


def test_the_table_sorts_scrolls_through_blocks_and_shows_exact_values(
    tmp_path, watched: WatchedPage
) -> None:
    """The list's table on a study of more clusters than one block: a header click sorts (and
    writes the sort into the URL), scrolling to the end draws rows of later blocks, sideways
    scrolling keeps the cluster column, and a cell's hover holds the exact value."""
    from dashboard.analysis.study_analyses import cluster_analyses
    from dashboard.study import Study
    from tests.study_factory import write_random_study

    study = Study(write_random_study(tmp_path / "data" / "big", subcomponents_per_module=90))
    clusters = cluster_analyses(study, study.default_iteration).clusters.set_index("cluster")
    assert len(clusters) > 200  # more than two blocks of 100 rows
    page = watched.page
    with serving(tmp_path / "data", "big") as app:
        open_list(watched, app.url + "/clusters")
        table = page.locator("#clusters-grid")
        expect(table).to_have_attribute("data-count", str(len(clusters)))
        title = page.locator('#clusters-grid .atlas-table-title[data-column="cluster"]')
        title.click()  # a number column sorts descending first
        expect(page).to_have_url(re.compile(r"sort=-cluster"))
        expect(page.locator(GRID_IDS).first).to_have_text(str(clusters.index.max()))
        title.click()
        expect(page).to_have_url(re.compile(r"sort=cluster\b"))
        expect(page.locator(GRID_IDS).first).to_have_text(str(clusters.index.min()))
        scroller = page.locator("#clusters-grid .atlas-table-scroll")
        scroller.evaluate("element => { element.scrollTop = element.scrollHeight; }")
        expect(page.locator(GRID_IDS).last).to_have_text(str(clusters.index.max()))
        scroller.evaluate("element => { element.scrollLeft = element.scrollWidth; }")
        expect(page.locator('#clusters-grid [data-column="intruder"]').first).to_be_visible()
        expect(page.locator(GRID_IDS).last).to_be_visible()  # the cluster column stays
        scroller.evaluate("element => { element.scrollLeft = 0; element.scrollTop = 0; }")
        cell = page.locator('#clusters-grid .atlas-table-row [data-column="firing_frequency"]')
        expect(cell.first).to_be_visible()
        first = int(page.locator(GRID_IDS).first.inner_text())
        exact = float(cell.first.get_attribute("title"))
        assert exact == clusters.loc[first, "firing_frequency"]
        assert float(cell.first.inner_text()) == pytest.approx(exact, rel=1e-3)
    assert watched.errors == []
