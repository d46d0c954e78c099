"""Stretches of tasks that several campaign DAGs share, written once.

Called inside a ``@dag`` function, a segment adds its tasks to that DAG and returns the task
later steps hang on. Task ids are fixed here, so every campaign shows the same names in the UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import task

from datapipe_airflow.campaigns import dl0_to_dl1_step, register_dl0_step, register_dl1_step
from datapipe_airflow.stage import stage_task


def dl0_to_dl1_segment(plans: Any, campaign_kind: str) -> Any:
    """register_campaign → register_dl0 → dl0_to_dl1 → register_dl1 → deliver_products, report.

    ``plans`` is the task output listing one plan per DL0 file (from
    :mod:`datapipe_airflow.campaigns`); the stage tasks are mapped over it, DL0→DL1 in the
    ``dl0_to_dl1`` resources and pool. ``campaign_kind``: ``simulation`` or ``observation``
    (the catalog campaign's kind). ``deliver_products`` puts the DL1 files into the campaign's
    BDMS dataset and records their identifiers in the catalog. Returns ``register_dl1``.
    """
    campaign = stage_task(
        "register_campaign",
        ["catalog", "campaign", "{{ params.campaign }}", "--kind", campaign_kind],
    )
    register_dl0 = stage_task("register_dl0", expand=plans.map(register_dl0_step))
    dl1 = stage_task("dl0_to_dl1", kind="dl0_to_dl1", expand=plans.map(dl0_to_dl1_step))
    register_dl1 = stage_task("register_dl1", expand=plans.map(register_dl1_step))

    @task
    def report(outputs: list) -> list:
        """Where the products are."""
        # index the lazy XCom sequence (iterating it probes one past the end)
        files = sorted(path for i in range(len(outputs)) for path in outputs[i])
        directories = sorted({str(Path(path).parent) for path in files})
        print(f"{len(files)} DL1 file(s) in {', '.join(directories)}")
        return files

    @task(retries=3)
    def deliver_products(outputs: list, params: dict | None = None) -> dict:
        """The DL1 files into the campaign's BDMS dataset; their identifiers into the catalog."""
        from datapipe_airflow.hooks.bdms import BDMSHook
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_ops.bdms.backend import BDMSAccessError
        from datapipe_ops.errors import CatalogError

        files = [path for i in range(len(outputs)) for path in outputs[i]]
        with fail_without_retry(BDMSAccessError, CatalogError):  # unreachable: retried
            return BDMSHook().deliver_products(params["campaign"], files)

    plans >> campaign >> register_dl0 >> dl1 >> register_dl1
    register_dl1 >> [deliver_products(dl1.output), report(dl1.output)]
    return register_dl1
