"""Clusters discussed as GitHub issues: the titles and bodies the app links to, a client of
GitHub's REST API (urllib only, paged, patient with rate limits) and a store of the issues and
comments that name a cluster, synced incrementally."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from dashboard.stores.database import Database

MAX_LABEL_CHARS = 80
TITLE_PATTERN = re.compile(
    r"^\[cluster (?P<study>[A-Za-z0-9._-]+)/(?P<iteration>\d+)/(?P<cluster>\d+)\](?=\s|$)"
)
PUBLIC_API = "https://api.github.com"
ENTERPRISE_API_PATH = "/api/v3"
MAX_TRIES = 5  # per request: answers of server errors, and of rate limits
NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="next"')


class GitHubError(RuntimeError):
    """GitHub refused a request, or answering it would mean waiting too long."""


def discussion_title(study: str, iteration: int, cluster: int, label: str) -> str:
    """`[cluster <study>/<iteration>/<cluster>] <label>`, the label on one line and trimmed."""
    one_line = " ".join(label.split())[:MAX_LABEL_CHARS].rstrip()
    return f"[cluster {study}/{iteration}/{cluster}] {one_line}".rstrip()


def parse_discussion_title(title: str) -> tuple[str, int, int] | None:
    """(study, iteration, cluster) named by a discussion title, or None for any other title."""
    found = TITLE_PATTERN.match(title)
    if found is None:
        return None
    return found["study"], int(found["iteration"]), int(found["cluster"])


def discussion_body(
    study: str, iteration: int, cluster: int, modules: dict[str, int], permalink: str
) -> str:
    """YAML front matter naming the cluster and its members per module, then an invitation."""
    module_lines = [f"  {json.dumps(name)}: {int(count)}" for name, count in modules.items()]
    lines = [
        "---",
        f"study: {json.dumps(study)}",
        f"iteration: {int(iteration)}",
        f"cluster: {int(cluster)}",
        "modules:" if module_lines else "modules: {}",
        *module_lines,
        f"members: {sum(int(count) for count in modules.values())}",
        f"permalink: {json.dumps(permalink)}",
        "---",
        "",
        "What do these subcomponents do together? Share evidence, explanations and doubts below.",
        "",
    ]
    return "\n".join(lines)


def web_base(api: str) -> str:
    """The web address behind an API base: github.com, an enterprise host, or the base itself."""
    api = api.rstrip("/")
    if api == PUBLIC_API:
        return "https://github.com"
    parts = urlsplit(api)
    if parts.scheme == "https" and parts.netloc and parts.path == ENTERPRISE_API_PATH:
        return f"https://{parts.netloc}"
    return api


def new_issue_url(api: str, repo: str, title: str, body: str) -> str:
    """The web page that opens a new issue of `repo` with this title and body filled in."""
    query = urlencode({"title": title, "body": body}, quote_via=quote)
    return f"{web_base(api)}/{repo}/issues/new?{query}"


class GitHubClient:
    """Reads a repository's issues and comments; waits out rate limits up to `max_wait` s."""

    def __init__(
        self,
        api: str,
        repo: str,
        token: str | None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 60.0,
        per_page: int = 100,
    ):
        self.api = api.rstrip("/")
        self.repo = repo
        self.token = token
        self.sleep = sleep
        self.max_wait = max_wait
        self.per_page = per_page
        self.exhausted_until: float | None = None  # the reset of a limit the last answer used up

    def issues(self, since: str | None) -> Iterator[dict]:
        """Issues (not pull requests) of any state, least recently updated first."""
        query = {
            "state": "all",
            "per_page": self.per_page,
            "sort": "updated",
            "direction": "asc",
            **({"since": since} if since else {}),
        }
        for issue in self.pages(f"{self.api}/repos/{self.repo}/issues?{urlencode(query)}"):
            if "pull_request" not in issue:
                yield issue

    def comments(self, number: int) -> Iterator[dict]:
        """An issue's comments, oldest first."""
        query = urlencode({"per_page": self.per_page})
        yield from self.pages(f"{self.api}/repos/{self.repo}/issues/{number}/comments?{query}")

    def pages(self, url: str | None) -> Iterator[dict]:
        while url:
            items, headers = self.get(url)
            yield from items
            found = NEXT_LINK.search(headers.get("Link", ""))
            url = found[1] if found else None
            if url and not url.startswith(f"{self.api}/"):
                raise self.error(f"GitHub's next page lies outside {self.api}: {url}")

    def headers(self) -> dict[str, str]:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "spd-atlas",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def get(self, url: str) -> tuple[list, dict[str, str]]:
        """The JSON answer to a GET and its headers, after waiting out limits and 5xx answers."""
        tries = {"rate limit": 0, "server error": 0}  # up to MAX_TRIES of each
        while True:
            if self.exhausted_until is not None:
                reset, self.exhausted_until = self.exhausted_until, None
                self.wait(reset - time.time(), f"rate limit used up; {reset_note(reset)}")
            request = urllib.request.Request(url, headers=self.headers())
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    headers = dict(response.headers.items())
                    body = response.read()
            except urllib.error.HTTPError as error:
                headers, body = dict(error.headers.items()), error.read()
                failure = f"GitHub answered {error.code} to GET {url}"
                kind = "server error" if error.code >= 500 else "rate limit"
                tries[kind] += 1
                delay, why = retry_delay(error.code, headers, tries[kind])
                if delay is None:
                    raise self.error(f"{failure}: {github_message(body)}") from None
                if tries[kind] == MAX_TRIES:
                    raise self.error(f"{failure}: {why}, {MAX_TRIES} times") from None
                self.wait(delay, why)
                continue
            except (urllib.error.URLError, TimeoutError) as error:
                reason = getattr(error, "reason", error)
                raise self.error(f"cannot reach GitHub at {self.api}: {reason}") from None
            if headers.get("X-RateLimit-Remaining") == "0":
                self.exhausted_until = reset_time(headers)
            try:
                return json.loads(body), headers
            except ValueError:
                raise self.error(f"GitHub's answer to GET {url} is not JSON") from None

    def wait(self, seconds: float, why: str) -> None:
        """Sleep `seconds`, or GitHubError when that is longer than `max_wait`."""
        if seconds > self.max_wait:
            hint = "" if self.token else "; a GITHUB_TOKEN raises GitHub's limits"
            raise self.error(
                f"waiting {seconds:.0f} s for GitHub is over this client's limit of "
                f"{self.max_wait:g} s ({why}): try again later{hint}"
            )
        if seconds > 0:
            self.sleep(seconds)

    def error(self, message: str) -> GitHubError:
        """A GitHubError whose message cannot carry the token."""
        if self.token:
            message = message.replace(self.token, "***")
        return GitHubError(message)


def retry_delay(status: int, headers: dict[str, str], tries: int) -> tuple[float | None, str]:
    """(seconds to wait before retrying, or None not to; why) after the `tries`-th such answer."""
    if status in (403, 429) and headers.get("Retry-After", "").isdigit():
        delay = float(headers["Retry-After"])
        return delay, f"rate limited; {reset_note(time.time() + delay)}"
    if status in (403, 429) and headers.get("X-RateLimit-Remaining") == "0":
        reset = reset_time(headers)
        return reset - time.time(), f"rate limit used up; {reset_note(reset)}"
    if status >= 500:
        return float(2 ** (tries - 1)), f"server error {status}"
    return None, ""


def reset_time(headers: dict[str, str]) -> float:
    """When the rate limit resets (epoch seconds); in a minute if GitHub did not say."""
    reset = headers.get("X-RateLimit-Reset", "")
    return float(reset) if reset.isdigit() else time.time() + 60


def reset_note(reset: float) -> str:
    return f"it resets at {datetime.fromtimestamp(reset, UTC).isoformat(timespec='seconds')}"


def github_message(body: bytes) -> str:
    """GitHub's `message` in an error answer, else the start of the answer."""
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else body[:200].decode(errors="replace") or "(no message)"


@dataclass(frozen=True)
class DiscussionComment:
    comment_id: int
    author: str
    body: str
    url: str
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class DiscussionIssue:
    number: int
    title: str
    state: str  # "open" or "closed"
    url: str
    author: str
    body: str
    created_at: str
    updated_at: str
    comment_count: int
    comments: list[DiscussionComment] = field(default_factory=list)  # oldest first


ISSUE_COLUMNS = "number, title, state, url, author, body, created_at, updated_at, comment_count"
COMMENT_COLUMNS = "comment_id, author, body, url, created_at, updated_at"
UPSERT_ISSUE = f"""INSERT INTO github_issues (repo, study, iteration, cluster, {ISSUE_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (repo, number) DO UPDATE SET study = excluded.study,
        iteration = excluded.iteration, cluster = excluded.cluster, title = excluded.title,
        state = excluded.state, url = excluded.url, author = excluded.author,
        body = excluded.body, updated_at = excluded.updated_at,
        comment_count = excluded.comment_count"""
UPSERT_COMMENT = f"""INSERT INTO github_comments (repo, number, {COMMENT_COLUMNS})
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (repo, comment_id) DO UPDATE SET number = excluded.number,
        author = excluded.author, body = excluded.body, url = excluded.url,
        updated_at = excluded.updated_at"""


def login(item: dict) -> str:
    """Who wrote an issue or comment; GitHub's `ghost` for deleted accounts."""
    return (item.get("user") or {}).get("login") or "ghost"


class GitHubStore:
    """The issues that discuss a cluster, with their comments, and how far each repo is synced."""

    def __init__(self, database: Database):
        self.database = database

    def last_synced(self, repo: str) -> str | None:
        """The newest `updated_at` stored by the last sync of `repo`, or None if never synced."""
        rows = self.database.execute("SELECT synced_at FROM github_syncs WHERE repo = ?", (repo,))
        return rows[0][0] if rows else None

    def mark_synced(self, repo: str, synced_at: str) -> None:
        self.database.execute(
            "INSERT INTO github_syncs (repo, synced_at) VALUES (?, ?) "
            "ON CONFLICT (repo) DO UPDATE SET synced_at = excluded.synced_at",
            (repo, synced_at),
        )

    def store_issue(self, repo: str, issue: dict, comments: list[dict]) -> None:
        """Write one issue and replace its comments, in one transaction."""
        named = parse_discussion_title(issue["title"])
        if named is None:
            raise ValueError(f"issue #{issue['number']}: its title names no cluster")
        issue_row = (
            repo,
            *named,
            issue["number"],
            issue["title"],
            issue["state"],
            issue["html_url"],
            login(issue),
            issue.get("body") or "",
            issue["created_at"],
            issue["updated_at"],
            len(comments),
        )
        comment_rows = [
            (
                repo,
                issue["number"],
                comment["id"],
                login(comment),
                comment.get("body") or "",
                comment["html_url"],
                comment["created_at"],
                comment["updated_at"],
            )
            for comment in comments
        ]
        self.database.execute_all(
            [
                (UPSERT_ISSUE, issue_row),
                (
                    "DELETE FROM github_comments WHERE repo = ? AND number = ?",
                    (repo, issue["number"]),
                ),
                *((UPSERT_COMMENT, row) for row in comment_rows),
            ]
        )

    def forget_issue(self, repo: str, number: int) -> None:
        """Drop an issue (retitled so that it names no cluster) and its comments."""
        self.database.execute_all(
            [
                ("DELETE FROM github_comments WHERE repo = ? AND number = ?", (repo, number)),
                ("DELETE FROM github_issues WHERE repo = ? AND number = ?", (repo, number)),
            ]
        )

    def issues_of(
        self, repo: str, study: str, iteration: int, cluster: int
    ) -> list[DiscussionIssue]:
        """The issues that discuss one cluster, newest first, each with its comments."""
        where = "repo = ? AND study = ? AND iteration = ? AND cluster = ?"
        parameters = (repo, study, iteration, cluster)
        issue_rows = self.database.execute(
            f"SELECT {ISSUE_COLUMNS} FROM github_issues WHERE {where} "
            "ORDER BY created_at DESC, number DESC",
            parameters,
        )
        comment_rows = self.database.execute(
            f"SELECT number, {COMMENT_COLUMNS} FROM github_comments WHERE repo = ? AND number IN "
            f"(SELECT number FROM github_issues WHERE {where}) ORDER BY created_at, comment_id",
            (repo, *parameters),
        )
        comments: dict[int, list[DiscussionComment]] = {}
        for number, *row in comment_rows:
            comments.setdefault(number, []).append(DiscussionComment(*row))
        return [DiscussionIssue(*row, comments=comments.get(row[0], [])) for row in issue_rows]


@dataclass(frozen=True)
class SyncReport:
    issues_seen: int  # updated since the last sync, discussions or not
    issues_stored: int  # those whose title names a cluster
    comments_stored: int
    since: str | None  # where this sync started; None: from the beginning


def sync(
    client: GitHubClient,
    store: GitHubStore,
    full: bool = False,
    progress: Callable[[int], object] | None = None,
) -> SyncReport:
    """Store the discussions updated since the last sync (all of them when `full`), forget
    issues retitled away from a cluster, then record the newest update seen: an interrupted
    sync starts again where the last one ended."""
    since = None if full else store.last_synced(client.repo)
    newest = since
    seen = stored = comments_stored = 0
    for issue in client.issues(since):
        seen += 1
        newest = max(newest or "", issue["updated_at"])
        if parse_discussion_title(issue["title"]) is None:
            store.forget_issue(client.repo, issue["number"])
        else:
            has_comments = issue.get("comments", 1) > 0  # spares a request per silent issue
            comments = list(client.comments(issue["number"])) if has_comments else []
            store.store_issue(client.repo, issue, comments)
            stored += 1
            comments_stored += len(comments)
        if progress is not None:
            progress(seen)
    if newest is not None and newest != since:
        store.mark_synced(client.repo, newest)
    return SyncReport(seen, stored, comments_stored, since)
