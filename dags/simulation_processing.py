"""Simulation processing: a SimPipe production in BDMS → DL1, registered with its lineage."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from datapipe_airflow.dag_defaults import DEFAULT_ARGS, common_params
from datapipe_airflow.segments import dl0_to_dl1_segment
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor

DOC = """
### Simulation processing

Processes a **SimPipe production** (simulated DL0 runs with their CalibPipe coefficients) once
BDMS has delivered all of it:

1. **wait_for_production** — deferrable: waits in the triggerer until the dataset's manifest is
   complete and every file's sha256 matches (`wait_timeout_hours`, then fails naming what is
   missing);
2. **plan** — claims the versioned output location `products/<campaign>/<version>/dl1/` (a new
   `version` or a new config never overwrites earlier products) and plans each DL0 file;
3. **register_inputs** — one task: the campaign and all its DL0 files in the catalog, in one
   transaction;
4. **dl0_to_dl1** — one mapped task per file (pool `datapipe_heavy`): the stage writes the DL1
   file (`--overwrite` inside this version directory, so a retry is idempotent) and registers
   it with its lineage, the DAG run and task ids; a failed file blocks no other file;
5. **report** — where the products are.

Later issues add merge → training → apply → IRFs → benchmarks after DL1.
"""

PARAMS = {
    "dataset": Param(
        "simulation/demo",
        type="string",
        minLength=1,
        title="BDMS dataset",
        description="The production's dataset in BDMS (a path under the BDMS root).",
    ),
    **common_params("simulation-demo", 24.0, "the production to be complete in BDMS"),
}


@dag(
    dag_id="simulation_processing",
    description="SimPipe production in BDMS → DL1, registered with lineage",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    max_active_tasks=8,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["datapipe", "simulation", "DL0", "DL1"],
    doc_md=DOC,
    dagrun_timeout=timedelta(days=3),
)
def simulation_processing():
    wait = BDMSDataArrivalSensor(
        task_id="wait_for_production",
        dataset="{{ params.dataset }}",
        poke_interval=30,
        timeout=3600 * 24,
        timeout_hours_param="wait_timeout_hours",
        retries=3,
    )

    @task
    def plan(summary: dict, params: dict | None = None, run_id: str | None = None) -> list:
        """Claim the versioned output directory; one plan of stage commands per DL0 file."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry

        from datapipe_ops import __version__, settings
        from datapipe_ops.errors import DataPipeError

        with fail_without_retry(campaigns.CampaignError, DataPipeError):
            return campaigns.plan_production(
                summary, params, settings.data_root(), __version__, run_id
            )

    plans = plan(wait.output)
    dl0_to_dl1_segment(plans, "simulation")


simulation_processing()
