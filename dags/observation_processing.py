"""Nightly observation processing: the night's DL0 in BDMS + CalibPipe coefficients → DL1 →
DL2 → DL3 → quality gate → delivery to the outbox."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, task
from datapipe_airflow.campaigns import calibration_need
from datapipe_airflow.dag_defaults import DEFAULT_ARGS, common_params
from datapipe_airflow.segments import dl0_to_dl1_segment, dl1_to_dl3_segment, quality_segment
from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor
from datapipe_airflow.sensors.calibpipe import CalibPipeCoefficientsSensor

DOC = """
### Nightly observation processing

Runs every day at 12:00 UTC for the night that just ended (the run's data interval is noon to
noon; its start date is the night, `YYYY-MM-DD` of the evening):

1. **locate_night** — the night and its BDMS dataset `<bdms_prefix>/<night>` (one dataset per
   observation block inside it);
2. **wait_for_dl0** — deferrable: every block's manifest complete, every sha256 matching;
3. **plan** — the versioned output location `products/<campaign>/<version>/<night>/dl1/`;
4. **wait_for_coefficients** — one deferrable sensor per block: CalibPipe coefficients whose
   validity covers the block, for each of its telescopes, registered in the catalog;
5. **register_inputs** — one task: the campaign and every block's DL0 file in the catalog, in one
   transaction;
6. **dl0_to_dl1** — one mapped task per block: the stage writes the DL1 file (`--overwrite`
   inside this version directory, so a retry is idempotent) and registers it with its lineage,
   the DAG run and task ids; a failed block blocks no other block;
7. **report** — where the DL1 products are;
8. **resolve_sets** — the model set (`model_set` param, empty: the latest registered) and the IRF
   set (`irf_set`, empty: the latest of that model set), ONCE per run, as concrete ids; with
   empty params and nothing registered yet, the DL2/DL3 tasks are skipped (night stops at DL1);
9. **plan_dl3** — per block the DL2, IRF and DL3 commands; the night directory is stamped with
   the sets (`SETS.json`): another model/IRF set into the same version is refused;
10. **dl1_to_dl2** → **observation_irf** → **dl2_to_dl3** — one mapped task per block each:
    `dl1-to-dl2 --model-set`, `interpolate-irf --irf-set --dl2` (or `tailored-irf` with
    `tailored_irf`), `dl2-to-dl3` into `<night>/dl3/` (index files updated under a lock);
11. **quality_dl1**, **quality_dl2** — one mapped task per DL1 / DL2 file: `datapipe quality`
    writes `<product>.quality.json` and records the metrics and the product's quality flag in
    the catalog; **quality_gate** — blocks whose DL1/DL2 product is flagged `bad` in the catalog
    are held back unless `force_delivery`; each is printed with the metrics that flagged it;
12. **plan_delivery** → **deliver_dl3** — `datapipe deliver`: the event lists, their index
    files and `MANIFEST.json` (sha256s) into `outbox/<campaign>/<version>/<night>/`,
    atomically, recorded in the catalog with lineage to the DL3 files, model set and IRF set;
13. **publish** — assets `datapipe-dl2` and `datapipe-dl3` (`campaign, version, night,
    n_products`; DL3 also `n_delivered, n_held_back`); **report_dl3** — where it all is.

**Reprocessing** is a backfill over a date range with a new `version` or `dl1_config` in the run
conf, e.g. `airflow backfill create --dag-id observation_processing --from-date 2026-11-20
--to-date 2026-11-23 --dag-run-conf '{"version": "reproc-2026a", "campaign": "reproc-2026a"}'`:
each night lands in the new version directory (DL1 to DL3, and its own outbox directory); a
version directory made with another config, software version, model set or IRF set is refused,
so earlier products are never overwritten. See docs/operations.md.
"""

PARAMS = {
    **common_params("nightly", 12.0, "the night's DL0 and for its coefficients"),
    "night": Param(
        "",
        type="string",
        pattern=r"^(\d{4}-\d{2}-\d{2})?$",
        title="Night",
        description="YYYY-MM-DD (evening date). Empty: the night of the run's data interval.",
    ),
    "bdms_prefix": Param(
        "observation",
        type="string",
        minLength=1,
        title="BDMS prefix",
        description="The night's dataset is <bdms_prefix>/<night> in BDMS.",
    ),
    "model_set": Param(
        "",
        type="string",
        title="Model set",
        description="Model set id (or unique prefix) applied DL1→DL2. Empty: the latest "
        "registered. Resolved once per run.",
    ),
    "irf_set": Param(
        "",
        type="string",
        title="IRF set",
        description="IRF set id (or unique prefix): its cuts and zenith nodes. Empty: the "
        "latest of the run's model set. Resolved once per run; must be of the run's model set "
        "(with model_set empty: its model set is applied).",
    ),
    "tailored_irf": Param(
        False,
        type="boolean",
        title="Tailored IRFs",
        description="IRFs tailored to each observation (datapipe tailored-irf) instead of the "
        "IRF set interpolated to its zenith.",
    ),
    "force_delivery": Param(
        False,
        type="boolean",
        title="Force delivery",
        description="Deliver observations whose DL1/DL2 products are flagged bad too "
        "(the flags are still printed).",
    ),
}


@dag(
    dag_id="observation_processing",
    description="Nightly: DL0 + coefficients → DL1 → DL2 → DL3 → quality gate → outbox",
    schedule=CronDataIntervalTimetable("0 12 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, 12, tz="UTC"),  # backfills reach back to here
    catchup=False,
    max_active_runs=2,
    max_active_tasks=8,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["datapipe", "observation", "nightly", "DL0", "DL1", "DL2", "DL3"],
    doc_md=DOC,
    dagrun_timeout=timedelta(days=2),
)
def observation_processing():
    @task(multiple_outputs=True)
    def locate_night(params: dict | None = None, data_interval_start=None) -> dict:
        """The night this run processes and its BDMS dataset."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry

        with fail_without_retry(campaigns.CampaignError):
            night = campaigns.night_of(data_interval_start, params["night"])
        return {"night": night, "dataset": f"{params['bdms_prefix'].rstrip('/')}/{night}"}

    night = locate_night()
    wait_dl0 = BDMSDataArrivalSensor(
        task_id="wait_for_dl0",
        dataset=night["dataset"],
        poke_interval=60,
        timeout=3600 * 12,
        timeout_hours_param="wait_timeout_hours",
        retries=3,
    )

    @task
    def plan(summary: dict, night: str, params: dict | None = None, run_id: str | None = None):
        """Claim the versioned output directory; per observation block, what it needs."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry

        from datapipe_ops import __version__, settings
        from datapipe_ops.errors import DataPipeError

        with fail_without_retry(campaigns.CampaignError, DataPipeError):
            return campaigns.plan_night(
                summary, night, params, settings.data_root(), __version__, run_id
            )

    blocks = plan(wait_dl0.output, night["night"])
    wait_coefficients = CalibPipeCoefficientsSensor.partial(
        task_id="wait_for_coefficients",
        poke_interval=60,
        timeout=3600 * 12,
        timeout_hours_param="wait_timeout_hours",
        retries=3,
    ).expand_kwargs(blocks.map(calibration_need))

    @task
    def plan_dl1(blocks: list, coefficients: list, params: dict | None = None) -> list:
        """Per block, the stage commands, with the coefficients the catalog found for it."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_airflow.xcom import as_list

        with fail_without_retry(campaigns.CampaignError):
            return campaigns.plan_night_dl1(blocks, as_list(coefficients), params)

    plans = plan_dl1(blocks, wait_coefficients.output)
    dl1 = dl0_to_dl1_segment(plans, "observation")
    dl1_quality = quality_segment("DL1", dl1.output)
    dl1_to_dl3_segment(plans, dl1, dl1_quality)


observation_processing()
