"""The BDMS hook, trigger and deferrable sensor — the same tests over both backends: the
filesystem stand-in and a real Rucio server (``tests/rucio``)."""

from __future__ import annotations

import asyncio
import json
import secrets
import textwrap
import threading
import time
from pathlib import Path

import pytest
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow_env import load_dag, write_test_dag
from datapipe_airflow.hooks.bdms import BDMSHook, backend_options
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor
from datapipe_airflow.triggers.bdms import BDMSDataArrivalTrigger
from datapipe_airflow.triggers.polling import deadline_after

from datapipe_ops.bdms.filesystem import FilesystemBDMS
from datapipe_ops.bdms.manifest import add_to_manifest, start_manifest
from datapipe_ops.bdms.rucio import RucioBDMS

RUCIO_CONN_ID = "bdms_rucio_test"


class Feed:
    """An outside system delivering datasets into one BDMS backend, file by file.

    The stand-in writes into the BDMS directory; for Rucio the files are staged locally with
    their manifest and uploaded into the Rucio dataset, which is closed with the last file.
    """

    def __init__(self, kind: str, tmp_path: Path, rucio_server=None) -> None:
        self.kind = kind
        self.tmp_path = tmp_path
        self.server = rucio_server
        if kind == "rucio":
            self.backend = rucio_server.backend()
            self.sensor_args = f'bdms_conn_id="{RUCIO_CONN_ID}"'
        else:
            self.backend = FilesystemBDMS(tmp_path / "bdms")
            self.sensor_args = f'bdms_root="{tmp_path / "bdms"}"'

    def name(self, base: str) -> str:
        """A dataset name not used before on the (session-wide) server."""
        return f"{base}-{secrets.token_hex(3)}" if self.kind == "rucio" else base

    def directory(self, dataset: str) -> Path:
        root = self.tmp_path / ("staging" if self.kind == "rucio" else "bdms")
        return root / dataset

    def deliver(self, dataset, names, expected=None, kind="simulation") -> None:
        directory = self.directory(dataset)
        directory.mkdir(parents=True, exist_ok=True)
        if not (directory / "MANIFEST.json").exists():
            start_manifest(directory, directory.name, kind, expected)
        for name in names:
            path = directory / name
            path.write_bytes(f"DL0 data of {name}\n".encode() * 100)
            add_to_manifest(directory, path, "DL0", n_events=100, meta={"obs_id": 7})
        if self.kind == "rucio":
            self.backend.deliver_manifest_dataset(directory, dataset)

    def corrupt(self, dataset: str, name: str) -> None:
        """Same size, other bytes: on the disk the reader reads from."""
        (path,) = [f.path for f in self.backend.files(dataset) if f.name == name]
        data = Path(path).read_bytes()
        Path(path).write_bytes(data.replace(b"DL0", b"XL0"))

    def trigger(self, dataset: str, seconds: float, poll: float) -> BDMSDataArrivalTrigger:
        if self.kind == "rucio":
            return BDMSDataArrivalTrigger(
                dataset=dataset,
                bdms_conn_id=RUCIO_CONN_ID,
                deadline=deadline_after(seconds),
                poll_interval=poll,
            )
        return BDMSDataArrivalTrigger(
            dataset=dataset,
            bdms_root=str(self.tmp_path / "bdms"),
            deadline=deadline_after(seconds),
            poll_interval=poll,
        )


@pytest.fixture(params=["filesystem", pytest.param("rucio", marks=pytest.mark.postgres)])
def feed(request, tmp_path, monkeypatch):
    if request.param == "filesystem":
        return Feed("filesystem", tmp_path)
    server = request.getfixturevalue("rucio_server")
    connection = json.dumps(server.connection())
    monkeypatch.setenv(f"AIRFLOW_CONN_{RUCIO_CONN_ID.upper()}", connection)
    return Feed("rucio", tmp_path, server)


def run_trigger(trigger) -> dict:
    """Run a trigger's async generator to its first event."""

    async def first():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(first())


# --- the hook: the connection chooses the backend ------------------------------------------


@pytest.mark.requirement("DPPS-DP-R-030")
def test_the_connection_chooses_the_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("DATAPIPE_BDMS_ROOT", raising=False)
    assert backend_options(None) == ("filesystem", {"root": str(tmp_path / "bdms")})
    standin = Connection(conn_id="b", conn_type="datapipe_bdms", extra='{"root": "/data/bdms"}')
    assert backend_options(standin) == ("filesystem", {"root": "/data/bdms"})
    rucio = Connection(
        conn_id="b",
        conn_type="rucio",
        host="rucio.example.org",
        schema="https",
        port=443,
        login="datapipe",
        password="s3cret",
        extra=json.dumps({"scope": "acada", "rses": "CTAO_DISK", "output_rse": "CTAO_OUT"}),
    )
    name, options = backend_options(rucio)
    assert name == "rucio"
    assert options == {
        "host": "https://rucio.example.org:443",
        "account": "datapipe",
        "password": "s3cret",
        "scope": "acada",
        "rses": "CTAO_DISK",
        "output_rse": "CTAO_OUT",
    }
    plain = {"conn_type": "rucio", "host": "http://h", "login": "a", "password": "pw-Secret-7"}
    monkeypatch.setenv("AIRFLOW_CONN_BDMS_X", json.dumps(plain))
    backend = BDMSHook("bdms_x").get_backend()
    assert isinstance(backend, RucioBDMS) and backend.host == "http://h"
    assert "pw-Secret-7" not in repr(backend)
    assert BDMSHook("bdms_x", root=str(tmp_path)).get_backend().root == tmp_path


@pytest.mark.requirement("DPPS-DP-R-134")
def test_the_trigger_carries_the_connection_id_never_its_secrets(tmp_path):
    trigger = BDMSDataArrivalTrigger(dataset="p", bdms_conn_id="bdms_prod", deadline="x")
    classpath, kwargs = trigger.serialize()
    assert classpath == "datapipe_airflow.triggers.bdms.BDMSDataArrivalTrigger"
    assert kwargs["bdms_conn_id"] == "bdms_prod" and "password" not in json.dumps(kwargs)
    assert BDMSDataArrivalTrigger(**kwargs).serialize() == (classpath, kwargs)


# --- the trigger, on both backends ---------------------------------------------------------


@pytest.mark.requirement("DPPS-DP-R-134")
def test_trigger_picks_up_a_dataset_completed_after_it_started(feed):
    dataset = feed.name("night")
    trigger = feed.trigger(dataset, seconds=60, poll=0.2)

    def later():
        time.sleep(0.6)
        feed.deliver(dataset, ["obs1.h5"], expected=2, kind="observation")
        time.sleep(0.6)
        feed.deliver(dataset, ["obs2.h5"])

    writer = threading.Thread(target=later)
    started = time.monotonic()
    writer.start()
    event = run_trigger(trigger)
    writer.join()
    assert event["status"] == "success", event
    assert time.monotonic() - started >= 1.2
    assert [f["name"] for f in event["dataset_summary"]["files"]] == ["obs1.h5", "obs2.h5"]


@pytest.mark.requirement("DPPS-DP-R-030", "DPPS-DP-R-134")
def test_trigger_refuses_a_corrupted_file_naming_it(feed):
    dataset = feed.name("prod")
    feed.deliver(dataset, ["a.h5"], expected=1)
    feed.corrupt(dataset, "a.h5")
    event = run_trigger(feed.trigger(dataset, seconds=0.5, poll=0.1))
    if feed.kind == "filesystem":  # the stand-in may still rewrite the file: it waits
        assert event["status"] == "timeout"
        assert "a.h5: sha256 mismatch" in event["message"]
    else:  # a closed Rucio dataset with a corrupted replica cannot mend itself
        assert event["status"] == "failed"
        assert f"simpipe:{dataset}/a.h5: adler32 mismatch on DATAPIPE_DISK" in event["message"]


@pytest.mark.requirement("DPPS-DP-R-134")
def test_trigger_of_a_dataset_that_never_completes_times_out_naming_it(feed):
    dataset = feed.name("stalled")
    feed.deliver(dataset, ["a.h5"], expected=2)
    event = run_trigger(feed.trigger(dataset, seconds=0.5, poll=0.1))
    assert event["status"] == "timeout"
    if feed.kind == "filesystem":
        assert event["message"].endswith(": 1 of 2 file(s), manifest not complete")
    else:
        assert f"simpipe:{dataset} on rucio" in event["message"]
        assert event["message"].endswith(": 1 file(s), dataset open")


@pytest.mark.requirement("DPPS-DP-R-134")
def test_trigger_of_an_unknown_dataset_times_out_saying_so(feed):
    event = run_trigger(feed.trigger(feed.name("never"), seconds=0.3, poll=0.1))
    assert event["status"] == "timeout"
    assert "not found at" in event["message"]


@pytest.mark.postgres
@pytest.mark.requirement("DPPS-DP-R-134")
def test_refused_credentials_fail_at_once_an_unreachable_server_is_an_error(
    rucio_server, monkeypatch, tmp_path
):
    from rucio_service import free_port

    wrong = rucio_server.connection(token_dir=str(tmp_path)) | {"password": "wrong"}
    monkeypatch.setenv("AIRFLOW_CONN_BDMS_WRONG", json.dumps(wrong))
    trigger = BDMSDataArrivalTrigger(dataset="x", bdms_conn_id="bdms_wrong", deadline="2100-01-01")
    event = run_trigger(trigger)
    assert event["status"] == "failed"
    assert "simpipe:x: rucio" in event["message"] and "refused the credentials" in event["message"]
    gone = rucio_server.connection() | {"host": f"http://127.0.0.1:{free_port()}"}
    monkeypatch.setenv("AIRFLOW_CONN_BDMS_GONE", json.dumps(gone))
    trigger = BDMSDataArrivalTrigger(dataset="x", bdms_conn_id="bdms_gone", deadline="2100-01-01")
    event = run_trigger(trigger)
    assert event["status"] == "error"  # the sensor's retries may help
    assert event["message"].endswith("is unreachable")


# --- the sensor ----------------------------------------------------------------------------


@pytest.mark.requirement("DPPS-DP-R-134")
def test_sensor_timeout_message_names_what_was_missing():
    sensor = BDMSDataArrivalSensor(task_id="wait", dataset="prod7", timeout=3600)
    event = {"status": "timeout", "message": "dataset 'prod7' at /b/prod7: 3 of 5 file(s)"}
    with pytest.raises(AirflowSensorTimeout) as failure:
        sensor.execute_complete({}, event)
    assert str(failure.value) == (
        "wait: timed out after 3600 s waiting for dataset 'prod7' in the BDMS: "
        "dataset 'prod7' at /b/prod7: 3 of 5 file(s)"
    )


@pytest.mark.requirement("DPPS-DP-R-134")
def test_sensor_fails_without_retry_when_the_data_can_never_come():
    from airflow.sdk.exceptions import AirflowFailException

    sensor = BDMSDataArrivalSensor(task_id="wait", dataset="d", timeout=60)
    with pytest.raises(AirflowFailException, match="wait: waiting for dataset 'd' in the BDMS"):
        sensor.execute_complete({}, {"status": "failed", "message": "s:d/a.h5: adler32 mismatch"})


SENSOR_DAG = """
import pendulum
from airflow.sdk import DAG
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    BDMSDataArrivalSensor(
        task_id="wait", dataset="{dataset}", {backend}, poke_interval=0.2,
        timeout={timeout}, retries=0,
    )
"""


def sensor_dag(feed, dag_id, dataset, timeout):
    dag_id = f"{dag_id}_{feed.kind}"
    source = textwrap.dedent(SENSOR_DAG).format(
        dag_id=dag_id, backend=feed.sensor_args, dataset=dataset, timeout=timeout
    )
    return load_dag(write_test_dag(dag_id, source), dag_id)


@pytest.mark.requirement("DPPS-DP-R-134")
def test_deferred_sensor_in_a_dag_run_gets_the_late_dataset(airflow_db, feed):
    dataset = feed.name("late")
    dag = sensor_dag(feed, "bdms_sensor_late", dataset, timeout=60)

    def later():
        # late enough that the sensor is waiting even when dag.test is slow to start it (a
        # fresh clone's first run imports and compiles more before its first task)
        time.sleep(8.0)
        feed.deliver(dataset, ["f1.h5", "f2.h5"], expected=2)

    writer = threading.Thread(target=later)
    writer.start()
    run = dag.test()
    writer.join()
    assert run.state == "success"
    (ti,) = run.get_task_instances()
    assert ti.state == "success"
    assert ti.try_number == 1  # waited in the trigger, not by failing and retrying
    assert (ti.end_date - ti.start_date).total_seconds() >= 0.9


@pytest.mark.requirement("DPPS-DP-R-030", "DPPS-DP-R-134")
def test_deferred_sensor_in_a_dag_run_refuses_a_corrupt_dataset(airflow_db, feed):
    dataset = feed.name("corrupt")
    feed.deliver(dataset, ["f1.h5"], expected=1)
    feed.corrupt(dataset, "f1.h5")
    dag = sensor_dag(feed, "bdms_sensor_corrupt", dataset, timeout=1)
    run = dag.test()
    assert run.state == "failed"
