"""Model training: simulated DL1 gammas and protons → one immutable model set, published."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import Param, dag, task
from datapipe_airflow import assets
from datapipe_airflow.dag_defaults import DEFAULT_ARGS, campaign_param, version_param
from datapipe_airflow.segments import commands_of, publish_task
from datapipe_airflow.stage import stage_task

PRESETS_DIR = Path(__file__).resolve().parents[1] / "include" / "config" / "model_training"
PRESETS = sorted(p.stem for p in PRESETS_DIR.glob("*.yaml")) or ["default"]
KINDS = ["energy", "gammaness", "disp", "event-type"]

DOC = """
### Model training

Trains the reconstruction models of a simulation campaign into **one immutable model set** and
publishes it (asset `datapipe-model-set`, extra `{model_set_id, campaign}`), which
`simulation_processing` and `observation_processing` then apply (their `model_set` param empty
= the latest published set).

1. **resolve_inputs** — the training products: the members of the catalog dataset
   `training_dataset`, or the simulated DL1 products of the campaign `training_campaign`
   (gammas and protons are both needed); claims `products/<campaign>/<version>/` and plans;
2. **merge** — one task per particle (`datapipe merge` → `merged/<particle>.dl1.h5`);
3. **geometry** — `datapipe dl1-to-dl2` without a model set on each merged file
   (`merged/<particle>.geometry.dl2.h5`, the training input);
4. **train** — one task per kind among energy, gammaness, disp, in parallel
   (`datapipe train <kind> -o parts/<kind>/`: a partial set each);
5. **assemble_base** → **train_event_type** — when `event-type` is asked: the event-type model
   is trained on the assembled disp/energy/gammaness parts (`--base-model-set`);
6. **assemble_model_set** — `datapipe model-set assemble` of every part: the immutable model set
   in `<data root>/models/<id>/`, registered with lineage to the training products;
7. **registered_model_set** → **model_benchmarks** (the set's card: `datapipe model-set show`)
   → **check_model_set** (every kind present, CV metrics finite, printed) →
   **publish_model_set**.

Hyper-parameters: `preset` = a file of `include/config/model_training/` (`default`, `fast` for
tests and demos). Same seed, data and preset → identical model files and the same id (the
steps are retried safely: parts and set are content addressed, `--exist-ok`).
"""

PARAMS = {
    "campaign": campaign_param("model-training"),
    "version": version_param(),
    "training_dataset": Param(
        "",
        type="string",
        title="Training dataset",
        description="Catalog dataset of simulated DL1 gamma and proton products to train on.",
    ),
    "training_campaign": Param(
        "",
        type="string",
        title="Training campaign",
        description=(
            "Instead of a dataset: the simulation campaign whose DL1 gamma and proton products "
            "are the training input (e.g. the one simulation_processing made of the training "
            "production)."
        ),
    ),
    "kinds": Param(
        KINDS,
        type="array",
        items={"type": "string", "enum": KINDS},
        minItems=1,
        uniqueItems=True,
        title="Model kinds",
        description="What to train; event-type is trained on disp (and energy, gammaness).",
    ),
    "preset": Param(
        "default",
        type="string",
        enum=PRESETS,
        title="Hyper-parameter preset",
        description="A configuration of include/config/model_training/ (fast: tests, demos).",
    ),
}


@dag(
    dag_id="model_training",
    description="Simulated DL1 gammas + protons → merged → geometry → models → one model set",
    schedule=None,
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    max_active_tasks=8,
    default_args=DEFAULT_ARGS,
    params=PARAMS,
    tags=["datapipe", "simulation", "models", "training"],
    doc_md=DOC,
    dagrun_timeout=timedelta(days=2),
)
def model_training():
    @task
    def resolve_inputs(params: dict | None = None, run_id: str | None = None) -> dict:
        """The training products by particle, the version directory and the stage commands."""
        from datapipe_airflow import campaigns
        from datapipe_airflow.stage_failure import fail_without_retry

        from datapipe_ops import __version__, settings
        from datapipe_ops.catalog import Catalog, ProductQuery
        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.resources import include_dir

        dataset, campaign = params.get("training_dataset"), params.get("training_campaign")
        with fail_without_retry(campaigns.CampaignError, DataPipeError):
            if bool(dataset) == bool(campaign):
                raise campaigns.CampaignError(
                    "give either training_dataset or training_campaign (exactly one)"
                )
            with Catalog() as catalog:
                if dataset:
                    paths = catalog.get_dataset(dataset).paths
                    products = [catalog.get_product(path) for path in paths]
                    what = f"dataset {dataset}"
                else:
                    query = ProductQuery(level="DL1", campaign=campaign)
                    products = catalog.list_products(query)
                    what = f"campaign {campaign}"
            inputs = campaigns.training_inputs(
                [{"path": p.path, "particle": p.particle} for p in products], what
            )
            preset = include_dir() / "config" / "model_training" / f"{params['preset']}.yaml"
            version_dir = campaigns.claim_campaign_version(
                settings.data_root(),
                params["campaign"],
                params.get("version"),
                str(preset),
                __version__,
                run_id,
                training_input=what,
            )
            plan = campaigns.plan_model_training(inputs, version_dir, params["kinds"], str(preset))
        for particle, paths in inputs.items():
            print(f"{particle}: {len(paths)} DL1 product(s) of {what}")
        return plan

    plan = resolve_inputs()
    merge = stage_task("merge", kind="merge", expand=commands_of(plan, "merge"))
    geometry = stage_task("geometry", kind="apply", expand=commands_of(plan, "geometry"))
    train = stage_task("train", kind="train", expand=commands_of(plan, "train"))
    assemble_base = stage_task(
        "assemble_base", kind="light", expand=commands_of(plan, "assemble_base")
    )
    event_type = stage_task(
        "train_event_type", kind="train", expand=commands_of(plan, "train_event_type")
    )
    assemble = stage_task(
        "assemble_model_set",
        kind="light",
        expand=commands_of(plan, "assemble"),
        trigger_rule="none_failed_min_one_success",  # event-type not asked: its steps skip
    )
    merge >> geometry >> train >> assemble_base >> event_type >> assemble

    @task
    def registered_model_set(run_id: str | None = None) -> str:
        """The id of the model set ``assemble_model_set`` registered in this run."""
        from datapipe_ops.catalog import Catalog, ProductQuery
        from datapipe_ops.reco.models.model_set import CATALOG_KIND

        with Catalog() as catalog:
            made = [
                Path(p.path).parent.name
                for p in catalog.list_products(ProductQuery(level="MODEL", kind=CATALOG_KIND))
                if p.run_id == run_id and p.task_id == "assemble_model_set"
            ]
        if not made:
            raise RuntimeError(f"assemble_model_set registered no model set in run {run_id}")
        print(f"model set {made[-1]}")
        return made[-1]

    model_set_id = registered_model_set()
    assemble >> model_set_id

    @task
    def benchmark_commands(model_set_id: str, params: dict | None = None) -> list:
        """The model benchmark stage of the new set (one element)."""
        from datapipe_airflow.campaigns import model_benchmark_command

        return [model_benchmark_command(model_set_id, "")]

    benchmarks = stage_task(
        "model_benchmarks", kind="light", expand=benchmark_commands(model_set_id)
    )

    @task
    def check_model_set(model_set_id: str, params: dict | None = None) -> dict:
        """Every asked kind in the set, its CV metrics finite; printed. Returns the asset extra."""
        import json

        from datapipe_airflow.campaigns import CampaignError, check_model_card
        from datapipe_airflow.stage_failure import fail_without_retry

        from datapipe_ops.errors import DataPipeError
        from datapipe_ops.reco.models.model_set import CARD, resolve_model_set

        with fail_without_retry(CampaignError, DataPipeError):
            card = json.loads((resolve_model_set(model_set_id) / CARD).read_text())
            for line in check_model_card(card, params["kinds"]):
                print(line)
        return {"model_set_id": model_set_id, "campaign": params["campaign"]}

    extra = check_model_set(model_set_id)
    benchmarks >> extra
    publish_task("publish_model_set", assets.MODEL_SET, extra)


model_training()
