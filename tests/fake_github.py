"""A local server that speaks the part of GitHub's REST API SPD Atlas uses: issue and
comment listings paged with `Link` headers, `since`, and queued answers (rate limits, errors)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


class FakeGitHub:
    """Issues and comments of one repository, served the way GitHub pages them."""

    def __init__(self, repo: str):
        self.repo = repo
        self.issues: dict[int, dict] = {}
        self.comments: dict[int, list[dict]] = {}
        self.requests: list[dict] = []  # path, query and Authorization of each request
        self.answers: list[tuple[int, dict[str, str], dict]] = []  # to give before the data
        self.clock = 0
        self.base = ""

    def tick(self) -> str:
        self.clock += 1
        return f"2024-05-01T10:{self.clock // 60:02d}:{self.clock % 60:02d}Z"

    def add_issue(self, number: int, title: str, pull_request: bool = False) -> dict:
        stamp = self.tick()
        issue = {
            "number": number,
            "title": title,
            "state": "open",
            "html_url": f"https://github.com/{self.repo}/issues/{number}",
            "user": {"login": "ada"},
            "body": f"body of #{number}",
            "created_at": stamp,
            "updated_at": stamp,
            "comments": 0,
        }
        if pull_request:
            issue["pull_request"] = {"url": "https://example.invalid/pull"}
        self.issues[number] = issue
        self.comments[number] = []
        return issue

    def add_comment(self, number: int, author: str, body: str) -> None:
        stamp = self.tick()
        comment_id = 10_000_000_000 + self.clock  # GitHub's comment ids exceed 32 bits
        self.comments[number].append(
            {
                "id": comment_id,
                "user": {"login": author},
                "body": body,
                "html_url": f"https://github.com/{self.repo}/issues/{number}#c{comment_id}",
                "created_at": stamp,
                "updated_at": stamp,
            }
        )
        self.issues[number].update(updated_at=stamp, comments=len(self.comments[number]))

    def edit(self, number: int, **changes: str) -> None:
        self.issues[number].update(changes, updated_at=self.tick())

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, dict[str, str], object]:
        if self.answers:
            return self.answers.pop(0)
        found = re.fullmatch(r"/repos/([^/]+/[^/]+)/issues(?:/(\d+)/comments)?", path)
        if found is None or found[1] != self.repo:
            return 404, {}, {"message": "Not Found"}
        if found[2] is None:
            items = sorted(self.issues.values(), key=lambda issue: issue["updated_at"])
            if query.get("since"):  # GitHub: updated at or after
                items = [issue for issue in items if issue["updated_at"] >= query["since"]]
        else:
            items = self.comments[int(found[2])]
        per_page, page = int(query.get("per_page", 30)), int(query.get("page", 1))
        headers = {}
        if page * per_page < len(items):
            following = urlencode({**query, "page": page + 1})
            headers["Link"] = f'<{self.base}{path}?{following}>; rel="next"'
        return 200, headers, items[(page - 1) * per_page : page * per_page]

    def requested(self, kind: str) -> list[dict]:
        """The requests for issue listings ("issues") or for comments ("comments")."""
        return [r for r in self.requests if r["path"].endswith(f"/{kind}")]


@contextmanager
def serving_fake_github(repo: str) -> Iterator[FakeGitHub]:
    """A FakeGitHub of `repo` on a free loopback port until the block ends."""
    fake = FakeGitHub(repo)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
            authorization = self.headers.get("Authorization")
            fake.requests.append(
                {"path": parts.path, "query": query, "authorization": authorization}
            )
            status, headers, data = fake.answer(parts.path, query)
            if status == 401 and isinstance(data, dict):  # as if a proxy echoed the request
                data = {"message": f"Bad credentials ({authorization})"}
            body = json.dumps(data).encode()
            self.send_response(status)
            for name, value in {"Content-Type": "application/json", **headers}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
