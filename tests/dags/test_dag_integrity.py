"""DAG integrity: every DAG file imports, has no cycle, carries the operational defaults, and
parses fast without the heavy science libraries; every stage task renders to a valid pod."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from airflow_env import ROOT

DAGS_DIR = ROOT / "dags"
DAG_FILES = sorted(p for p in DAGS_DIR.glob("*.py") if not p.name.startswith("_"))
EXPECTED_DAGS = {
    "simulation_processing",
    "observation_processing",
    "model_training",
    "benchmarking",
}
#: the DAGs that start from DL0 delivered by the BDMS (a sensor, then dl0_to_dl1)
DL0_DAGS = {"simulation_processing", "observation_processing"}
HEAVY = ("numba", "lightgbm", "h5py")
PARSE_BUDGET_S = 0.3


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    pools = json.loads((ROOT / "include" / "airflow" / "pools.json").read_text())
    # with known_pools, a task in a pool that include/airflow/pools.json lacks is an import error
    return DagBag(dag_folder=str(DAGS_DIR), known_pools={"default_pool", *pools})


@pytest.mark.requirement("DPPS-DP-R-135")
def test_every_dag_file_imports_without_error_and_without_cycles(dagbag):
    # a cycle is reported by the DagBag as an import error of its file
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) >= EXPECTED_DAGS
    assert len(DAG_FILES) >= len(EXPECTED_DAGS)


@pytest.mark.parametrize("dag_id", sorted(EXPECTED_DAGS))
@pytest.mark.requirement("DPPS-DP-R-135")
def test_dag_has_the_operational_defaults(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.owner and dag.owner != "airflow"
    assert dag.tags and "datapipe" in dag.tags
    assert dag.doc_md and len(dag.doc_md) > 200
    assert dag.max_active_runs and dag.max_active_runs <= 4
    assert dag.catchup is False  # reprocessing is an explicit backfill
    for param_name, param in dag.params.items():
        schema = dag.params.get_param(param_name).schema
        assert schema.get("type"), f"{dag_id}.{param_name} has no type"
        assert dag.params.get_param(param_name).description, f"{dag_id}.{param_name}"
        assert param is not None or schema.get("type") == "null"
    assert "campaign" in dag.params
    for task in dag.tasks:
        assert task.retries >= 1, f"{dag_id}.{task.task_id} has no retries"
        assert task.retry_exponential_backoff, f"{dag_id}.{task.task_id}: no exponential backoff"


@pytest.mark.parametrize("dag_id", sorted(DL0_DAGS))
@pytest.mark.requirement("DPPS-DP-R-134", "DPPS-DP-R-135")
def test_heavy_stages_run_in_their_pool_and_sensors_defer(dagbag, dag_id):
    from datapipe_airflow.stage_config import load_stage_settings

    settings = load_stage_settings()
    dag = dagbag.dags[dag_id]
    stages = [t for t in dag.tasks if "kind" in _kwargs(t)]
    assert any(_kwargs(t)["kind"] == "dl0_to_dl1" for t in stages)
    for task in stages:
        assert task.pool == settings.kind(_kwargs(task)["kind"]).pool
    sensors = [t for t in dag.tasks if "Sensor" in type(t).__name__ or "Sensor" in _class(t)]
    assert sensors
    for sensor in sensors:
        assert _kwargs(sensor).get("deferrable", getattr(sensor, "deferrable", True)) is True


@pytest.mark.requirement("DPPS-DP-R-130", "DPPS-DP-R-131")
def test_nightly_schedule_and_manual_simulation(dagbag):
    nightly = dagbag.dags["observation_processing"].timetable
    assert type(nightly).__name__ == "CronDataIntervalTimetable"  # interval noon → noon
    assert nightly.expression == "0 12 * * *"
    assert not dagbag.dags["simulation_processing"].timetable.can_be_scheduled


def _class(task) -> str:
    return getattr(getattr(task, "operator_class", None), "__name__", "")


def _kwargs(task) -> dict:
    """Constructor arguments of a task, mapped or not."""
    partial = getattr(task, "partial_kwargs", None)
    if partial is not None:
        return dict(partial)
    return {"kind": task.kind} if hasattr(task, "kind") else {}


# --- parse time, in a fresh interpreter as the dag-processor sees it -----------------------

PARSE = """
import json, sys, time
sys.path[:0] = [{plugins!r}, {dags!r}]
import airflow.sdk  # the dag-processor has Airflow loaded before it parses a file
from airflow.sdk import DAG, Param, dag, task  # noqa: F401
start = time.process_time()  # CPU time: what parsing costs, not how busy the machine is
import runpy
runpy.run_path({path!r}, run_name="dag_file")
seconds = time.process_time() - start
print(json.dumps({{"seconds": seconds, "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def parse_in_subprocess(path: Path) -> dict:
    code = PARSE.format(
        plugins=str(ROOT / "plugins"), dags=str(DAGS_DIR), path=str(path), heavy=HEAVY
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
@pytest.mark.requirement("DPPS-DP-R-010", "DPPS-DP-R-135")
def test_dag_file_parses_fast_without_heavy_imports(path):
    # CPU seconds, best of three fresh interpreters: a shared machine's other load is not the
    # DAG file's cost
    runs = [parse_in_subprocess(path) for _ in range(3)]
    assert runs[0]["heavy"] == [], f"{path.name} imports {runs[0]['heavy']} at parse time"
    best = min(r["seconds"] for r in runs)
    print(f"{path.name}: parsed in {best * 1000:.0f} ms")
    assert best < PARSE_BUDGET_S, f"{path.name} parses in {best:.3f} s"


# --- every stage task of every DAG, on the kubernetes backend ------------------------------


@pytest.mark.requirement("DPPS-DP-R-150", "DPPS-DP-R-151")
def test_every_stage_task_of_every_dag_renders_to_a_valid_pod(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from airflow_env import kubernetes_validate, render_pod
    from datapipe_airflow.campaigns import (
        benchmark_plan,
        delivery_command,
        dl1_plan,
        dl3_plan,
        quality_plans,
        register_inputs_command,
        report_step,
    )
    from datapipe_airflow.operators.kubernetes import DataPipePodOperator

    monkeypatch.setenv("DATAPIPE_EXECUTION_BACKEND", "kubernetes")
    bag = DagBag(dag_folder=str(DAGS_DIR))
    assert bag.import_errors == {}
    entry = {
        "name": "a.dl0.h5",
        "path": "/data/bdms/a.dl0.h5",
        "n_events": 5,
        "meta": {"obs_id": 1},
    }
    plan = dl1_plan(entry, "/data/products/c/v/a.dl1.h5", "c", "/data/c.h5", None)
    night = dl1_plan(entry, "/data/products/c/v/2026-11-24/dl1/a.dl1.h5", "c", None, None)
    sets = {"model_set_id": "m", "irf_set_id": "i", "cuts": "/data/cuts.fits"}
    block = dl3_plan(night, sets, {})
    (bench,) = benchmark_plan("c", ["dl2"], Path("/data/products/c/benchmarks/r"), "ref")
    sample = {
        "dl0_to_dl1": plan["dl0_to_dl1"],
        "register_inputs": register_inputs_command([plan], "c", "simulation"),
        "benchmark": bench,
        "campaign_report": report_step(
            "c", Path("/data/products/c/benchmarks/r"), bench["outputs"]
        ),
        "quality_dl1": quality_plans([plan["dl0_to_dl1"]["outputs"]], "DL1")[0],
        "quality_dl2": quality_plans([block["dl1_to_dl2"]["outputs"]], "DL2")[0],
        **_after_dl1_samples(entry, plan),
        # observation_processing after DL1 (its dl1_to_dl2 is of the same shape)
        "observation_irf": block["irf_step"],
        "dl2_to_dl3": block["dl2_to_dl3"],
        "deliver_dl3": delivery_command([block], sets, "/data", "c")[0],
    }
    pods, kinds = [], set()
    for dag in bag.dags.values():
        for task in dag.tasks:
            partial = getattr(task, "partial_kwargs", None)
            if partial is not None and getattr(task, "operator_class", None) is DataPipePodOperator:
                step = sample[task.task_id]  # the mapped stages are the plans' steps
                keep = ("kind", "env", "campaign", "pool", "retries")
                task = DataPipePodOperator(
                    task_id=task.task_id, **step, **{k: partial[k] for k in keep if k in partial}
                )
            if isinstance(task, DataPipePodOperator):
                pod = render_pod(task)
                assert pod["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] is True
                assert "{{" not in json.dumps(pod), f"{dag.dag_id}.{task.task_id} not rendered"
                pods.append(pod)
                kinds.add(task.kind)
    assert len(pods) >= 4 and "dl0_to_dl1" in kinds  # register_inputs, dl0_to_dl1 per DAG
    result = kubernetes_validate(pods, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def _after_dl1_samples(entry: dict, plan: dict) -> dict:
    """One command of each mapped stage after DL1, by task id, from the planning functions."""
    from datapipe_airflow import campaigns

    after = campaigns.plan_geometry([plan])
    steps = {
        "geometry": after["geometry"][0],
        "merge": after["merge"][0],
        "dl1_to_dl2": campaigns.plan_dl2([plan], "0123456789abcdef")[0],
        "model_benchmarks": campaigns.model_benchmark_command("0123456789abcdef", ""),
    }
    training = campaigns.plan_model_training(
        {"gamma": ["/data/g.dl1.h5"], "proton": ["/data/p.dl1.h5"]},
        "/data/products/t/v",
        campaigns.MODEL_KINDS,
        "/data/fast.yaml",
    )
    steps |= {
        "train": training["train"][0],
        "assemble_base": training["assemble_base"][0],
        "train_event_type": training["train_event_type"][0],
        "assemble_model_set": training["assemble"][0],
    }
    proton = dict(entry, name="p.dl0.h5", path="/data/bdms/p.dl0.h5", level="DL0")
    proton["meta"] = {"particle": "proton"}
    gamma = dict(entry, level="DL0", meta={"particle": "gamma"})
    irf = campaigns.plan_irf(
        [{"dataset": "simulation/irf_zenith20", "files": [gamma, proton]}],
        "/data/products/c/v",
        "c",
        "0123456789abcdef",
    )
    steps |= {f"irf_{key}": irf[key][0] for key in ("register_inputs", "dl0_to_dl1", "merge")}
    steps |= {"irf_dl1_to_dl2": irf["dl1_to_dl2"][0], "irf_set_create": irf["irf_set"][0]}
    steps |= {key: irf[key][0] for key in ("optimize_cuts", "compute_irf", "sensitivity")}
    return steps
