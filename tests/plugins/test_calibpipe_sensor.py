"""The CalibPipe hook, trigger and deferrable sensor over the catalog's calibration sets."""

from __future__ import annotations

import asyncio
import textwrap
import threading
import time

import pytest
from airflow.sdk.exceptions import AirflowSensorTimeout
from airflow_env import load_dag, write_test_dag
from datapipe_airflow.hooks.calibpipe import CalibPipeHook, parse_tel_ids
from datapipe_airflow.sensors.calibpipe import CalibPipeCoefficientsSensor
from datapipe_airflow.triggers.calibpipe import CalibPipeCoefficientsTrigger
from datapipe_airflow.triggers.polling import deadline_after

from datapipe_ops.catalog import Catalog

START, STOP = "2026-11-24T21:00:00", "2026-11-24T21:30:00"


@pytest.fixture
def catalog_url(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'catalog.sqlite'}"
    monkeypatch.setenv("DATAPIPE_CATALOG_URL", url)
    return url


def register(url, path, start, stop, tel_ids):
    with Catalog(url) as catalog:
        catalog.register_calibration_set(path, start, stop, tel_ids=tel_ids)


def run_trigger(trigger) -> dict:
    async def first():
        async for event in trigger.run():
            return event.payload
        return None

    return asyncio.run(first())


def test_tel_ids_from_a_list_or_a_rendered_template():
    assert parse_tel_ids([3, 1]) == [3, 1]
    assert parse_tel_ids("[1, 2, 4]") == [1, 2, 4]
    assert parse_tel_ids("5,6") == [5, 6]


@pytest.mark.requirement("DPPS-DP-R-032")
def test_coverage_needs_every_telescope_over_the_whole_observation(catalog_url, tmp_path):
    hook = CalibPipeHook(catalog_url)
    register(catalog_url, tmp_path / "c1.h5", "2026-11-24T20:00", "2026-11-24T22:00", [1, 2])
    register(catalog_url, tmp_path / "c3.h5", "2026-11-24T21:10", "2026-11-24T23:00", [3])
    partial = hook.coverage([1, 2, 3], START, STOP)
    assert not partial.covered
    assert "telescope(s) 3" in partial.description
    covered = hook.coverage([1, 2], START, STOP)
    assert covered.covered
    assert covered.payload() == {
        "coefficients": {"1": str(tmp_path / "c1.h5"), "2": str(tmp_path / "c1.h5")}
    }
    hook.close()


@pytest.mark.requirement("DPPS-DP-R-134")
def test_trigger_picks_up_coefficients_registered_after_it_started(catalog_url, tmp_path):
    trigger = CalibPipeCoefficientsTrigger(
        tel_ids=[1, 2], start=START, stop=STOP, deadline=deadline_after(60), poll_interval=0.2
    )

    def later():
        time.sleep(0.8)
        register(catalog_url, tmp_path / "calib.h5", "2026-11-24T18:00", "2026-11-25T06:00", None)

    writer = threading.Thread(target=later)
    writer.start()
    event = run_trigger(trigger)
    writer.join()
    assert event["status"] == "success"
    assert event["coefficients"] == {
        "1": str(tmp_path / "calib.h5"),
        "2": str(tmp_path / "calib.h5"),
    }


@pytest.mark.requirement("DPPS-DP-R-134")
def test_missing_coefficients_time_out_with_a_clear_message(catalog_url, tmp_path):
    register(catalog_url, tmp_path / "old.h5", "2026-11-20T18:00", "2026-11-21T06:00", [1, 2])
    trigger = CalibPipeCoefficientsTrigger(
        tel_ids=[1, 2],
        start=START,
        stop=STOP,
        obs_id=42,
        deadline=deadline_after(0.5),
        poll_interval=0.1,
    )
    event = run_trigger(trigger)
    assert event["status"] == "timeout"
    sensor = CalibPipeCoefficientsSensor(
        task_id="wait_coefficients", tel_ids=[1, 2], start=START, stop=STOP, obs_id=42, timeout=7200
    )
    with pytest.raises(AirflowSensorTimeout) as failure:
        sensor.execute_complete({}, event)
    message = str(failure.value)
    assert message.startswith(
        "wait_coefficients: timed out after 7200 s waiting for calibration coefficients of obs 42"
    )
    assert "no calibration coefficients valid from 2026-11-24 21:00:00" in message
    assert "for telescope(s) 1, 2" in message


SENSOR_DAG = """
import pendulum
from airflow.sdk import DAG
from datapipe_airflow.sensors.calibpipe import CalibPipeCoefficientsSensor

with DAG("{dag_id}", schedule=None, start_date=pendulum.datetime(2026, 1, 1)) as dag:
    CalibPipeCoefficientsSensor(
        task_id="wait", tel_ids=[1, 2], start="{start}", stop="{stop}", catalog_url="{url}",
        poke_interval=0.2, timeout={timeout}, retries=0,
    )
"""


@pytest.mark.requirement("DPPS-DP-R-131", "DPPS-DP-R-134")
def test_sensor_in_a_dag_run(airflow_db, catalog_url, tmp_path):
    source = textwrap.dedent(SENSOR_DAG).format(
        dag_id="calib_sensor", start=START, stop=STOP, url=catalog_url, timeout=1
    )
    dag = load_dag(write_test_dag("calib_sensor", source), "calib_sensor")
    assert dag.test().state == "failed"  # nothing registered: times out
    register(catalog_url, tmp_path / "calib.h5", "2026-11-24T18:00", "2026-11-25T06:00", [1, 2])
    assert dag.test().state == "success"
