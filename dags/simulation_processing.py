"""Simulation processing: a SimPipe production in BDMS → DL1 → geometry → merge → DL2 with a
model set, and the IRF branch (zenith productions → cuts → IRFs → IRF set)."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from datapipe_airflow.dag_defaults import DEFAULT_ARGS, common_params
from datapipe_airflow.segments import (
    after_dl1_segment,
    dl0_to_dl1_segment,
    irf_segment,
    resolve_model_set_task,
)
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor

DOC = """
### Simulation processing

Processes a **SimPipe production** (simulated DL0 runs with their CalibPipe coefficients) once
BDMS has delivered all of it, to DL2; with `irf_datasets`, also the IRF productions (one per
zenith node) to an **IRF set**. Every stage registers its product with its lineage itself.

1. **wait_for_production** — deferrable: waits until the dataset is complete and verified;
2. **plan** — claims `products/<campaign>/<version>/` and plans each DL0 file;
3. **register_inputs** → **dl0_to_dl1** (one task per file) → **deliver_products**, **report**;
4. **resolve_model_set** — the `model_set` param resolved ONCE (empty: the latest registered
   set; `none`: stop at the geometry, e.g. the training production before any model exists);
5. **plan_after_dl1** → **geometry** (`dl1-to-dl2` without models, one task per DL1 file) →
   **merge** (the geometry products per particle, `merged/<particle>.geometry.dl2.h5`: the
   input of `model_training`) → **dl1_to_dl2** (with the model set, one task per DL1 file;
   skipped with `model_set` = `none`);
6. **publish_dl1** / **publish_dl2** — assets `datapipe-dl1` / `datapipe-dl2`, extra
   `{campaign, version, n_products}`;
7. IRF branch (skipped when `irf_datasets` is empty): **wait_for_irf_productions** (one
   deferrable sensor per dataset) → **plan_irf** → **irf_register_inputs** →
   **irf_dl0_to_dl1** → **irf_dl1_to_dl2** (with the model set; one task per file) →
   **irf_merge** (per node and simulated component; the IRFs take `gamma_point` when there is
   one, else the one gamma component) → **optimize_cuts** (once, on the first dataset: the
   reference node) → **compute_irf** and **sensitivity** (per node) → **irf_set_create** →
   **publish_irf_set** — asset `datapipe-irf-set`, extra `{irf_set_id, campaign, model_set_id}`.

Outputs: `products/<campaign>/<version>/{dl1,geometry,merged,dl2}/` and
`…/irf/<node>/{dl1,dl2,merged}/`, `…/irf/cuts.fits`, `…/irf/<node>/irf.fits.gz`,
`…/irf/<node>/sensitivity.fits`; the IRF set in `<data root>/irf_sets/<id>/`.
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
    "model_set": Param(
        "",
        type="string",
        title="Model set",
        description=(
            "Model set for DL2 (id, unique prefix or directory). Empty: the latest registered "
            "set; 'none': stop at the geometry (no DL2 with models, no IRF branch)."
        ),
    ),
    "dl2_config": Param(
        "",
        type="string",
        title="DL1→DL2 config",
        description="YAML config of datapipe dl1-to-dl2 (empty: the stage's defaults).",
    ),
    "irf_datasets": Param(
        [],
        type="array",
        items={"type": "string", "minLength": 1},
        title="IRF productions",
        description=(
            "BDMS datasets of the IRF productions, one per zenith node (e.g. the productions "
            "of include/config/simulation/irf_zenith20/40/60.yaml); the first is the "
            "reference node the cuts are optimised on. Empty: no IRF branch."
        ),
    ),
    "irf_config": Param(
        "",
        type="string",
        title="IRF config",
        description="YAML config of optimize-cuts / compute-irf / sensitivity (empty: defaults).",
    ),
}


@dag(
    dag_id="simulation_processing",
    description="SimPipe production in BDMS → DL1 → DL2 (and IRF set), registered with lineage",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    max_active_tasks=8,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["datapipe", "simulation", "DL0", "DL1", "DL2", "IRF"],
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
    dl1 = dl0_to_dl1_segment(plans, "simulation")
    model_set_id = resolve_model_set_task("{{ params.model_set }}")
    after_dl1_segment(plans, dl1, model_set_id)

    @task
    def irf_datasets(params: dict | None = None) -> list:
        """The IRF productions of the run (an empty list skips the IRF branch)."""
        return list(params.get("irf_datasets") or [])

    irf_segment(irf_datasets(), model_set_id)


simulation_processing()
