"""Stretches of tasks that several campaign DAGs share, written once.

Called inside a ``@dag`` function, a segment adds its tasks to that DAG and returns the task
later steps hang on. Task ids are fixed here, so every campaign shows the same names in the UI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from airflow.sdk import task

from datapipe_airflow.campaigns import dl0_to_dl1_step
from datapipe_airflow.stage import stage_task


def dl0_to_dl1_segment(plans: Any, campaign_kind: str) -> Any:
    """register_inputs → dl0_to_dl1 (one mapped task per DL0 file) → deliver_products, report.

    ``plans`` is the task output listing one plan per DL0 file
    (:func:`datapipe_airflow.campaigns.dl1_plan`). ``register_inputs`` is one stage task that
    creates the campaign (of kind ``campaign_kind``: ``simulation`` or ``observation``) and
    registers every DL0 file in one transaction; ``dl0_to_dl1`` is one mapped stage task per
    file (its resources and pool) that writes the DL1 file and registers it with its lineage
    itself, so one failed file blocks no other file. ``deliver_products`` puts the DL1 files
    into the campaign's BDMS dataset and records their identifiers in the catalog. Returns
    ``dl0_to_dl1``.
    """

    @task
    def list_inputs(plans: list, params: dict | None = None) -> list:
        """The command registering the campaign's inputs (one element: one task)."""
        from datapipe_airflow.campaigns import register_inputs_command
        from datapipe_airflow.xcom import as_list

        return [register_inputs_command(as_list(plans), params["campaign"], campaign_kind)]

    register_inputs = stage_task("register_inputs", expand=list_inputs(plans))
    dl1 = stage_task("dl0_to_dl1", kind="dl0_to_dl1", expand=plans.map(dl0_to_dl1_step))

    @task
    def report(outputs: list) -> list:
        """Where the products are."""
        from datapipe_airflow.xcom import as_list

        files = sorted(path for paths in as_list(outputs) for path in paths)
        directories = sorted({str(Path(path).parent) for path in files})
        print(f"{len(files)} DL1 file(s) in {', '.join(directories)}")
        return files

    @task(retries=3)
    def deliver_products(outputs: list, params: dict | None = None) -> dict:
        """The DL1 files into the campaign's BDMS dataset; their identifiers into the catalog."""
        from datapipe_airflow.hooks.bdms import BDMSHook
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_airflow.xcom import as_list
        from datapipe_ops.bdms.backend import BDMSAccessError
        from datapipe_ops.errors import CatalogError

        files = [path for paths in as_list(outputs) for path in paths]
        with fail_without_retry(BDMSAccessError, CatalogError):  # unreachable: retried
            return BDMSHook().deliver_products(params["campaign"], files)

    register_inputs >> dl1
    deliver_products(dl1.output)
    report(dl1.output)
    return dl1


def quality_segment(level: str, outputs: Any) -> Any:
    """plan_quality_<level> → quality_<level> (one mapped stage task per product).

    ``outputs`` is the output of a mapped stage task (each instance's list of product paths,
    e.g. ``dl0_to_dl1``'s). Each product gets one ``datapipe quality <level>`` task: it writes
    ``<product>.quality.json``, records the metrics and sets ``products.quality_flag`` in the
    catalog, and succeeds whatever the flag (the flag is data; a gate downstream reads it).
    Returns the mapped ``quality_<level>`` task.
    """
    name = level.lower()

    @task(task_id=f"plan_quality_{name}")
    def plan_quality(outputs: list) -> list:
        """One quality command per product."""
        from datapipe_airflow.campaigns import quality_plans
        from datapipe_airflow.xcom import as_list

        return quality_plans(as_list(outputs), level)

    return stage_task(f"quality_{name}", kind="benchmark", expand=plan_quality(outputs))
