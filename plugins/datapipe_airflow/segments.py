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


def resolve_model_set_task(value: Any) -> Any:
    """``resolve_model_set``: the model set of the run, resolved ONCE (an id, ``latest`` when the
    param is empty) so that every stage task of the run applies the same set; ``None`` when the
    param is ``none`` (the campaign stops at the geometry). Returns its output (the id)."""

    @task(task_id="resolve_model_set")
    def resolve(value: str | None) -> str | None:
        """The concrete model set id the run applies (None: geometry only)."""
        from datapipe_airflow.campaigns import model_set_param
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.reco.models.model_set import resolve_model_set

        ref = model_set_param(value)
        if ref is None:
            print("model_set is 'none': no DL2 with models, no IRF branch")
            return None
        with fail_without_retry(DataPipeError):
            directory = resolve_model_set(ref)
        print(f"model set {ref!r} → {directory.name} ({directory})")
        return directory.name

    return resolve(value)


def commands_of(planned: Any, key: str, task_id: str | None = None) -> Any:
    """The ``key`` list of a planning task's dict output, as its own small task
    (``<key>_commands``): a stage task maps over it (Airflow maps over return values only)."""

    @task(task_id=task_id or f"{key}_commands")
    def select(plan: dict) -> list:
        """One step's stage commands (one mapped task per element)."""
        return list(plan[key])

    return select(planned)


def publish_task(task_id: str, asset: Any, extra: Any, **task_kwargs: Any) -> Any:
    """A task publishing ``asset`` with the event ``extra`` (a dict, or a task output
    resolving to one); ``extra`` is also its return value."""

    @task(task_id=task_id, outlets=[asset], **task_kwargs)
    def publish(extra: dict, outlet_events=None) -> dict:
        """Record the asset event (and its extra) for the consumers of the asset."""
        outlet_events[asset].extra = dict(extra)
        print(f"{asset.name}: {extra}")
        return dict(extra)

    return publish(extra)


def after_dl1_segment(plans: Any, dl1: Any, model_set_id: Any) -> dict[str, Any]:
    """After the DL1 of a simulation campaign (``plans`` as for :func:`dl0_to_dl1_segment`,
    ``dl1`` its mapped task, ``model_set_id`` the output of :func:`resolve_model_set_task`):

    ``plan_after_dl1`` → ``geometry`` (``dl1-to-dl2`` without a model set, one task per DL1
    file) → ``merge`` (the geometry products per particle: the training input) →
    ``dl1_to_dl2`` (with the model set, one task per DL1 file; skipped without a model set) →
    ``publish_dl1`` / ``publish_dl2`` (assets ``DL1_PRODUCTS`` / ``DL2_PRODUCTS``). Every stage
    registers its own product with its lineage. Returns the tasks by name.
    """
    from datapipe_airflow import assets

    @task
    def plan_after_dl1(plans: list, model_set_id: str | None, params: dict | None = None) -> dict:
        """The geometry, merge and DL2 commands of the production's DL1 files."""
        from datapipe_airflow.campaigns import CampaignError, plan_dl2, plan_geometry
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_airflow.xcom import as_list

        config = params.get("dl2_config") or None
        with fail_without_retry(CampaignError):
            plan = plan_geometry(as_list(plans), config)
            plan["dl2"] = plan_dl2(as_list(plans), model_set_id, config)
        return plan

    planned = plan_after_dl1(plans, model_set_id)
    dl1 >> planned
    geometry = stage_task("geometry", kind="apply", expand=commands_of(planned, "geometry"))
    merge = stage_task("merge", kind="merge", expand=commands_of(planned, "merge"))
    dl2 = stage_task("dl1_to_dl2", kind="apply", expand=commands_of(planned, "dl2"))
    geometry >> merge >> dl2

    def products_extra(task_id: str, outputs: Any) -> Any:
        @task(task_id=task_id)
        def extra(outputs: list, params: dict | None = None) -> dict:
            """The asset event's extra: campaign, version and the number of products."""
            from datapipe_airflow.xcom import as_list

            files = [path for paths in as_list(outputs) for path in paths]
            version = Path(files[0]).parents[1].name if files else params.get("version")
            return {"campaign": params["campaign"], "version": version, "n_products": len(files)}

        return extra(outputs)

    dl1_extra = products_extra("dl1_extra", dl1.output)
    dl2_extra = products_extra("dl2_extra", dl2.output)
    publish_dl1 = publish_task("publish_dl1", assets.DL1_PRODUCTS, dl1_extra)
    publish_dl2 = publish_task("publish_dl2", assets.DL2_PRODUCTS, dl2_extra)
    return {
        "plan": planned,
        "geometry": geometry,
        "merge": merge,
        "dl2": dl2,
        "publish_dl1": publish_dl1,
        "publish_dl2": publish_dl2,
    }


def irf_segment(datasets: Any, model_set_id: Any, register_after: Any = None) -> dict[str, Any]:
    """The IRF branch of a simulation campaign: its zenith productions (``datasets``, a task
    output listing BDMS datasets, one per node; empty: every task below is skipped)

    ``wait_for_irf_productions`` (one deferrable sensor per dataset) → ``plan_irf`` →
    ``irf_register_inputs`` → ``irf_dl0_to_dl1`` → ``irf_dl1_to_dl2`` (with the model set, one
    task per file) → ``irf_merge`` (per node and component) → ``optimize_cuts`` (on the first,
    reference node) → ``compute_irf`` and ``sensitivity`` (per node) → ``irf_set_create``
    (``datapipe irf-set create``) → ``publish_irf_set`` (asset ``IRF_SET``). ``register_after``:
    a task the branch's registrations wait for (the one creating the campaign).
    """
    from datapipe_airflow import assets
    from datapipe_airflow.sensors.bdms import BDMSDataArrivalSensor

    wait = BDMSDataArrivalSensor.partial(
        task_id="wait_for_irf_productions",
        poke_interval=30,
        timeout=3600 * 24,
        timeout_hours_param="wait_timeout_hours",
        retries=3,
    ).expand(dataset=datasets)

    @task
    def plan_irf(
        summaries: list,
        model_set_id: str | None,
        params: dict | None = None,
        run_id: str | None = None,
    ) -> dict:
        """Every stage command of the IRF branch (outputs under <version>/irf/)."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_airflow.xcom import as_list
        from datapipe_ops import __version__, settings
        from datapipe_ops.errors import DataPipeError

        with fail_without_retry(campaigns.CampaignError, DataPipeError):
            version_dir = campaigns.claim_campaign_version(
                settings.data_root(),
                params["campaign"],
                params.get("version"),
                params.get("dl1_config") or None,
                __version__,
                run_id,
            )
            return campaigns.plan_irf(
                as_list(summaries),
                version_dir,
                params["campaign"],
                model_set_id,
                params.get("dl1_config") or None,
                params.get("dl2_config") or None,
                params.get("irf_config") or None,
            )

    planned = plan_irf(wait.output, model_set_id)
    register = stage_task(
        "irf_register_inputs",
        expand=commands_of(planned, "register_inputs", "irf_register_inputs_commands"),
    )
    if register_after is not None:
        register_after >> register
    dl1 = stage_task(
        "irf_dl0_to_dl1",
        kind="dl0_to_dl1",
        expand=commands_of(planned, "dl0_to_dl1", "irf_dl0_to_dl1_commands"),
    )
    dl2 = stage_task(
        "irf_dl1_to_dl2",
        kind="apply",
        expand=commands_of(planned, "dl1_to_dl2", "irf_dl1_to_dl2_commands"),
    )
    merge = stage_task(
        "irf_merge", kind="merge", expand=commands_of(planned, "merge", "irf_merge_commands")
    )
    cuts = stage_task(
        "optimize_cuts",
        kind="irf",
        expand=commands_of(planned, "optimize_cuts", "optimize_cuts_commands"),
    )
    irfs = stage_task(
        "compute_irf",
        kind="irf",
        expand=commands_of(planned, "compute_irf", "compute_irf_commands"),
    )
    sensitivity = stage_task(
        "sensitivity",
        kind="irf",
        expand=commands_of(planned, "sensitivity", "sensitivity_commands"),
    )
    irf_set = stage_task(
        "irf_set_create",
        kind="light",
        expand=commands_of(planned, "irf_set", "irf_set_create_commands"),
    )
    register >> dl1 >> dl2 >> merge >> cuts >> [irfs, sensitivity]
    irfs >> irf_set

    @task
    def irf_set_extra(
        model_set_id: str | None, params: dict | None = None, run_id: str | None = None
    ) -> dict:
        """The IRF set this run registered, as the asset event's extra."""
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_ops.catalog import Catalog, ProductQuery
        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.irf.irf_set import CATALOG_KIND, resolve_irf_set

        with Catalog() as catalog:
            made = [
                p
                for p in catalog.list_products(ProductQuery(level="IRF", kind=CATALOG_KIND))
                if p.run_id == run_id and p.task_id == "irf_set_create"
            ]
        if not made:
            raise RuntimeError(f"irf_set_create registered no IRF set in run {run_id}")
        with fail_without_retry(DataPipeError):
            irf_set = resolve_irf_set(made[-1].path)
        return {
            "irf_set_id": irf_set.id,
            "campaign": params["campaign"],
            "model_set_id": irf_set.model_set_id or model_set_id,
        }

    extra = irf_set_extra(model_set_id)
    irf_set >> extra
    publish = publish_task("publish_irf_set", assets.IRF_SET, extra)
    return {"plan": planned, "irf_set": irf_set, "publish_irf_set": publish}
