"""The BDMS hook, trigger and deferrable sensor over the filesystem stand-in."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow_env import load_dag, write_test_dag
from datapipe_airflow.hooks.bdms import BDMSHook, FilesystemBDMS, backend_from_spec
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor
from datapipe_airflow.triggers.bdms import BDMSDataArrivalTrigger
from datapipe_airflow.triggers.polling import deadline_after

from datapipe_ops.bdms.manifest import add_to_manifest, start_manifest


def deliver(directory, names, expected=None, kind="simulation", complete=None):
    """Write files and add them to the manifest one by one, as a BDMS transfer does."""
    if not (directory / "MANIFEST.json").exists():
        start_manifest(directory, directory.name, kind, expected)
    for name in names:
        path = directory / name
        path.write_bytes(f"DL0 data of {name}\n".encode() * 100)
        add_to_manifest(directory, path, "DL0", n_events=100, meta={"obs_id": 7}, complete=complete)


def run_trigger(trigger) -> dict:
    """Run a trigger's async generator to its first event."""

    async def first():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(first())


# --- the hook and its filesystem backend ---------------------------------------------------


def test_status_follows_a_dataset_from_absent_to_ready(tmp_path):
    bdms = FilesystemBDMS(tmp_path)
    directory = tmp_path / "prod1"
    assert not bdms.status("prod1").exists
    assert "not found" in bdms.status("prod1").describe()
    directory.mkdir()
    deliver(directory, ["a.h5"], expected=2)
    status = bdms.status("prod1")
    assert status.exists and not status.complete and not status.ready
    assert "1 of 2 file(s), manifest not complete" in status.describe()
    deliver(directory, ["b.h5"])
    status = bdms.status("prod1")
    assert status.ready
    assert [f.name for f in status.files] == ["a.h5", "b.h5"]
    assert status.files[0].path == str(directory / "a.h5")
    assert status.files[0].meta == {"obs_id": 7}
    assert status.summary()["n_files"] == 2


def test_a_checksum_mismatch_is_not_accepted(tmp_path):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5", "b.h5"], expected=2)
    original = (directory / "b.h5").read_bytes()
    (directory / "b.h5").write_bytes(original.replace(b"DL0", b"XL0"))  # same size
    status = FilesystemBDMS(tmp_path).status("prod")
    assert not status.ready
    assert "b.h5: sha256 mismatch" in status.describe()


def test_a_truncated_or_missing_file_is_named(tmp_path):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5", "b.h5"], expected=2)
    (directory / "a.h5").write_bytes(b"short")
    (directory / "b.h5").unlink()
    problems = FilesystemBDMS(tmp_path).status("prod").problems
    assert any(p.startswith("a.h5: size 5 B") for p in problems)
    assert "b.h5: listed in the manifest but missing" in problems


def test_verified_checksums_are_not_recomputed(tmp_path, monkeypatch):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5"], expected=1)
    bdms = FilesystemBDMS(tmp_path)
    assert bdms.status("prod").ready
    calls = []
    monkeypatch.setattr(
        "datapipe_airflow.hooks.bdms.sha256_file", lambda p: calls.append(p) or "0" * 64
    )
    assert bdms.status("prod").ready
    assert calls == []


def test_a_night_is_a_container_of_block_datasets(tmp_path):
    night = tmp_path / "observation" / "2026-11-24"
    for block in ("block1", "block2"):
        (night / block).mkdir(parents=True)
    deliver(night / "block1", ["obs1.dl0.h5"], expected=1, kind="observation")
    deliver(night / "block2", ["obs2.dl0.h5"], expected=2, kind="observation")
    bdms = FilesystemBDMS(tmp_path)
    assert bdms.members("observation/2026-11-24") == ["block1", "block2"]
    status = bdms.status("observation/2026-11-24")
    assert status.exists and not status.complete
    assert "2 of 3 file(s), manifest not complete" in status.describe()
    deliver(night / "block2", ["obs2b.dl0.h5"])
    status = bdms.status("observation/2026-11-24")
    assert status.ready and status.kind == "observation"
    assert [f.name for f in status.files] == [
        "block1/obs1.dl0.h5",
        "block2/obs2.dl0.h5",
        "block2/obs2b.dl0.h5",
    ]
    assert status.files[1].path == str(night / "block2" / "obs2.dl0.h5")
    (night / "block1" / "obs1.dl0.h5").write_bytes(b"x")
    assert "block1: obs1.dl0.h5: size 1 B" in bdms.status("observation/2026-11-24").describe()


def test_hook_backend_round_trips_through_its_spec(tmp_path, monkeypatch):
    monkeypatch.setenv("DATAPIPE_DATA_ROOT", str(tmp_path))
    monkeypatch.delenv("DATAPIPE_BDMS_ROOT", raising=False)
    hook = BDMSHook(root=str(tmp_path / "elsewhere"))
    assert backend_from_spec(hook.backend_spec()).root == tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="unknown BDMS backend 'rucio'"):
        backend_from_spec({"backend": "rucio", "account": "datapipe"})


# --- the trigger ---------------------------------------------------------------------------


def test_trigger_picks_up_data_arriving_after_it_started(tmp_path):
    directory = tmp_path / "night"
    trigger = BDMSDataArrivalTrigger(
        dataset="night",
        backend_spec=FilesystemBDMS(tmp_path).spec(),
        deadline=deadline_after(60),
        poll_interval=0.2,
    )

    def later():
        time.sleep(0.6)
        directory.mkdir()
        deliver(directory, ["obs1.h5"], expected=2, kind="observation")
        time.sleep(0.6)
        deliver(directory, ["obs2.h5"])

    writer = threading.Thread(target=later)
    started = time.monotonic()
    writer.start()
    event = run_trigger(trigger)
    writer.join()
    assert event["status"] == "success"
    assert time.monotonic() - started >= 1.2
    assert [f["name"] for f in event["dataset_summary"]["files"]] == ["obs1.h5", "obs2.h5"]


def test_trigger_times_out_naming_the_checksum_problem(tmp_path):
    directory = tmp_path / "prod"
    directory.mkdir()
    deliver(directory, ["a.h5"], expected=1)
    (directory / "a.h5").write_bytes((directory / "a.h5").read_bytes().upper())
    trigger = BDMSDataArrivalTrigger(
        dataset="prod",
        backend_spec=FilesystemBDMS(tmp_path).spec(),
        deadline=deadline_after(0.5),
        poll_interval=0.1,
    )
    event = run_trigger(trigger)
    assert event["status"] == "timeout"
    assert "a.h5: sha256 mismatch" in event["message"]


def test_trigger_serialises_to_what_rebuilds_it(tmp_path):
    trigger = BDMSDataArrivalTrigger(
        dataset="p", backend_spec={"backend": "filesystem", "root": str(tmp_path)}, deadline="x"
    )
    classpath, kwargs = trigger.serialize()
    assert classpath == "datapipe_airflow.triggers.bdms.BDMSDataArrivalTrigger"
    assert BDMSDataArrivalTrigger(**kwargs).serialize() == (classpath, kwargs)


# --- the sensor ----------------------------------------------------------------------------


def test_sensor_timeout_message_names_what_was_missing():
    sensor = BDMSDataArrivalSensor(task_id="wait", dataset="prod7", timeout=3600)
    event = {"status": "timeout", "message": "dataset 'prod7' at /b/prod7: 3 of 5 file(s)"}
    with pytest.raises(AirflowSensorTimeout) as failure:
        sensor.execute_complete({}, event)
    assert str(failure.value) == (
        "wait: timed out after 3600 s waiting for dataset 'prod7' in the BDMS: "
        "dataset 'prod7' at /b/prod7: 3 of 5 file(s)"
    )


SENSOR_DAG = """
import pendulum
from airflow.sdk import DAG
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    BDMSDataArrivalSensor(
        task_id="wait", dataset="{dataset}", bdms_root="{root}", poke_interval=0.2,
        timeout={timeout}, retries=0,
    )
"""


def sensor_dag(dag_id, root, dataset, timeout):
    source = textwrap.dedent(SENSOR_DAG).format(
        dag_id=dag_id, root=root, dataset=dataset, timeout=timeout
    )
    return load_dag(write_test_dag(dag_id, source), dag_id)


def test_deferred_sensor_in_a_dag_run_gets_the_late_dataset(airflow_db, tmp_path):
    dag = sensor_dag("bdms_sensor_late", tmp_path, "late", timeout=60)
    directory = tmp_path / "late"

    def later():
        time.sleep(1.0)
        directory.mkdir()
        deliver(directory, ["f1.h5", "f2.h5"], expected=2)

    writer = threading.Thread(target=later)
    writer.start()
    run = dag.test()
    writer.join()
    assert run.state == "success"
    (ti,) = run.get_task_instances()
    assert ti.state == "success"
    assert ti.try_number == 1  # waited in the trigger, not by failing and retrying
    assert (ti.end_date - ti.start_date).total_seconds() >= 0.9


def test_deferred_sensor_in_a_dag_run_refuses_a_corrupt_dataset(airflow_db, tmp_path):
    directory = tmp_path / "corrupt"
    directory.mkdir()
    deliver(directory, ["f1.h5"], expected=1)
    (directory / "f1.h5").write_bytes((directory / "f1.h5").read_bytes()[::-1])
    dag = sensor_dag("bdms_sensor_corrupt", tmp_path, "corrupt", timeout=1)
    run = dag.test()
    assert run.state == "failed"
