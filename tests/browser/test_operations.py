"""Operations against the served app: /healthz, secrets kept from the browser, oversized
requests refused, and a study directory that disappears or changes while serving."""

from __future__ import annotations

import http.client
import json
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import ServedApp, WatchedPage, serving
from tests.browser.test_dashboard import GRID_IDS, open_list
from tests.services import postgres_url

pytestmark = pytest.mark.browser

SECRETS = {
    "ATLAS_SECRET_KEY": "sk-operations-secret-4711",
    "GITHUB_TOKEN": "ghp_operations_secret_4711",
    "DATABASE_URL": postgres_url(password="pg-secret-4711"),
}


def fetch(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_healthz_says_what_is_up(
    app_with_micro_study: ServedApp, app_without_study: ServedApp
) -> None:
    status, body = fetch(app_with_micro_study.url + "/healthz")
    report = json.loads(body)
    assert status == 200 and report["status"] == "ok" and report["mode"] == "embedded"
    assert set(report["checks"]) == {"study", "cache", "store", "workers"}
    assert report["checks"]["study"]["detail"].startswith("micro")
    # started with the server, before any job: the inference process, whose pid /healthz names
    deadline = time.monotonic() + 30
    while not report["checks"]["workers"]["detail"].startswith("resident inference process"):
        assert time.monotonic() < deadline, report["checks"]["workers"]
        time.sleep(0.5)
        report = json.loads(fetch(app_with_micro_study.url + "/healthz")[1])
    status, body = fetch(app_without_study.url + "/healthz")
    report = json.loads(body)
    assert status == 503 and report["status"] == "down"
    assert not report["checks"]["study"]["ok"] and report["checks"]["cache"]["ok"]


@pytest.fixture(scope="module")
def app_with_secrets(micro_study: Path, tmp_path_factory: pytest.TempPathFactory):
    extra = {**SECRETS, "ATLAS_GITHUB_REPO": "atlas-tests/secrets"}
    with serving(tmp_path_factory.mktemp("data-secrets"), str(micro_study), extra=extra) as app:
        yield app


def test_secrets_never_reach_the_browser(app_with_secrets: ServedApp, watched: WatchedPage) -> None:
    page = watched.page
    bodies: list[str] = []
    page.on("response", lambda response: bodies.append(response.text()))
    open_list(watched, app_with_secrets.url + "/clusters")
    cluster = page.locator(GRID_IDS).first.inner_text()
    for path in (f"/cluster/{cluster}", "/probe", "/masks", "/infer", "/nowhere"):
        page.goto(app_with_secrets.url + path)
        page.wait_for_load_state("networkidle")
    bodies.append(fetch(app_with_secrets.url + "/healthz")[1].decode())
    assert len(bodies) > 20
    for name, secret in SECRETS.items():
        value = secret.split(":")[2].split("@")[0] if name == "DATABASE_URL" else secret
        assert not any(value in body for body in bodies), f"{name} reached the browser"


def test_oversized_requests_are_refused(app_with_micro_study: ServedApp) -> None:
    host, port = app_with_micro_study.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/_dash-update-component")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(5_000_000))  # refused before it is read
    connection.endheaders()
    connection.send(b"{" + b" " * 1000)
    assert connection.getresponse().status == 413
    connection.close()
    status, _ = fetch(app_with_micro_study.url + "/healthz")
    assert status == 200  # and the app serves on


def test_a_study_that_disappears_or_changes_while_serving(
    micro_study: Path, tmp_path_factory: pytest.TempPathFactory, watched: WatchedPage
) -> None:
    data_dir = tmp_path_factory.mktemp("data-moving")
    study = data_dir / "moving"
    shutil.copytree(micro_study, study)
    page = watched.page
    with serving(data_dir, "moving") as app:
        open_list(watched, app.url + "/clusters")
        study.rename(data_dir / "moved-away")
        page.goto(app.url + "/clusters")
        expect(page.locator("#no-study")).to_contain_text("no study named 'moving'")
        assert fetch(app.url + "/healthz")[0] == 503
        (data_dir / "moved-away").rename(study)
        open_list(watched, app.url + "/clusters")
        assert fetch(app.url + "/healthz")[0] == 200
        tokens = study / "windows" / "token_ids.npy"
        original = tokens.read_bytes()
        tokens.write_bytes(original[: len(original) // 2])  # truncated under the app
        page.goto(app.url + "/clusters")
        expect(page.locator("#study-problem")).to_contain_text("token_ids.npy")
        tokens.write_bytes(original)
        open_list(watched, app.url + "/clusters")
        assert app.process.poll() is None
        assert app.log().count("Booting worker") == 1  # no crash loop
