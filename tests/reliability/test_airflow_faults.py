"""Airflow and database faults during a campaign, on ``make up`` with PostgreSQL.

One Airflow (the four components of ``include/deploy/airflow-local.sh`` as separate processes,
metadata in a fresh database on the shared PostgreSQL server) serves the three faults; the
catalog is a database on a PostgreSQL server of this module's own, so that restarting it
disturbs nobody else. Each fault hits one ``simulation_processing`` run of a small production:

* the scheduler's process group killed with SIGKILL while the mapped ``dl0_to_dl1`` tasks run,
  then ``up`` again (which starts only the missing component);
* the triggerer killed while the BDMS sensor is deferred, the data delivered while it is down,
  then the triggerer started again;
* the catalog's PostgreSQL server restarted twice while the stage tasks run and register.

In each the DAG run succeeds (retries allowed), every product file exists once, in place, with
no temporary file left, and is registered exactly once with its input and its checksum. The
timings and the task retries of each run are printed (``-s``) and recorded as test properties.
The components' timeouts are shortened (as an operator may) so that a dead scheduler or
triggerer is noticed in about 20 s instead of the default 30 s to 5 min.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.parse
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from simulated_data import tiny_production
from test_airflow_up import (  # the REST API client and the metadata database of `make up`
    SCRIPT,
    Api,
    free_port_block,
    postgres_database,  # noqa: F401  (fixture)
)

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductQuery
from datapipe_ops.checksum import sha256_file

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(1800)]

N_FILES = 2
DAG_ID = "simulation_processing"
WAIT_S = 300
# A dead scheduler's tasks are reset, and a dead triggerer's triggers taken over, once its
# heartbeat is this old; the scheduler looks for such orphans this often.
FAST_RECOVERY = {
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_THRESHOLD": "20",
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "15",
    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "20",
}


@pytest.fixture(scope="module")
def faults(tmp_path_factory, postgres_database, postgres_of_our_own):  # noqa: F811
    base = tmp_path_factory.mktemp("faults")
    data = base / "data"
    bdms = data / "bdms"
    staging = base / "staging"
    catalog_url = postgres_of_our_own.create_database("catalog")
    port = free_port_block()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        FAST_RECOVERY,
        DATAPIPE_AIRFLOW_HOME=str(base / "airflow"),
        DATAPIPE_AIRFLOW_PORT=str(port),
        DATAPIPE_AIRFLOW_DB=postgres_database,
        DATAPIPE_DATA_ROOT=str(data),
        DATAPIPE_CATALOG_URL=catalog_url,
        DATAPIPE_EXECUTION_BACKEND="local",
    )
    info = SimpleNamespace(
        base=base, data=data, bdms=bdms, catalog=catalog_url, env=env,
        run_dir=base / "airflow" / "run", server=postgres_of_our_own,
    )  # fmt: skip
    # Airflow starts while the production is simulated
    starting = subprocess.Popen(
        [SCRIPT, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("DATAPIPE_DATA_ROOT", str(data))
            mp.setenv("DATAPIPE_CATALOG_URL", catalog_url)
            info.production = staging / tiny_production(staging, n_files=N_FILES)
        for dataset in ("scheduler", "postgres"):  # the triggerer's arrives during its test
            shutil.copytree(info.production, bdms / "simulation" / dataset)
        stdout, stderr = starting.communicate(timeout=600)
        assert starting.returncode == 0, stdout[-2000:] + stderr[-3000:]
        password = stdout.split("login:       admin / ")[1].split()[0]
        info.api = Api(port, "admin", password)
        info.api.wait_for_dag(DAG_ID)
        info.api.unpause(DAG_ID)
        yield info
    finally:
        starting.kill()  # (if the set-up failed before `up` finished)
        down = subprocess.run(
            [SCRIPT, "down"], env=env, capture_output=True, text=True, timeout=300
        )
    assert down.returncode == 0, down.stderr
    assert not list(info.run_dir.glob("*.pid")), "pid files left behind"


# --- the faults -------------------------------------------------------------------------------


def kill_component(faults, component: str) -> None:
    """SIGKILL the component's whole process group (as when its container or host dies)."""
    pid = int((faults.run_dir / f"{component}.pid").read_text())
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(pid), f"{component} (pid {pid}) survived SIGKILL"


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def restart_missing(faults) -> tuple[float, list[str]]:
    """``up`` again: the seconds it took and the components it started."""
    begin = time.monotonic()
    up = subprocess.run([SCRIPT, "up"], env=faults.env, capture_output=True, text=True, timeout=600)
    assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
    started = [line.split()[1] for line in up.stdout.splitlines() if line.startswith("started ")]
    return time.monotonic() - begin, started


# --- watching a run -----------------------------------------------------------------------------


def trigger(faults, dataset: str) -> tuple[str, str]:
    campaign = f"fault-{dataset}"
    conf = {"dataset": f"simulation/{dataset}", "campaign": campaign, "version": "v1",
            "wait_timeout_hours": 0.1}  # fmt: skip
    return faults.api.trigger(DAG_ID, conf), campaign


def task_instances(api: Api, run_id: str) -> list[dict]:
    quoted = urllib.parse.quote(run_id, safe="")
    status, body = api.call("GET", f"/api/v2/dags/{DAG_ID}/dagRuns/{quoted}/taskInstances")
    assert status == 200, body
    return body["task_instances"]


def wait_for_task(api: Api, run_id: str, task_id: str, state: str) -> dict:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        for ti in task_instances(api, run_id):
            if ti["task_id"] == task_id and ti["state"] == state:
                return ti
        time.sleep(1)
    states = {(t["task_id"], t["map_index"]): t["state"] for t in task_instances(api, run_id)}
    pytest.fail(f"no {task_id} {state} within {WAIT_S} s: {states}")


def retries_seen(api: Api, run_id: str) -> list[str]:
    """The task instances that needed more than one try."""
    return sorted(
        f"{t['task_id']}[{t['map_index']}] try {t['try_number']}"
        for t in task_instances(api, run_id)
        if t["try_number"] > 1
    )


def wait_for_strays(directory: Path, timeout: float = WAIT_S) -> None:
    """Wait until no stage process writes into ``directory`` any more: a stage started by a
    worker that died with the scheduler keeps running (its own process group) and finishes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        strays = [p for p in Path("/proc").glob("[0-9]*") if _writes_into(p, str(directory))]
        if not strays:
            return
        time.sleep(1)
    pytest.fail(f"stage processes still running in {directory} after {timeout} s")


def _writes_into(proc: Path, directory: str) -> bool:
    try:
        return directory in (proc / "cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False


# --- the outcome ------------------------------------------------------------------------------


def assert_each_product_once(faults, campaign: str) -> None:
    """Every DL1 file in place once, no temporary file, each registered once with its DL0 input
    and the checksum of the file on disk; the DL0 inputs registered once too."""
    out = faults.data / "products" / campaign
    files = sorted((out / "v1" / "dl1").glob("*.dl1.h5"))
    assert len(files) == N_FILES, sorted(out.rglob("*"))
    assert not list(out.rglob("*.partial")), "temporary files left"
    with Catalog(faults.catalog) as catalog:
        dl1 = catalog.list_products(ProductQuery(level="DL1", campaign=campaign))
        dl0 = catalog.list_products(ProductQuery(level="DL0", campaign=campaign))
        assert sorted(p.path for p in dl1) == [str(f) for f in files]
        assert len(dl0) == N_FILES and len({p.path for p in dl0}) == N_FILES
        dl0_paths = {p.path for p in dl0}
        sources = []
        for product in dl1:
            assert product.sha256 == sha256_file(product.path), product.path
            sources += _dl0_inputs(catalog, product, dl0_paths)
        assert sorted(sources) == sorted(dl0_paths)  # one DL0 input each, a different one


def _dl0_inputs(catalog: Catalog, product, dl0_paths: set[str]) -> list[str]:
    """The paths of the product's inputs among ``dl0_paths`` (its others: coefficients)."""
    inputs = catalog.lineage(product.id, depth=1).inputs
    return [node.product.path for node in inputs if node.product.path in dl0_paths]


def report(record_property, name: str, **outcome) -> None:
    for key, value in outcome.items():
        record_property(f"{name}.{key}", value)
    print(f"\n{name}: " + ", ".join(f"{k}={v}" for k, v in outcome.items()))


# --- the tests --------------------------------------------------------------------------------


@pytest.mark.requirement("DPPS-DP-R-152")
def test_scheduler_killed_while_the_stage_tasks_run(faults, record_property):
    begin = time.monotonic()
    run_id, campaign = trigger(faults, "scheduler")
    ti = wait_for_task(faults.api, run_id, "dl0_to_dl1", "running")
    killed_at = time.monotonic() - begin
    kill_component(faults, "scheduler")
    up_s, started = restart_missing(faults)
    assert started == ["scheduler"]
    run = faults.api.wait_for_run(DAG_ID, run_id)
    assert run["state"] == "success", faults.api.failed_tasks(DAG_ID, run_id)
    done_s = time.monotonic() - begin
    wait_for_strays(faults.data / "products" / campaign)
    assert_each_product_once(faults, campaign)
    report(
        record_property, "scheduler_killed", killed_at_s=round(killed_at, 1),
        killed_during=f"dl0_to_dl1[{ti['map_index']}]", restart_s=round(up_s, 1),
        run_s=round(done_s, 1), retries=retries_seen(faults.api, run_id),
    )  # fmt: skip


@pytest.mark.requirement("DPPS-DP-R-152", "DPPS-DP-R-134")
def test_triggerer_killed_while_the_sensor_is_deferred(faults, record_property):
    begin = time.monotonic()
    run_id, campaign = trigger(faults, "triggerer")
    wait_for_task(faults.api, run_id, "wait_for_production", "deferred")
    deferred_at = time.monotonic() - begin
    kill_component(faults, "triggerer")
    # BDMS delivers the production while nobody watches: one rename into place
    incoming = faults.bdms / "simulation" / ".triggerer.incoming"
    shutil.copytree(faults.production, incoming)
    incoming.rename(faults.bdms / "simulation" / "triggerer")
    time.sleep(5)
    sensor = [
        t for t in task_instances(faults.api, run_id) if t["task_id"] == "wait_for_production"
    ]
    assert sensor[0]["state"] == "deferred"  # still waiting, not failed
    up_s, started = restart_missing(faults)
    assert started == ["triggerer"]
    run = faults.api.wait_for_run(DAG_ID, run_id)
    assert run["state"] == "success", faults.api.failed_tasks(DAG_ID, run_id)
    assert_each_product_once(faults, campaign)
    report(
        record_property, "triggerer_killed", deferred_at_s=round(deferred_at, 1),
        restart_s=round(up_s, 1), run_s=round(time.monotonic() - begin, 1),
        retries=retries_seen(faults.api, run_id),
    )  # fmt: skip


@pytest.mark.requirement("DPPS-DP-R-152", "DPPS-DP-R-024")
def test_catalog_database_restarted_during_registrations(faults, record_property):
    server = faults.server
    begin = time.monotonic()
    run_id, campaign = trigger(faults, "postgres")
    wait_for_task(faults.api, run_id, "dl0_to_dl1", "running")
    registered = [count_products(faults.catalog, campaign)]
    server.restart()  # the stages run: they reach the catalog before their work and after it
    registered.append(wait_for_dl1(faults.catalog, campaign))
    server.restart()  # the first DL1 is registered: the others are being registered
    run = faults.api.wait_for_run(DAG_ID, run_id)
    assert run["state"] == "success", faults.api.failed_tasks(DAG_ID, run_id)
    assert_each_product_once(faults, campaign)
    assert registered[0] < 2 * N_FILES  # the first restart came before the DL1 registrations
    report(
        record_property, "postgres_restarted", restarts_s=[round(s, 1) for s in server.restarts],
        products_at_restarts=registered, run_s=round(time.monotonic() - begin, 1),
        retries=retries_seen(faults.api, run_id),
    )  # fmt: skip


def count_products(url: str, campaign: str, level: str | None = None) -> int:
    sql = "SELECT count(*) FROM products WHERE campaign = :c"
    if level:
        sql += f" AND level = '{level}'"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql), {"c": campaign}).scalar()
    finally:
        engine.dispose()


def wait_for_dl1(url: str, campaign: str) -> int:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if count_products(url, campaign, "DL1"):
            return count_products(url, campaign)
        time.sleep(0.5)
    pytest.fail(f"no DL1 product of {campaign} registered within {WAIT_S} s")
