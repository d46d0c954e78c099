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


def resolve_sets_task() -> Any:
    """``resolve_sets``: the model set and IRF set of the run, resolved once from the
    ``model_set`` / ``irf_set`` params (empty: the latest registered), as concrete ids with the
    IRF set's cuts product: ``{"model_set_id", "irf_set_id", "cuts"}``."""

    @task
    def resolve_sets(params: dict | None = None) -> dict:
        """The run's model set and IRF set, once, as concrete ids (every stage gets the same).

        With the params empty and no model set (or no IRF set of it) registered yet, the
        DL2/DL3 part of the run is skipped with the reason printed: the night stops at DL1.
        """
        from airflow.sdk.exceptions import AirflowSkipException

        from datapipe_airflow.campaigns import CampaignError, NoSetsError, choose_irf_set
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.irf.irf_set import list_irf_sets, read_irf_set
        from datapipe_ops.reco.models.model_set import list_model_sets, resolve_model_set

        with fail_without_retry(DataPipeError, CampaignError):
            try:
                wanted_model_set, wanted_irf_set = params.get("model_set"), params.get("irf_set")
                if not wanted_model_set and wanted_irf_set:  # the named IRF set's model set
                    chosen = choose_irf_set(list_irf_sets(), None, wanted_irf_set)
                    wanted_model_set = chosen.get("model_set_id")
                if not wanted_model_set and not list_model_sets():
                    raise NoSetsError(
                        "no model set is registered: the night stops at DL1 (train one with "
                        "datapipe train, or give the model_set param)"
                    )
                model_set = resolve_model_set(wanted_model_set or "latest").name
                chosen = choose_irf_set(list_irf_sets(), model_set, wanted_irf_set)
                irf_set = read_irf_set(chosen["path"])
            except NoSetsError as reason:
                print(f"DL2/DL3 skipped: {reason}")
                raise AirflowSkipException(str(reason)) from None
        sets = {"model_set_id": model_set, "irf_set_id": irf_set.id, "cuts": str(irf_set.cuts)}
        print(f"model set {model_set}, IRF set {irf_set.id} (cuts {irf_set.cuts})")
        return sets

    return resolve_sets()


def quality_flags_bad(paths: list[str]) -> dict[str, list[str]]:
    """{path: [why]} of the products among ``paths`` flagged ``bad`` in the catalog: each
    metric flagged bad with its value, or the flag alone when no metric says why."""
    from datapipe_ops.catalog import Catalog

    bad: dict[str, list[str]] = {}
    with Catalog() as catalog:
        for path in paths:
            product = catalog.find_product(path)
            if product is None or str(product.quality_flag or "").lower() != "bad":
                continue
            metrics = [
                f"{m.name} = {m.value:g}{' ' + m.unit if m.unit else ''} ({m.flag})"
                for m in catalog.quality_metrics(product.path)
                if str(m.flag or "").lower() == "bad" and m.value is not None
            ]
            bad[path] = metrics or ["quality_flag bad (no metric recorded)"]
    return bad


def dl1_to_dl3_segment(plans: Any, dl1: Any, dl1_quality: Any = None) -> Any:
    """resolve_sets → plan_dl3 → dl1_to_dl2 → observation_irf → dl2_to_dl3 (one mapped task per
    block each), quality_dl2 → quality_gate → deliver_dl3 → publish, report_dl3.

    ``plans`` is the task output listing one DL1 plan per block
    (:func:`datapipe_airflow.campaigns.plan_night_dl1`), ``dl1`` the DL0→DL1 task. The IRFs
    are the IRF set interpolated to each block's zenith, or tailored to the block when the
    ``tailored_irf`` param is true. ``dl1_quality`` (the DL1 quality task, if any) and
    ``quality_dl2`` (one ``datapipe quality dl2`` per DL2 file) record the quality flags before
    ``quality_gate`` reads them. ``quality_gate`` holds back blocks whose DL1/DL2 product is
    flagged ``bad`` in the catalog (unless ``force_delivery``) and prints why; ``deliver_dl3``
    is one stage task writing the night's outbox; ``publish`` emits the DL2 and DL3 asset
    events. Returns ``publish``.
    """
    from datapipe_airflow.assets import DL2_PRODUCTS, DL3_PRODUCTS
    from datapipe_airflow.campaigns import dl1_to_dl2_step, dl2_to_dl3_step, irf_step

    sets = resolve_sets_task()

    @task
    def plan_dl3(plans: list, sets: dict, dl1_outputs: list, params: dict | None = None) -> list:
        """Per block: DL2, IRF and DL3 commands; the night stamped with the sets."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_airflow.xcom import as_list

        with fail_without_retry(campaigns.CampaignError):
            return campaigns.plan_night_dl3(as_list(plans), sets, params)

    blocks = plan_dl3(plans, sets, dl1.output)
    dl2 = stage_task("dl1_to_dl2", kind="apply", expand=blocks.map(dl1_to_dl2_step))
    irf = stage_task("observation_irf", kind="irf", expand=blocks.map(irf_step))
    dl3 = stage_task("dl2_to_dl3", kind="dl3", expand=blocks.map(dl2_to_dl3_step))
    dl2 >> irf >> dl3

    @task
    def quality_gate(blocks: list, dl3_outputs: list, params: dict | None = None) -> dict:
        """Hold back the blocks whose DL1/DL2 product the catalog flags ``bad``."""
        from datapipe_airflow.campaigns import hold_back
        from datapipe_airflow.xcom import as_list

        blocks = as_list(blocks)
        bad = quality_flags_bad([b[level] for b in blocks for level in ("dl1", "dl2")])
        gate = hold_back(blocks, bad, bool(params.get("force_delivery")))
        for entry in gate["held_back"]:
            print(f"HELD BACK observation {entry['obs_id']}: {'; '.join(entry['reasons'])}")
        for entry in gate["forced"]:
            print(
                f"DELIVERED DESPITE FLAG (force_delivery) observation {entry['obs_id']}: "
                f"{'; '.join(entry['reasons'])}"
            )
        print(f"{len(gate['deliver'])} of {len(blocks)} observation(s) to deliver")
        return gate

    gate = quality_gate(blocks, dl3.output)
    quality_segment("DL2", dl2.output) >> gate
    if dl1_quality is not None:
        dl1_quality >> gate

    @task
    def plan_delivery(gate: dict, sets: dict, params: dict | None = None) -> list:
        """The delivery command of the night (none when every block is held back)."""
        from datapipe_airflow.campaigns import delivery_command
        from datapipe_ops import settings

        return delivery_command(gate["deliver"], sets, settings.data_root(), params["campaign"])

    deliver = stage_task("deliver_dl3", expand=plan_delivery(gate, sets))

    @task(outlets=[DL2_PRODUCTS, DL3_PRODUCTS], trigger_rule="none_failed_min_one_success")
    def publish(gate: dict, blocks: list, outlet_events=None, params: dict | None = None):
        """The DL2 and DL3 asset events: campaign, version, night, how many products."""
        from datapipe_airflow.campaigns import night_directory
        from datapipe_airflow.xcom import as_list

        blocks = as_list(blocks)
        night_dir = night_directory(blocks[0]["dl1"])
        common = {
            "campaign": params["campaign"],
            "version": night_dir.parent.name,
            "night": night_dir.name,
        }
        outlet_events[DL2_PRODUCTS].extra = {**common, "n_products": len(blocks)}
        outlet_events[DL3_PRODUCTS].extra = {
            **common,
            "n_products": len(blocks),
            "n_delivered": len(gate["deliver"]),
            "n_held_back": len(gate["held_back"]),
        }
        return common

    published = publish(gate, blocks)
    deliver >> published

    @task(trigger_rule="none_failed_min_one_success")
    def report_dl3(gate: dict, blocks: list, params: dict | None = None) -> dict:
        """Where the night's DL2, IRF and DL3 products and its delivery are."""
        from datapipe_airflow.campaigns import night_directory, outbox_directory
        from datapipe_airflow.xcom import as_list
        from datapipe_ops import settings

        blocks = as_list(blocks)
        night_dir = night_directory(blocks[0]["dl1"])
        outbox = outbox_directory(settings.data_root(), night_dir)
        for level in ("dl2", "irf", "dl3"):
            print(f"{level.upper()}: {len(blocks)} file(s) in {night_dir / level}")
        delivered = [b["obs_id"] for b in gate["deliver"]]
        print(f"delivered observation(s) {delivered or 'none'} to {outbox}")
        for entry in gate["held_back"]:
            print(f"held back observation {entry['obs_id']}: {'; '.join(entry['reasons'])}")
        return {"dl3": str(night_dir / "dl3"), "outbox": str(outbox), "delivered": delivered}

    report = report_dl3(gate, blocks)
    deliver >> report
    return published


def resolve_model_set_task(value: Any) -> Any:
    """``resolve_model_set``: the model set of the run, resolved ONCE (an id, ``latest`` when the
    param is empty) so that every stage task of the run applies the same set; ``None`` when the
    param is ``none``, or empty while no model set is registered yet (the campaign stops at the
    geometry; with ``irf_datasets`` that is an error). Returns its output (the id)."""

    @task(task_id="resolve_model_set")
    def resolve(value: str | None, params: dict | None = None) -> str | None:
        """The concrete model set id the run applies (None: geometry only)."""
        from datapipe_airflow.campaigns import CampaignError, model_set_param
        from datapipe_airflow.stage_failure import fail_without_retry
        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.reco.models.model_set import list_model_sets, resolve_model_set

        ref = model_set_param(value)
        if ref is None:
            print("model_set is 'none': no DL2 with models, no IRF branch")
            return None
        with fail_without_retry(DataPipeError, CampaignError):
            if not (value or "").strip() and not list_model_sets():
                if (params or {}).get("irf_datasets"):
                    raise CampaignError(
                        "the IRF branch needs a model set and none is registered: run "
                        "model_training first, or give the model_set param"
                    )
                print(
                    "no model set is registered yet: the run stops at the geometry "
                    "(DL2 with models needs one; model_training makes one)"
                )
                return None
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
    # task id, stage kind, the plan's key of its commands
    steps = [
        ("irf_dl0_to_dl1", "dl0_to_dl1", "dl0_to_dl1"),
        ("irf_dl1_to_dl2", "apply", "dl1_to_dl2"),
        ("irf_merge", "merge", "merge"),
        ("optimize_cuts", "irf", "optimize_cuts"),
        ("compute_irf", "irf", "compute_irf"),
        ("sensitivity", "irf", "sensitivity"),
        ("irf_set_create", "light", "irf_set"),
    ]
    dl1, dl2, merge, cuts, irfs, sensitivity, irf_set = (
        stage_task(task_id, kind=kind, expand=commands_of(planned, key, f"{task_id}_commands"))
        for task_id, kind, key in steps
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
