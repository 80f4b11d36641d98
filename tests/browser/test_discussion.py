"""Explanations and GitHub discussion on cluster pages, in real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import expect

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
