"""Internal links keep a page's study and iteration; a study page's shared opening."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.urls import Links, parse_index, single


def test_links_keep_the_study_and_a_non_default_iteration() -> None:
    default = Links.of({}, default_iteration=7)
    assert default.cluster(3) == "/cluster/3"
    assert default.component("layers.0.mlp.up_proj:4") == "/component/layers.0.mlp.up_proj:4"
    named = Links.of({"study": "second", "iteration": 2}, default_iteration=7)
    assert named.cluster(3) == "/cluster/3?study=second&iteration=2"
    assert named.sample(5, token=1) == "/sample/5?study=second&iteration=2&token=1"
    assert named.clusters(component="a:1") == "/clusters?study=second&iteration=2&component=a%3A1"
    assert named.at(7).cluster(3) == "/cluster/3?study=second"
    assert named.to("/probe", cluster=None) == "/probe?study=second&iteration=2"
    assert Links.of({"iteration": 7}, default_iteration=7).query() == ""


def test_links_are_values() -> None:
    """Hashable and equal by value: memoized page pieces take them as arguments."""
    one = Links.of({"study": "s", "iteration": 1}, 3)
    assert one == Links("s", 1, 3) and hash(one) == hash(Links("s", 1, 3))


def test_reading_url_values() -> None:
    assert single(["a", "b"]) == "b" and single([]) is None and single("x") == "x"
    assert parse_index("12") == 12
    assert parse_index("-1") is None and parse_index("1/x") is None
    assert parse_index("1" * 13) is None


def test_a_study_page_opens_its_study_and_iteration(
    random_study_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from dash import html

    from dashboard import app_state
    from dashboard.components.study_page import StudyPage, open_study_page

    shutil.copytree(random_study_template, tmp_path / "random")
    monkeypatch.setenv("ATLAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ATLAS_STUDY", "random")
    app_state.settings.cache_clear()  # read from this environment
    try:
        opened = open_study_page("Cluster", {"iteration": "3"})
        assert isinstance(opened, StudyPage)
        assert (opened.name, opened.iteration, opened.iteration_problem) == (None, 3, "")
        assert opened.links.cluster(1) == "/cluster/1?iteration=3"
        bad = open_study_page("Cluster", {"iteration": "999"})
        assert isinstance(bad, StudyPage) and bad.iteration == bad.study.default_iteration
        assert "not in the merge history" in bad.iteration_problem
        missing = open_study_page("Cluster", {"study": "third"})
        assert isinstance(missing, html.Div)
        assert "no study named 'third'" in str(missing.to_plotly_json())
    finally:
        app_state.settings.cache_clear()
