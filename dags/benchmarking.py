"""Benchmarking: a campaign's science benchmarks and its report, optionally against another."""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Param, dag, task
from datapipe_airflow import assets
from datapipe_airflow.dag_defaults import DEFAULT_ARGS, campaign_param
from datapipe_airflow.stage import stage_task

DOC = """
### Benchmarking

The science benchmarks of a campaign and its one-page report (see docs/benchmarks.md):

1. **plan** — the campaign: the `campaign` param, or when an asset event started the run (new
   DL1 or DL2 products, a new model set or IRF set), the `campaign` of the event's extra; then
   one benchmark per requested level (`levels`) the campaign — and `reference_campaign` when
   given — has products of in the catalog;
2. **benchmark** — one mapped stage task per level (`datapipe benchmark <level> --campaign …`,
   pool `datapipe_io`): numbers, plots and, against the reference campaign, a verdict per figure
   ("no change", "better", "worse"), written to
   `products/<campaign>/benchmarks/<run>/<level>/` and registered in the catalog;
3. **campaign_report** — `datapipe report`: `report.html` beside the benchmarks, registered
   (level BENCHMARK, kind report), listed in the DataPipe view's Reports page.
"""

LEVELS = ["dl0", "dl1", "models", "dl2", "irf", "dl3"]

PARAMS = {
    "campaign": campaign_param("simulation-demo"),
    "reference_campaign": Param(
        "",
        type="string",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*)?$",
        title="Reference campaign",
        description="Compare every benchmark with this campaign (empty: no comparison).",
    ),
    "levels": Param(
        ["dl1", "models", "dl2", "irf", "dl3"],
        type="array",
        items={"type": "string", "enum": LEVELS},
        title="Benchmarks",
        description="The benchmarks to run; a level the campaign has no products of is skipped.",
    ),
}


@dag(
    dag_id="benchmarking",
    description="Science benchmarks and report of a campaign, optionally against a reference",
    schedule=(assets.DL1_PRODUCTS | assets.DL2_PRODUCTS | assets.MODEL_SET | assets.IRF_SET),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    max_active_tasks=4,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["datapipe", "benchmarks", "report"],
    doc_md=DOC,
    dagrun_timeout=timedelta(hours=12),
)
def benchmarking():
    @task
    def plan(
        params: dict | None = None,
        run_id: str | None = None,
        triggering_asset_events=None,
    ) -> list:
        """The campaign, and one benchmark step per requested level it has products of."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry

        from datapipe_ops import settings
        from datapipe_ops.catalog import Catalog, ProductQuery
        from datapipe_ops.errors import DataPipeError

        campaign = campaigns.campaign_from_events(triggering_asset_events) or params["campaign"]
        reference = params.get("reference_campaign") or None
        with fail_without_retry(campaigns.CampaignError, DataPipeError):
            directory = campaigns.benchmark_directory(settings.data_root(), campaign, run_id)
            with Catalog() as catalog:
                have = None
                for name in filter(None, (campaign, reference)):
                    catalog.get_campaign(name)
                    levels = {
                        level
                        for level in set(campaigns.BENCHMARK_INPUTS.values())
                        if catalog.count_products(ProductQuery(campaign=name, level=level))
                    }
                    have = levels if have is None else have & levels
            steps = campaigns.benchmark_plan(campaign, params["levels"], directory, reference, have)
        print(f"campaign {campaign}: {len(steps)} benchmark(s) into {directory}")
        return [{"campaign": campaign, **step} for step in steps]

    @task
    def commands(steps: list) -> list:
        """The stage arguments of each benchmark step."""
        from datapipe_airflow.xcom import as_list

        return [{"command": s["command"], "outputs": s["outputs"]} for s in as_list(steps)]

    @task
    def report_command(steps: list, outputs: list) -> list:
        """The report step over the benchmarks written (one element: one task)."""
        from pathlib import Path

        from datapipe_airflow.campaigns import report_step
        from datapipe_airflow.xcom import as_list

        steps, written = as_list(steps), [p for paths in as_list(outputs) for p in paths]
        if not steps:
            return []
        directory = Path(steps[0]["outputs"][0]).parent.parent
        return [report_step(steps[0]["campaign"], directory, written)]

    steps = plan()
    benchmark = stage_task(
        "benchmark",
        kind="benchmark",
        expand=commands(steps),
    )
    stage_task(
        "campaign_report",
        kind="benchmark",
        expand=report_command(steps, benchmark.output),
    )


benchmarking()
