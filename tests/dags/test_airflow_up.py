"""``make up`` for real: the four Airflow components as separate processes on the real PostgreSQL
(a uniquely named database, dropped after), the UI served, DAG runs triggered through the REST
API — a simulation production, an earlier nightly campaign, and a backfill over two nights with
a new version and config — all succeeding, then ``make down``.

The script behind ``make up``/``make down`` (``include/deploy/airflow-local.sh``) is called
directly:
``make up`` would first re-sync the virtualenv when pyproject.toml is newer than it.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from airflow_env import ROOT
from simulated_data import register_coefficients, simulated_night, tiny_production

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductQuery
from testkit.postgres import postgres_test_url

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1500)]

SCRIPT = ROOT / "include" / "deploy" / "airflow-local.sh"
RUN_TIMEOUT_S = 300


def free_port_block(size: int = 4) -> int:
    """A port P with P .. P+size-1 free (the UI, the two log servers, the health check)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size > 65535:
            continue
        try:
            for port in range(base, base + size):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no block of free ports")


@pytest.fixture(scope="module")
def postgres_database():
    """A new PostgreSQL database for the Airflow metadata, dropped afterwards."""
    server = postgres_test_url()
    name = f"airflow_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {server}: {exc.orig}", pytrace=False)
    yield sa.make_url(server).set(database=name).render_as_string(hide_password=False)
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def latest_night() -> date:
    """The night of the latest complete noon-to-noon interval: what the scheduler runs as soon
    as the nightly DAG is unpaused (catchup is off)."""
    now = datetime.now(UTC)
    return (now - timedelta(hours=12)).date() - timedelta(days=1)


@pytest.fixture(scope="module")
def airflow(tmp_path_factory, postgres_database):
    base = tmp_path_factory.mktemp("up")
    data = base / "data"
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    bdms = data / "bdms"
    latest = latest_night()
    # two earlier nights for the backfill (complete intervals, not the scheduler's latest one)
    nights = [(latest - timedelta(days=d)).isoformat() for d in (2, 1)]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        production = tiny_production(bdms)
        coefficients = []
        for k, night in enumerate([*nights, latest.isoformat()]):
            coefficients += simulated_night(bdms, night, obs_id_start=40001 + 10 * k)
        register_coefficients(catalog_url, coefficients)
    port = free_port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        DATAPIPE_AIRFLOW_HOME=str(base / "airflow"),
        DATAPIPE_AIRFLOW_PORT=str(port),
        DATAPIPE_AIRFLOW_DB=postgres_database,
        DATAPIPE_DATA_ROOT=str(data),
        DATAPIPE_CATALOG_URL=catalog_url,
        DATAPIPE_EXECUTION_BACKEND="local",
    )
    up = subprocess.run([SCRIPT, "up"], env=env, capture_output=True, text=True, timeout=600)
    info = {
        "base": base, "data": data, "catalog": catalog_url, "production": production,
        "nights": nights, "latest": latest.isoformat(), "port": port, "up": up, "env": env,
    }  # fmt: skip
    yield info
    down = subprocess.run([SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=300)
    info["down"] = down
    assert down.returncode == 0, down.stderr
    run_dir = base / "airflow" / "run"
    assert not list(run_dir.glob("*.pid")), "pid files left behind"


class Api:
    """The Airflow REST API v2 with a bearer token from /auth/token."""

    def __init__(self, port: int, username: str, password: str) -> None:
        self.base = f"http://127.0.0.1:{port}"
        status, body = self.call(
            "POST", "/auth/token", {"username": username, "password": password}
        )
        assert status in (200, 201), body
        self.token = body["access_token"]

    def call(self, method: str, path: str, body=None):
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, headers=headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()[:2000]

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.call("GET", f"/api/v2/dags/{dag_id}")[0] == 200:
                return
            time.sleep(2)
        pytest.fail(f"{dag_id} did not appear in the API within {timeout} s")

    def unpause(self, dag_id: str) -> None:
        status, body = self.call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        assert status == 200 and body["is_paused"] is False, body

    def trigger(self, dag_id: str, conf: dict) -> str:
        status, body = self.call(
            "POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf}
        )
        assert status == 200, body
        return body["dag_run_id"]

    def wait_for_run(self, dag_id: str, run_id: str) -> dict:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        quoted = urllib.parse.quote(run_id, safe="")
        while time.monotonic() < deadline:
            status, run = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}")
            assert status == 200, run
            if run["state"] in ("success", "failed"):
                return run
            time.sleep(3)
        pytest.fail(f"{dag_id} run {run_id} did not finish within {RUN_TIMEOUT_S} s")

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        quoted = urllib.parse.quote(run_id, safe="")
        _, body = self.call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quoted}/taskInstances")
        return [t["task_id"] for t in body["task_instances"] if t["state"] == "failed"]


def wait_for_runs(api: Api, run_type: str, count: int) -> dict[str, str]:
    """The states of the nightly DAG's runs of ``run_type`` once ``count`` of them finished."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        path = f"/api/v2/dags/observation_processing/dagRuns?run_type={run_type}"
        _, runs = api.call("GET", path)
        states = {r["dag_run_id"]: r["state"] for r in runs["dag_runs"]}
        if len(states) >= count and set(states.values()) <= {"success", "failed"}:
            return states
        time.sleep(3)
    pytest.fail(f"{count} {run_type} run(s) of observation_processing not finished: {states}")


def digest(path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def products(catalog_url: str, campaign: str):
    with Catalog(catalog_url) as catalog:
        return catalog.list_products(ProductQuery(level="DL1", campaign=campaign))


def test_make_up_serves_the_ui_and_runs_dags_through_the_rest_api(airflow):
    up = airflow["up"]
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    port = airflow["port"]
    assert f"Airflow UI:  http://127.0.0.1:{port}" in up.stdout
    password = up.stdout.split("login:       admin / ")[1].split()[0]
    status = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
    assert status.status == 200 and b"<html" in status.read().lower()
    pids = sorted((airflow["base"] / "airflow" / "run").glob("*.pid"))
    assert [p.stem for p in pids] == ["api-server", "dag-processor", "scheduler", "triggerer"]

    api = Api(port, "admin", password)
    assert Api.call(api, "GET", "/api/v2/monitor/health")[0] == 200
    status, pools = api.call("GET", "/api/v2/pools")
    assert {"datapipe_heavy", "datapipe_io"} <= {p["name"] for p in pools["pools"]}

    # 1. a simulation production, triggered with params
    api.wait_for_dag("simulation_processing")
    api.unpause("simulation_processing")
    run_id = api.trigger(
        "simulation_processing",
        {"dataset": airflow["production"], "campaign": "sim-rest", "version": "v1",
         "wait_timeout_hours": 0.1, "model_set": "none"},
    )  # fmt: skip
    run = api.wait_for_run("simulation_processing", run_id)
    assert run["state"] == "success", api.failed_tasks("simulation_processing", run_id)
    registered = products(airflow["catalog"], "sim-rest")
    assert len(registered) == 2 and {p.run_id for p in registered} == {run_id}

    # 2. the earlier nightly campaign: the first night, version v1, the default DL1 config
    first, second = airflow["nights"]
    api.wait_for_dag("observation_processing")
    api.unpause("observation_processing")
    run_id = api.trigger(
        "observation_processing",
        {"night": first, "campaign": "nightly", "version": "v1", "wait_timeout_hours": 0.1},
    )
    assert api.wait_for_run("observation_processing", run_id)["state"] == "success"
    v1 = airflow["data"] / "products" / "nightly" / "v1" / first / "dl1" / "block1.dl1.h5"
    before = digest(v1)

    # 2b. unpausing the nightly DAG made the scheduler run the latest night on its own
    scheduled = wait_for_runs(api, "scheduled", 1)
    assert list(scheduled.values()) == ["success"], scheduled
    derived = airflow["data"] / "products" / "nightly"
    assert list(derived.glob(f"*-defaults/{airflow['latest']}/dl1/block1.dl1.h5"))

    # 3. reprocessing: a backfill over both nights with a new config into version v2
    config = airflow["base"] / "dl1-reprocessing.yaml"
    config.write_text("cleaning: {picture_threshold_pe: 12.0, boundary_threshold_pe: 6.0}\n")
    conf = {"campaign": "nightly", "version": "v2", "dl1_config": str(config),
            "wait_timeout_hours": 0.1}  # fmt: skip
    status, backfill = api.call(
        "POST",
        "/api/v2/backfills",
        {"dag_id": "observation_processing", "from_date": f"{first}T00:00:00Z",
         "to_date": f"{second}T23:00:00Z", "dag_run_conf": conf, "max_active_runs": 2},
    )  # fmt: skip
    assert status == 200, backfill
    states = wait_for_runs(api, "backfill", 2)
    assert sorted(states.values()) == ["success", "success"], states
    for night in (first, second):
        assert (airflow["data"] / "products/nightly/v2" / night / "dl1/block1.dl1.h5").exists()
    assert digest(v1) == before  # the earlier campaign's product is untouched
    v2 = [p for p in products(airflow["catalog"], "nightly") if "/v2/" in p.path]
    assert {p.run_id for p in v2} == set(states)

    # 4. the v1 location refuses products of another config, and stays untouched
    run_id = api.trigger("observation_processing", {**conf, "night": second, "version": "v1"})
    assert api.wait_for_run("observation_processing", run_id)["state"] == "failed"
    assert api.failed_tasks("observation_processing", run_id) == ["plan"]
    assert digest(v1) == before
    assert not (airflow["data"] / "products/nightly/v1" / second).exists()
