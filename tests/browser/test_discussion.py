"""Explanations and GitHub discussion on cluster pages, in real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from dashboard.stores.database import Database
from dashboard.stores.explanations import Explanation, ExplanationStore, Score
from dashboard.stores.github import discussion_title
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments
from tests.browser.conftest import ServedApp, WatchedPage, serving
from tests.browser.test_dashboard import GRID_IDS, floating_filter, grid_ids, open_list
from tests.fake_github import serving_fake_github

pytestmark = pytest.mark.browser


def test_an_explanation_written_on_a_cluster_page_is_listed_and_searchable(
    app_with_micro_study: ServedApp, watched: WatchedPage
) -> None:
    page = watched.page
    open_list(watched, app_with_micro_study.url + "/clusters")
    cluster = page.locator(GRID_IDS).nth(1).inner_text()
    page.goto(f"{app_with_micro_study.url}/cluster/{cluster}")
    page.locator("#cluster-explain-author").fill("ada")
    page.locator("#cluster-explain-save").click()
    expect(page.locator("#cluster-explain-message")).to_contain_text("text: empty")
    expect(page.locator("#cluster-explain-author")).to_have_value("ada")  # kept
    text = "fires on <b>river</b> words <img src=x onerror=window.pwned=1>"
    page.locator("#cluster-explain-text").fill(text)
    page.locator("#cluster-explain-save").click()
    expect(page.locator("#cluster-explanations .explanation-text")).to_have_text(text)
    expect(page.locator("#cluster-explanations")).to_contain_text("ada")
    expect(page.locator("#cluster-explain-text")).to_have_value("")
    assert page.locator("#cluster-explanations img, #cluster-explanations b").count() == 0
    assert page.evaluate("window.pwned") is None
    open_list(watched, app_with_micro_study.url + "/clusters")
    floating_filter(page, "explanation").fill("<b>river</b> words")
    expect(page.locator(GRID_IDS)).to_have_count(1)
    assert grid_ids(page) == [cluster]
    assert watched.errors == []


TOKEN = "ghp_browser_test_secret_token"
HOSTILE_COMMENT = """**bold** words, then hostile ones:
<script>window.pwned = 1</script>
<img src=x onerror="window.pwned = 2">
[a javascript link](javascript:window.pwned=3) and [a reference][r] and <javascript:alert(4)>

[r]: javascript:window.pwned=5
"""


@pytest.fixture(scope="module")
def discussed(micro_study: Path, tmp_path_factory: pytest.TempPathFactory):
    """The app on the micro study, its repository a local GitHub with one discussion of a
    cluster at the default iteration."""
    study = Study(micro_study)
    iteration = study.default_iteration
    assignments = cluster_assignments(study, iteration)
    cluster = int(assignments[assignments >= 0].min())
    with serving_fake_github("atlas-tests/browser") as github:
        github.add_issue(7, discussion_title(study.name, iteration, cluster, "what is this?"))
        github.add_comment(7, "bob", HOSTILE_COMMENT)
        env = {
            "ATLAS_GITHUB_REPO": github.repo,
            "ATLAS_GITHUB_API": github.base,
            "GITHUB_TOKEN": TOKEN,
        }
        data_dir = tmp_path_factory.mktemp("data-discussed")
        with serving(data_dir, str(micro_study), extra=env) as app:
            yield app, github, cluster, iteration


def test_discussion_links_refreshes_and_renders_comments_harmlessly(
    discussed, watched: WatchedPage
) -> None:
    app, github, cluster, iteration = discussed
    page = watched.page
    bodies: list[str] = []
    page.on("response", lambda response: bodies.append(response.text()))
    page.goto(f"{app.url}/cluster/{cluster}")
    link = page.locator("#cluster-discuss-link")
    expect(link).to_have_attribute(
        "href",
        re.compile(
            re.escape(f"{github.base}/{github.repo}/issues/new?title=")
            + re.escape(quote(f"[cluster micro/{iteration}/{cluster}]", safe=""))
        ),
    )
    expect(link).to_have_attribute(
        "href", re.compile(re.escape(quote(f"/cluster/{cluster}?iteration={iteration}", safe="")))
    )
    expect(page.locator("#cluster-discussion")).to_contain_text("No GitHub issue")
    page.locator("#cluster-discuss-refresh").click()
    expect(page.locator("#cluster-discuss-message")).to_contain_text("1 updated issue")
    discussion = page.locator("#cluster-discussion")
    expect(discussion).to_contain_text("#7 [cluster micro/")
    expect(discussion.locator("strong")).to_have_text("bold")
    expect(discussion).to_contain_text("hostile ones")
    assert discussion.locator("script, img, iframe").count() == 0
    hrefs = discussion.locator("a").evaluate_all("links => links.map(a => a.href)")
    assert hrefs and not any(href.lower().startswith("javascript") for href in hrefs), hrefs
    assert page.evaluate("window.pwned") is None
    assert github.requested("issues")[0]["authorization"] == f"Bearer {TOKEN}"
    page.wait_for_load_state("networkidle")
    assert not any(TOKEN in body for body in bodies)
    assert TOKEN not in page.content()
    assert watched.errors == []


def test_a_subcomponent_keeps_explanations_of_its_own(
    app_with_micro_study: ServedApp, micro_study: Path, watched: WatchedPage
) -> None:
    page = watched.page
    label = Study(micro_study).subcomponents["label"].iloc[0]
    page.goto(f"{app_with_micro_study.url}/component/{label}")
    expect(page.locator("#component-explanations")).to_contain_text("No explanation")
    page.locator("#component-explain-author").fill("bob")
    page.locator("#component-explain-text").fill("reads the previous token")
    page.locator("#component-explain-save").click()
    expect(page.locator("#component-explanations .explanation-text")).to_have_text(
        "reads the previous token"
    )
    page.reload()
    expect(page.locator("#component-explanations")).to_contain_text("bob")
    assert watched.errors == []


def test_explanation_scores_show_beside_their_baselines_and_sort_the_list(
    random_study_template: Path, tmp_path: Path, watched: WatchedPage
) -> None:
    """A model's scored explanation: its page lists each score beside its baseline; the list
    sorts and colours the map by a score."""
    study = Study(random_study_template)
    iteration = study.default_iteration
    clusters = sorted(set(cluster_assignments(study, iteration).tolist()) - {-1})
    store_url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = ExplanationStore(Database(store_url))
    for cluster, detection in ((clusters[0], 0.25), (clusters[1], 0.875)):
        scores = (
            Score("detection", detection, 0.5),
            Score("fuzzing", 0.625, 0.4375),
            Score("intruder", 0.375, 0.2),
        )
        store.put(
            Explanation(
                study.name,
                iteration,
                "cluster",
                str(cluster),
                "model",
                "judge-model",
                f"explains {cluster}",
                detection,
                scores=scores,
            )
        )
    (tmp_path / "data").mkdir()
    with serving(tmp_path / "data", str(random_study_template), {"DATABASE_URL": store_url}) as app:
        page = watched.page
        page.goto(f"{app.url}/cluster/{clusters[1]}")
        scores_shown = page.locator("#cluster-explanations .explanation-scores li")
        expect(scores_shown).to_have_count(3)
        expect(scores_shown.nth(0)).to_contain_text("detection 0.88 · random explanation 0.50")
        expect(scores_shown.nth(1)).to_contain_text("fuzzing 0.62 · random explanation 0.44")
        expect(scores_shown.nth(2)).to_contain_text("intruder 0.38 · chance 0.20")
        open_list(watched, f"{app.url}/clusters?sort=-detection&color=detection")
        assert grid_ids(page)[:2] == [str(clusters[1]), str(clusters[0])]
        expect(page.locator("#clusters-map .atlas-map-colourbar-title")).to_have_text(
            "detection (explanation)"
        )
        assert watched.errors == []
