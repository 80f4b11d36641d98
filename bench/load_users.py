"""A simulated researcher replaying recorded callbacks over one keep-alive HTTP connection, with
a page load's own signed `endId`: list, filter, a cluster page, a probe."""

from __future__ import annotations

import copy
import http.client
import json
import random
import re
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from bench.load_recording import TEXTS, UPDATE, Recording, layout_props, list_rows

JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class StepError(Exception):
    """Why a step failed, in words fit for counting (no per-request values)."""


class Connection:
    """One user's keep-alive HTTP connection (a stale one is reopened once, as browsers do)."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.connection: http.client.HTTPConnection | None = None
        self.requests = 0

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(
        self, method: str, path: str, body: bytes | None, deadline: float
    ) -> tuple[int, bytes]:
        """One request that must be answered before `deadline` (time.monotonic())."""
        for attempt in (0, 1):
            left = deadline - time.monotonic()
            if left <= 0:
                raise StepError("no full view in time")
            fresh = self.connection is None
            if fresh:
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=left)
            elif self.connection.sock is not None:
                self.connection.sock.settimeout(left)
            try:
                self.requests += 1
                self.connection.request(method, path, body=body, headers=JSON_HEADERS)
                response = self.connection.getresponse()
                data = response.read()
                if response.will_close:
                    self.close()
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                self.close()
                if fresh or attempt:
                    raise StepError(f"connection failed: {type(e).__name__}") from None
            except TimeoutError:
                self.close()
                raise StepError("no full view in time") from None
            except OSError as error:
                self.close()
                raise StepError(f"connection failed: {type(error).__name__}") from None
        raise AssertionError("not reached")


def with_values(body: dict, values: dict[tuple[str, str], Any]) -> dict:
    """`body` with each input and state value set from `values` where it names it."""
    body = copy.deepcopy(body)
    for entry in [*body.get("inputs", []), *body.get("state", [])]:
        if isinstance(entry, dict) and (entry.get("id"), entry.get("property")) in values:
            entry["value"] = values[(entry["id"], entry["property"])]
    return body


def without_values(body: dict) -> dict:
    """A poll's body: the renderer nulls every input and state value."""
    body = copy.deepcopy(body)
    for entry in [*body.get("inputs", []), *body.get("state", [])]:
        if isinstance(entry, dict):
            entry["value"] = None
    return body


@dataclass
class Step:
    kind: str
    started: float
    seconds: float
    http_requests: int
    error: str | None


class User:
    """One simulated researcher: list, filter, a cluster page, a probe, over and over."""

    def __init__(self, number: int, base: str, recording: Recording, seed: int):
        parts = urllib.parse.urlsplit(base)
        self.number = number
        self.base = base
        self.recording = recording
        self.connection = Connection(parts.hostname, parts.port)
        self.random = random.Random(seed)
        self.clicks = 0
        self.probes = 0
        self.end_id = ""
        self.deadline = 0.0  # of the step under way
        self.poll_body = json.dumps(without_values(recording.probe_start)).encode()
        self.list_body = json.dumps(recording.list_page).encode()
        self.filter_body = json.dumps(recording.rows_filter).encode()

    def load_page(self) -> None:
        """A page load: the HTML carries the signed `end_id` every callback then echoes."""
        status, data = self.connection.request("GET", "/clusters", None, self.deadline)
        if status != 200:
            raise StepError(f"page load: HTTP {status}")
        found = re.search(
            rb'<script id="_dash-config" type="application/json">(.*?)</script>', data
        )
        if not found:
            raise StepError("page load: no _dash-config")
        self.end_id = json.loads(found.group(1))["end_id"]

    def update_path(self, **handles: str) -> str:
        query = {"endId": self.end_id, **handles}
        return UPDATE + "?" + urllib.parse.urlencode(query, safe="~")

    def callback(
        self, body: bytes, output: str, parse: bool = True, poll: bool = False, **handles: str
    ) -> dict | None:
        """POST one callback; its JSON answer, or None for a 204 the browser got too (or not
        `parse`: then only checked to hold a Dash response, which saves this process's CPU)."""
        status, data = self.connection.request(
            "POST", self.update_path(**handles), body, self.deadline
        )
        if status == 204 and poll:
            raise StepError("probe: a poll got 204 (job ended, its result not read)")
        if status == 204 and output in self.recording.no_content_ok:
            return None
        if status != 200:
            raise StepError(f"{short(output)}: HTTP {status}")
        if not parse:
            if b'"response"' not in data[:64] or not data.rstrip().endswith(b"}"):
                raise StepError(f"{short(output)}: no response in the payload")
            return None
        try:
            answer = json.loads(data)
        except ValueError:
            raise StepError(f"{short(output)}: not JSON") from None
        if not isinstance(answer, dict):
            raise StepError(f"{short(output)}: not a Dash payload")
        return answer

    def list_page(self) -> None:
        answer = self.callback(self.list_body, self.recording.list_page["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("list: no response in the payload")
        if not list_rows(response):
            raise StepError("list: no rows in its first screen")

    def rows(self, body: bytes) -> None:
        answer = self.callback(body, self.recording.rows_filter["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("rows: no response in the payload")
        if response.get("clusters-message", {}).get("is_open"):
            raise StepError(f"rows: {response['clusters-message'].get('children')}")
        block = response["clusters-grid"]["block"]
        if not block.get("rows") or not block.get("count"):
            raise StepError("rows: no rows")

    def cluster(self) -> None:
        cluster = self.random.choice(self.recording.cluster_ids)
        router = with_values(
            self.recording.cluster_router, {("_pages_location", "pathname"): f"/cluster/{cluster}"}
        )
        answer = self.callback(json.dumps(router).encode(), router["output"])
        response = (answer or {}).get("response")
        if not response:
            raise StepError("cluster page: no response in the payload")
        props = layout_props(response, {})
        if props.get("cluster-store", {}).get("data", {}).get("cluster") != cluster:
            raise StepError("cluster page: not the cluster asked for")
        values = {
            (component, prop): value
            for component, found in props.items()
            for prop, value in found.items()
        }
        for section in self.recording.cluster_sections:
            body = with_values(section, values)
            self.callback(json.dumps(body).encode(), body["output"], parse=False)

    def probe(self) -> None:
        self.clicks += 1
        self.probes += 1
        admit = with_values(self.recording.probe_admit, {("probe-run", "n_clicks"): self.clicks})
        answer = self.callback(json.dumps(admit).encode(), admit["output"])
        admitted = (answer or {}).get("response", {})
        if admitted.get("probe-message", {}).get("is_open"):
            raise StepError(f"probe not admitted: {admitted['probe-message'].get('children')}")
        if "probe-request" not in admitted:
            raise StepError("probe not admitted: no request written")
        text = (
            f"{self.random.choice(TEXTS)}, said user {self.number} "
            f"for the {self.probes}th time ({secrets.token_hex(4)})."
        )
        start = with_values(
            self.recording.probe_start,
            {
                ("probe-request", "data"): admitted["probe-request"]["data"],
                ("probe-text", "value"): text,
            },
        )
        output = start["output"]
        answer = self.callback(json.dumps(start).encode(), output)
        if not answer or "cacheKey" not in answer or "job" not in answer:
            raise StepError("probe start: no cacheKey and job handles")
        handles = {"cacheKey": answer["cacheKey"], "job": answer["job"]}
        while True:
            time.sleep(self.recording.probe_interval_s)
            answer = self.callback(self.poll_body, output, poll=True, **handles)
            if answer is not None and "response" in answer:
                break
        result = answer["response"]
        message = result.get("probe-message", {})
        if message.get("is_open"):
            raise StepError(f"probe failed: {message.get('children')}")
        if "probe-result" not in result:
            raise StepError("probe: no result in the payload")

    def step(self, kind: str, timeout: float) -> Step:
        """One view of `kind`; a view not complete within `timeout` s is an error."""
        error = None
        started, before = time.monotonic(), self.connection.requests  # a failed page load counts
        try:
            if not self.end_id:
                self.deadline = time.monotonic() + timeout
                self.load_page()
                started, before = time.monotonic(), self.connection.requests
            self.deadline = started + timeout
            if kind == "list":
                self.list_page()
            elif kind == "filter":
                self.rows(self.filter_body)
            elif kind == "cluster":
                self.cluster()
            else:
                self.probe()
        except StepError as failure:
            error = str(failure)
            if error == "no full view in time":
                error = f"{kind}: no full view within {timeout:.0f} s"
        except Exception as failure:  # a malformed payload: count it, name its type
            error = f"{kind}: unexpected payload ({type(failure).__name__}: {failure})"[:200]
        return Step(
            kind,
            started,
            time.monotonic() - started,
            self.connection.requests - before,
            error,
        )


def short(output: str) -> str:
    """`..probe-result.children...probe-url.search..` -> `probe-result.children`."""
    first = output.strip(".").split("...")[0]
    return first.split("@")[0]
