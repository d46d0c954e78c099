"""The DataPipe view served by a real Airflow API server (started by the test, SimpleAuthManager,
the session's SQLite metadata database): anonymous and forged requests are refused, a logged-in
user reads the pages, and a real browser (Debian's chromium driven by playwright) logs in,
opens the view from Airflow's navigation, follows a product to its lineage and opens a report.
The browser's screenshots are kept under ``build/test-artifacts/``."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from airflow_env import AIRFLOW, ROOT, airflow_environment
from view_catalog import populate

from datapipe_ops.catalog import Catalog

pytestmark = [pytest.mark.requirement("DPPS-DP-R-154"), pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = ROOT / "build" / "test-artifacts"
USERS = {"admin": "admin-password", "viewer": "viewer-password"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(airflow_db, tmp_path_factory):
    """An Airflow API server with the DataPipe plugin over a populated catalog."""
    work = tmp_path_factory.mktemp("view")
    url = f"sqlite:///{work / 'catalog.sqlite'}"
    with Catalog(url) as catalog:
        ids = populate(catalog, work / "products")
    passwords = work / "passwords.json"
    passwords.write_text(json.dumps(USERS))
    port = free_port()
    env = {
        **os.environ,
        **airflow_environment(airflow_db),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": "datapipe-view-test-secret",
        "DATAPIPE_CATALOG_URL": url,
    }
    log = (work / "api-server.log").open("w")
    process = subprocess.Popen(
        [AIRFLOW, "api-server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5)
                break
            except (urllib.error.URLError, OSError):
                if process.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(
                        "the API server did not start:\n"
                        + (work / "api-server.log").read_text()[-3000:]
                    )
                time.sleep(1)
        yield base, ids
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def request(url: str, token: str | None = None, data: dict | None = None) -> tuple[int, bytes]:
    """(status, body) of a GET, or of a JSON POST when ``data`` is given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = None
    if data is not None:
        body = json.dumps(data).encode()
        headers["Content-Type"] = "application/json"
    try:
        with urllib.request.urlopen(urllib.request.Request(url, body, headers), timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def token_for(base: str, user: str) -> str:
    status, body = request(
        f"{base}/auth/token", data={"username": user, "password": USERS[user]}
    )
    assert status in (200, 201), body
    return json.loads(body)["access_token"]


@pytest.mark.parametrize(
    "path", ["/", "/products", "/products/1", "/quality", "/quality/trend.png?metric=x",
             "/reports", "/reports/1/"],
)  # fmt: skip
def test_anonymous_requests_are_refused(server, path):
    base, _ = server
    status, _ = request(f"{base}/datapipe{path}")
    assert status == 401


def test_a_forged_token_is_refused(server):
    base, _ = server
    status, _ = request(f"{base}/datapipe/", token="not.a.token")
    assert status in (401, 403)


def test_logged_in_users_read_the_pages(server):
    base, ids = server
    token = token_for(base, "viewer")
    status, body = request(f"{base}/datapipe/", token)
    assert status == 200 and b"sim-prod" in body and b"nightly" in body
    status, body = request(f"{base}/datapipe/products/{ids['dl2']}", token)
    assert status == 200 and b"gamma_000.dl1.h5" in body and b"gamma_000.dl0.h5" in body
    status, body = request(f"{base}/datapipe/quality/trend.png?metric=pedestal_rms", token)
    assert status == 200 and body.startswith(b"\x89PNG")
    status, body = request(f"{base}/datapipe/reports/{ids['report']}/", token)
    assert status == 200 and b"sim-prod.report.html" in body
    status, _ = request(f"{base}/datapipe/reports/{ids['report']}/secret.txt", token)
    assert status == 404
    status, _ = request(f"{base}/datapipe/products/99999", token)
    assert status == 404


def test_the_view_is_in_airflows_navigation(server):
    base, _ = server
    status, body = request(f"{base}/api/v2/plugins", token_for(base, "admin"))
    assert status == 200
    plugins = json.loads(body)["plugins"]
    (view,) = [p for p in plugins if p["name"] == "datapipe_view"]
    assert view["external_views"][0]["href"] == "/datapipe/"
    assert view["fastapi_apps"][0]["url_prefix"] == "/datapipe"


@pytest.mark.skipif(
    not Path(CHROMIUM).exists() and os.environ.get("CI") != "true",
    reason="Debian's chromium is not installed (.ci/run installs it)",
)
def test_in_a_real_browser(server):
    """Log in, open the view from Airflow's navigation, follow a product to its lineage, open
    the report; screenshots saved as test artifacts."""
    from playwright.sync_api import sync_playwright

    base, ids = server
    assert Path(CHROMIUM).exists(), "chromium is missing: .ci/run installs it with apt-get"
    shutil.rmtree(ARTIFACTS / "datapipe-view", ignore_errors=True)
    shots = ARTIFACTS / "datapipe-view"
    shots.mkdir(parents=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{base}/datapipe/")
        assert "Not authenticated" in page.content()  # no session yet: refused
        page.goto(f"{base}/auth/login")
        page.get_by_label("Username").fill("viewer")
        page.get_by_label("Password").fill(USERS["viewer"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)
        page.goto(f"{base}/plugin/datapipe")  # the navigation entry: the view inside Airflow
        frame = page.frame_locator("iframe")
        frame.get_by_role("link", name="sim-prod").first.wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "overview-in-airflow.png"), full_page=True)
        page.goto(f"{base}/datapipe/products?campaign=sim-prod")
        page.get_by_role("link", name=str(ids["dl2"]), exact=True).click()
        page.wait_for_url(f"**/datapipe/products/{ids['dl2']}")
        lineage = page.locator("#inputs")
        assert "gamma_000.dl1.h5" in lineage.inner_text()
        assert "gamma_000.dl0.h5" in lineage.inner_text()
        page.screenshot(path=str(shots / "product-lineage.png"), full_page=True)
        page.locator("#outputs a").first.click()
        page.get_by_role("link", name="open the report").click()
        page.wait_for_url(f"**/datapipe/reports/{ids['report']}/")
        assert "sim-prod.report.html" in page.content()
        browser.close()
    for shot in shots.iterdir():
        assert shot.stat().st_size > 5_000, shot
