"""Discussion titles, bodies and links; the GitHub client and sync against a local server that
speaks the part of GitHub's REST API they use; the store in SQLite and in PostgreSQL."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import yaml

from dashboard.stores.database import Database
from dashboard.stores.github import (
    GitHubClient,
    GitHubError,
    GitHubStore,
    discussion_body,
    discussion_title,
    new_issue_url,
    parse_discussion_title,
    sync,
)
from tests.fake_github import FakeGitHub, serving_fake_github

TOKEN = "ghp_test_token_0123456789"
REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def github() -> Iterator[FakeGitHub]:
    with serving_fake_github(f"atlas-tests/discussions-{uuid.uuid4().hex[:8]}") as fake:
        yield fake


@pytest.fixture
def store(store_database: Database) -> GitHubStore:
    return GitHubStore(store_database)


class Sleeps(list):
    """A `sleep` that records how long it was asked to wait, and returns at once."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def client_of(github: FakeGitHub, **options: object) -> GitHubClient:
    options = {"token": TOKEN, "sleep": Sleeps(), "per_page": 2, **options}
    return GitHubClient(github.base, github.repo, **options)


def discussions(github: FakeGitHub) -> None:
    """Two discussions (one with three comments), an unrelated issue and a pull request."""
    github.add_issue(1, discussion_title("demo", 3, 17, "verbs of motion"))
    github.add_issue(2, "Crash when loading a study")
    github.add_issue(3, discussion_title("demo", 3, 17, "a second look"))
    github.add_issue(4, discussion_title("demo", 3, 17, "a pull request"), pull_request=True)
    github.add_issue(5, discussion_title("demo", 4, 2, "dates"))
    for author, text in [("ada", "first"), ("bob", "second"), ("cy", "third")]:
        github.add_comment(1, author, text)


def test_titles_round_trip_and_other_titles_name_no_cluster() -> None:
    title = discussion_title("demo-1.b", 12, 345, "  fires on\nverbs of motion " + "x" * 200)
    assert title.startswith("[cluster demo-1.b/12/345] fires on verbs of motion xxx")
    assert len(title) == len("[cluster demo-1.b/12/345] ") + 80 and "\n" not in title
    assert parse_discussion_title(title) == ("demo-1.b", 12, 345)
    assert discussion_title("demo", 0, 1, "") == "[cluster demo/0/1]"
    assert parse_discussion_title("[cluster demo/0/1]") == ("demo", 0, 1)
    for other in ["Crash on start", "[cluster demo/3] x", "[cluster demo/a/1] x", "Re: [cluster"]:
        assert parse_discussion_title(other) is None
    assert parse_discussion_title("[cluster demo/3/17]x") is None


def test_the_body_starts_with_yaml_front_matter_naming_the_cluster() -> None:
    modules = {"layers.0.mlp.up_proj": 3, 'odd: "name" #1': 2}
    permalink = "https://atlas.example/clusters?study=demo&iteration=3#cluster-17"
    body = discussion_body("demo", 3, 17, modules, permalink)
    assert body.startswith("---\n")
    front, rest = body.removeprefix("---\n").split("\n---\n", 1)
    assert yaml.safe_load(front) == {
        "study": "demo",
        "iteration": 3,
        "cluster": 17,
        "modules": modules,
        "members": 5,
        "permalink": permalink,
    }
    assert "discuss" in rest.lower() or "?" in rest
    assert (
        yaml.safe_load(discussion_body("demo", 3, 17, {}, "")[4:].split("---")[0])["modules"] == {}
    )


def test_new_issue_urls_for_github_enterprise_and_local_servers() -> None:
    title, body = "[cluster demo/3/17] verbs & nouns", '---\nstudy: "demo"\n---\n'
    for api, page in [
        ("https://api.github.com", "https://github.com/o/r/issues/new"),
        ("https://api.github.com/", "https://github.com/o/r/issues/new"),
        ("https://git.example.com/api/v3", "https://git.example.com/o/r/issues/new"),
        ("http://127.0.0.1:8123", "http://127.0.0.1:8123/o/r/issues/new"),
    ]:
        url = new_issue_url(api, "o/r", title, body)
        address, _, query = url.partition("?")
        assert address == page
        assert parse_qs(query) == {"title": [title], "body": [body]}


def test_sync_stores_discussions_only_with_their_comments(
    github: FakeGitHub, store: GitHubStore
) -> None:
    discussions(github)
    done: list[int] = []
    report = sync(client_of(github), store, progress=done.append)
    assert (report.issues_seen, report.issues_stored, report.comments_stored) == (4, 3, 3)
    assert report.since is None and done == [1, 2, 3, 4]
    listings = github.requested("issues")
    assert len(listings) == 3  # five items, two a page
    assert listings[0]["query"] == {
        "state": "all",
        "per_page": "2",
        "sort": "updated",
        "direction": "asc",
    }
    assert [r["query"].get("page") for r in listings] == [None, "2", "3"]
    assert sorted(r["path"] for r in github.requested("comments")) == [
        f"/repos/{github.repo}/issues/{n}/comments"
        for n in (1, 1)  # two pages; none for 3 and 5, which have no comments
    ]
    found = store.issues_of(github.repo, "demo", 3, 17)
    assert [issue.number for issue in found] == [3, 1]  # newest first; not the pull request
    first = found[1]
    assert (first.title, first.state, first.author, first.body) == (
        "[cluster demo/3/17] verbs of motion",
        "open",
        "ada",
        "body of #1",
    )
    assert first.comment_count == 3 and found[0].comments == []
    assert [(c.author, c.body) for c in first.comments] == [
        ("ada", "first"),
        ("bob", "second"),
        ("cy", "third"),
    ]
    assert first.comments[0].comment_id > 2**32
    assert [issue.number for issue in store.issues_of(github.repo, "demo", 4, 2)] == [5]
    assert store.issues_of(github.repo, "demo", 3, 18) == []
    assert store.last_synced(github.repo) == github.issues[1]["updated_at"]  # the newest


def test_a_second_sync_reads_only_what_changed(github: FakeGitHub, store: GitHubStore) -> None:
    discussions(github)
    client = client_of(github)
    sync(client, store)
    first_point = store.last_synced(github.repo)
    github.requests.clear()
    github.edit(3, title="[cluster demo/3/17] motion, revised", body="new body", state="closed")
    github.add_comment(3, "dee", "a reply")
    github.edit(5, title="No longer about a cluster")

    report = sync(client, store)
    assert report.since == first_point
    assert all(r["query"]["since"] == first_point for r in github.requested("issues"))
    assert (report.issues_seen, report.issues_stored, report.comments_stored) == (3, 2, 4)
    assert sorted(r["path"] for r in github.requested("comments")) == [
        f"/repos/{github.repo}/issues/{n}/comments"
        for n in (1, 1, 3)  # 1 updated at `since`
    ]
    second, first = store.issues_of(github.repo, "demo", 3, 17)
    assert (second.number, second.title, second.body, second.state) == (
        3,
        "[cluster demo/3/17] motion, revised",
        "new body",
        "closed",
    )
    assert [(c.author, c.body) for c in second.comments] == [("dee", "a reply")]
    assert len(first.comments) == 3
    assert store.issues_of(github.repo, "demo", 4, 2) == []  # retitled: forgotten
    assert store.last_synced(github.repo) == github.issues[5]["updated_at"]

    github.requests.clear()
    full = sync(client, store, full=True)
    assert full.since is None and "since" not in github.requested("issues")[0]["query"]
    assert full.issues_seen == 4


def test_rate_limits_are_waited_out(github: FakeGitHub, store: GitHubStore) -> None:
    discussions(github)
    sleeps = Sleeps()
    reset = str(int(time.time()) + 30)  # far enough ahead that a loaded machine still waits
    github.answers = [
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, {"message": "limit"}),
        (429, {"Retry-After": "1"}, {"message": "secondary rate limit"}),
        (502, {}, {"message": "bad gateway"}),
        (503, {}, {"message": "unavailable"}),
    ]
    report = sync(client_of(github, sleep=sleeps), store)
    assert report.issues_stored == 3
    assert len(sleeps) == 4 and 0 < sleeps[0] <= 30
    assert sleeps[1:] == [1.0, 1.0, 2.0]  # Retry-After, then backing off from 5xx
    assert len(github.requested("issues")) == 3 + 4


def test_a_used_up_limit_is_waited_for_before_the_next_request(github: FakeGitHub) -> None:
    github.add_issue(1, discussion_title("demo", 3, 17, "x"))
    sleeps = Sleeps()
    client = client_of(github, sleep=sleeps)
    reset = str(int(time.time()) + 2)
    github.answers = [(200, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}, [])]
    assert list(client.comments(1)) == [] and sleeps == []
    assert [issue["number"] for issue in client.issues(None)] == [1]
    assert len(sleeps) == 1 and 0 < sleeps[0] <= 2


def test_server_errors_back_off_exponentially_then_give_up(github: FakeGitHub) -> None:
    sleeps = Sleeps()
    github.answers = [(500, {}, {"message": "boom"})] * 5
    with pytest.raises(GitHubError, match=r"500 .*server error 500, 5 times"):
        list(client_of(github, sleep=sleeps).issues(None))
    assert sleeps == [1.0, 2.0, 4.0, 8.0]


def test_waits_over_max_wait_raise_and_say_when_the_limit_resets(github: FakeGitHub) -> None:
    sleeps = Sleeps()
    reset = int(time.time()) + 3600
    github.answers = [(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)}, {})]
    client = client_of(github, sleep=sleeps, max_wait=60.0)
    with pytest.raises(GitHubError) as raised:
        list(client.issues(None))
    message = str(raised.value)
    assert "over this client's limit of 60 s" in message and "rate limit used up" in message
    assert time.strftime("%Y-%m-%dT%H:%M", time.gmtime(reset)) in message  # when it resets
    github.answers = [(429, {"Retry-After": "120"}, {})]
    with pytest.raises(
        GitHubError, match=r"waiting 120 s for GitHub is over this client's limit of 60 s"
    ):
        list(client.issues(None))
    assert sleeps == []


def test_the_token_is_a_header_and_never_part_of_an_error(github: FakeGitHub) -> None:
    github.add_issue(1, discussion_title("demo", 3, 17, "x"))
    list(client_of(github).issues(None))
    assert github.requests[-1]["authorization"] == f"Bearer {TOKEN}"
    assert all(TOKEN not in json.dumps(r["query"]) for r in github.requests)
    list(client_of(github, token=None).issues(None))
    assert github.requests[-1]["authorization"] is None

    github.answers = [(401, {}, {})]  # the fake echoes the Authorization header back
    with pytest.raises(GitHubError, match="401") as raised:
        list(client_of(github).issues(None))
    assert "Bad credentials" in str(raised.value) and TOKEN not in str(raised.value)
    missing = GitHubClient(github.base, "atlas-tests/missing", TOKEN)
    with pytest.raises(GitHubError, match=r"404 .*Not Found") as raised:
        list(missing.issues(None))
    assert TOKEN not in str(raised.value)


def run_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ATLAS_", "GITHUB_")) and key not in ("DATABASE_URL", "REDIS_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", "github-sync"],
        env={**environment, "ATLAS_DATA_DIR": str(tmp_path), **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_cli_syncs_into_the_data_dir_store(github: FakeGitHub, tmp_path: Path) -> None:
    discussions(github)
    settings = {"ATLAS_GITHUB_API": github.base, "GITHUB_TOKEN": TOKEN}
    done = run_cli(tmp_path, ATLAS_GITHUB_REPO=github.repo, **settings)
    assert done.returncode == 0, done.stderr
    assert "stored 3 discussion(s) with 3 comment(s)" in done.stdout
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in github.requests)
    store = GitHubStore(Database(f"sqlite:///{tmp_path / 'atlas.sqlite3'}"))
    assert [issue.number for issue in store.issues_of(github.repo, "demo", 3, 17)] == [3, 1]

    failed = run_cli(tmp_path, ATLAS_GITHUB_REPO="atlas-tests/missing", **settings)
    assert failed.returncode == 1 and "404" in failed.stderr and TOKEN not in failed.stderr
    unset = run_cli(tmp_path, **settings)
    assert unset.returncode == 2 and "ATLAS_GITHUB_REPO" in unset.stderr
