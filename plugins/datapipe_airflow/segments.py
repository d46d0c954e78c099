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
                if not params.get("model_set") and not list_model_sets():
                    raise NoSetsError(
                        "no model set is registered: the night stops at DL1 (train one with "
                        "datapipe train, or give the model_set param)"
                    )
                model_set = resolve_model_set(params.get("model_set") or "latest").name
                chosen = choose_irf_set(list_irf_sets(), model_set, params.get("irf_set"))
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


def dl1_to_dl3_segment(plans: Any, dl1: Any) -> Any:
    """resolve_sets → plan_dl3 → dl1_to_dl2 → observation_irf → dl2_to_dl3 (one mapped task per
    block each) → quality_gate → deliver_dl3 → publish, report_dl3.

    ``plans`` is the task output listing one DL1 plan per block
    (:func:`datapipe_airflow.campaigns.plan_night_dl1`), ``dl1`` the DL0→DL1 task. The IRFs
    are the IRF set interpolated to each block's zenith, or tailored to the block when the
    ``tailored_irf`` param is true. ``quality_gate`` holds back blocks whose DL1/DL2 product is
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
