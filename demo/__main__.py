"""``make demo``: the whole chain on small inputs, through Airflow, from DL0 to delivered DL3.

Run as ``python -m demo`` from the repository (what ``make demo`` does). Everything lives
under the data root (``$DATAPIPE_DATA_ROOT``, default ``var/demo``):

1. the outside world, made small: SimPipe delivers the demo training production
   (``bdms/simulation/demo``) and two demo IRF productions at 0 and 20 deg zenith
   (``bdms/simulation/demo_irf_zenith{0,20}``) into the BDMS stand-in, ACADA one observation
   block of the Crab for the night (``bdms/observation/<night>/crab_observation``), CalibPipe
   registers its coefficients;
2. Airflow (its own ``AIRFLOW_HOME`` under the data root, SQLite, local backend) runs with
   ``dag.test()`` — the same DAGs, sensors and stage tasks as in production:
   ``simulation_processing`` on the training production (DL1, geometry, merged; no model set
   yet) → ``model_training`` (fast preset: the model set) → ``simulation_processing`` with the
   IRF productions (its IRF branch: cuts, IRFs per zenith node, the IRF set) →
   ``observation_processing`` for the night (DL1 → DL2 → IRFs interpolated to the block's
   zenith → DL3 → quality gate → ``outbox/``);
3. the products, their catalog entries and where to look are printed.

The model set and the IRF set are made in the step functions :func:`build_model_set` and
:func:`build_irf_set`. ``DATAPIPE_DATA_ROOT=<data root> DATAPIPE_AIRFLOW_HOME=<data root>/airflow
make up`` shows the demo's runs in the UI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRODUCTION_CONFIG = REPO / "include" / "config" / "simulation" / "demo.yaml"
OBSERVATION_CONFIG = REPO / "include" / "config" / "simulation" / "observation_crab.yaml"
#: The demo's IRF productions, one per zenith node: they bracket the Crab block (~7-10 deg).
IRF_CONFIGS = [
    REPO / "include" / "config" / "simulation" / f"demo_irf_zenith{zenith}.yaml"
    for zenith in (20, 0)  # the first is the reference node the cuts are optimised on
]
TRAINING_CAMPAIGN = "simulation-demo"
#: Seconds of the observation block: with its cosmic-ray background a block makes ~280 MB of
#: DL0 per second of observation, so the demo night is short.
OBSERVATION_SECONDS = 2.0


def configure(data_root: Path) -> dict[str, str]:
    """The environment of the demo's Airflow, set before airflow is imported."""
    home = data_root / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "DATAPIPE_DATA_ROOT": str(data_root),
        "DATAPIPE_EXECUTION_BACKEND": "local",
        "MPLBACKEND": "Agg",
    }
    os.environ.update(env)
    os.environ.setdefault("DATAPIPE_CATALOG_URL", f"sqlite:///{data_root / 'catalog.sqlite'}")
    for folder in ("plugins", "dags"):
        if str(REPO / folder) not in sys.path:
            sys.path.insert(0, str(REPO / folder))
    return env


def step(message: str) -> float:
    """Announce a step; return its start time."""
    print(f"\n==> {message}", flush=True)
    return time.monotonic()


def done(started: float) -> None:
    print(f"    ({time.monotonic() - started:.0f} s)", flush=True)


def command(*argv: str) -> None:
    """Run a command of the demo's environment; stop the demo if it fails."""
    result = subprocess.run(argv, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"demo: {' '.join(argv[:3])} failed:\n{result.stderr[-2000:]}")


def executable(name: str) -> str:
    """A console script of this virtualenv (``datapipe``, ``airflow``)."""
    return str(Path(sys.executable).with_name(name))


def observation_night(config: Path) -> tuple[str, datetime]:
    """The night (evening date) of the configured block, and the logical date for ``dag.test``:
    the noon that ends the night's noon-to-noon interval (``dag.test`` takes the interval that
    ends at its logical date, as for a manual run)."""
    import yaml

    start = datetime.fromisoformat(str(yaml.safe_load(config.read_text())["start_time"]))
    night = (start - timedelta(hours=12)).date()
    end = night + timedelta(days=1)
    return night.isoformat(), datetime(end.year, end.month, end.day, 12, tzinfo=UTC)


def deliver_observation(bdms: Path, night: str) -> Path:
    """ACADA's part: the night's block into BDMS (kept if already delivered complete)."""
    from datapipe_ops.bdms.manifest import verify_dataset

    directory = bdms / "observation" / night / "crab_observation"
    if not directory.exists() or verify_dataset(directory):
        command(
            executable("datapipe"), "simulate", "observation", "-c", str(OBSERVATION_CONFIG),
            "-o", str(directory), "--duration", str(OBSERVATION_SECONDS), "-q",
        )  # fmt: skip
    return directory / "crab_observation.coefficients.h5"


def register_coefficients(path: Path) -> None:
    """CalibPipe's part: register the coefficients with the validity they carry."""
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.io import layout, open_product, tel_ids_in
    from datapipe_ops.io.coefficients import read_coefficients

    with open_product(path) as h5:
        tel_ids = tel_ids_in(h5, layout.COEFFICIENTS)
        table, valid_until = read_coefficients(h5, tel_ids[0])
    with Catalog() as catalog:
        catalog.register_calibration_set(
            path, table["time"][0].utc.isot, valid_until.utc.isot, tel_ids=tel_ids
        )


def run_dag(dag_id: str, **test_kwargs):
    """``dag.test()`` of one of the repository's DAGs; stop the demo if it fails."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags" / f"{dag_id}.py"))
    if bag.import_errors:
        sys.exit(f"demo: {dag_id} does not import: {bag.import_errors}")
    run = bag.dags[dag_id].test(**test_kwargs)
    instances = run.get_task_instances()
    failed = sorted({ti.task_id for ti in instances if ti.state == "failed"})
    if run.state != "success" or not instances:
        sys.exit(f"demo: {dag_id} run {run.run_id} ended {run.state} (failed: {failed})")
    print(f"    {dag_id}: run {run.run_id} succeeded")
    return run


def report(data_root: Path, campaign: str, level: str = "DL1") -> None:
    """The products of one level of a campaign, as the catalog has them."""
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.catalog.models import ProductQuery

    with Catalog() as catalog:
        products = [  # by place: the stages after DL1 register no campaign
            p
            for p in catalog.list_products(ProductQuery(level=level))
            if f"/products/{campaign}/" in p.path
        ]
        if not products:
            sys.exit(f"demo: no {level} product of campaign {campaign} in the catalog")
        for product in products:
            parents = catalog.lineage(product.path, depth=1).products().values()
            inputs = [
                f"model set {Path(p.path).parent.name}" if p.level == "MODEL" else Path(p.path).name
                for p in parents
                if p.path != product.path and p.level in ("DL0", "DL1", "MODEL")
            ]
            print(
                f"    {Path(product.path).relative_to(data_root)}  "
                f"{product.n_events} events, from {', '.join(inputs)}, task {product.task_id}"
            )


def report_dl3(data_root: Path) -> Path:
    """The night's DL3 products and its delivery (the outbox); returns the outbox directory."""
    from datapipe_ops.catalog import Catalog
    from datapipe_ops.catalog.models import ProductQuery

    with Catalog() as catalog:
        dl3 = [
            p
            for p in catalog.list_products(ProductQuery(level="DL3"))
            if p.kind == "events" and "/products/nightly/" in p.path
        ]
        if not dl3:
            sys.exit("demo: no DL3 product of the night in the catalog")
        for product in dl3:
            ancestors = catalog.lineage(product.path).products().values()
            levels = sorted({p.level for p in ancestors})
            model_sets = sorted({Path(p.path).parent.name for p in ancestors if p.level == "MODEL"})
            print(
                f"    {Path(product.path).relative_to(data_root)}  {product.n_events} events "
                f"(obs {product.obs_id}), lineage {'/'.join(levels)}, model set "
                f"{', '.join(model_sets)}"
            )
    manifests = sorted((data_root / "outbox" / "nightly").glob("*/*/MANIFEST.json"))
    if not manifests:
        sys.exit("demo: nothing delivered to the outbox")
    return manifests[-1].parent


def build_model_set() -> None:
    """The model set: ``model_training`` on the DL1 of the training production (fast preset).

    (Without the DAG: ``datapipe train energy gammaness disp event-type -i <merged gamma> -i
    <merged proton> -c include/config/model_training/fast.yaml``.)"""
    run_dag(
        "model_training",
        run_conf={
            "training_campaign": TRAINING_CAMPAIGN,
            "campaign": "model-training-demo",
            "preset": "fast",
        },
    )


def build_irf_set() -> None:
    """The IRF set: ``simulation_processing``'s IRF branch on the demo IRF productions, with the
    latest model set (cuts on the first node, IRFs per node, ``datapipe irf-set create``).

    (Without the DAG: per node ``dl0-to-dl1``, ``dl1-to-dl2 --model-set``, then
    ``optimize-cuts``, ``compute-irf`` per node and ``datapipe irf-set create --irf ...``.)"""
    datasets = [f"simulation/{config.stem}" for config in IRF_CONFIGS]
    run_dag(
        "simulation_processing",
        run_conf={"dataset": datasets[0], "campaign": "irf-demo", "irf_datasets": datasets},
    )


def main() -> int:
    """Run the demo; print where the products are."""
    data_root = Path(os.environ.get("DATAPIPE_DATA_ROOT", REPO / "var" / "demo")).absolute()
    env = configure(data_root)
    bdms = data_root / "bdms"

    started = step(f"Airflow metadata DB (SQLite) in {env['AIRFLOW_HOME']}")
    command(executable("airflow"), "db", "migrate")
    command(executable("airflow"), "pools", "import", str(REPO / "include/airflow/pools.json"))
    done(started)

    started = step("SimPipe delivers the demo training and IRF productions to BDMS")
    for config in [PRODUCTION_CONFIG, *IRF_CONFIGS]:
        name = "demo" if config == PRODUCTION_CONFIG else config.stem
        command(
            executable("datapipe"), "simulate", "production", "-c", str(config),
            "-o", str(bdms / "simulation" / name), "-q",
        )  # fmt: skip
    done(started)

    night, logical_date = observation_night(OBSERVATION_CONFIG)
    started = step(f"ACADA delivers the night {night}; CalibPipe registers its coefficients")
    register_coefficients(deliver_observation(bdms, night))
    done(started)

    started = step("Airflow: simulation_processing of the training production (to DL1, merged)")
    run_dag(
        "simulation_processing",
        run_conf={"dataset": "simulation/demo", "campaign": TRAINING_CAMPAIGN, "model_set": "none"},
    )
    done(started)

    started = step("Airflow: model_training (the model set)")
    build_model_set()
    done(started)

    started = step("Airflow: simulation_processing's IRF branch (zenith nodes → the IRF set)")
    build_irf_set()
    done(started)

    started = step(f"Airflow: observation_processing for the night {night}, DL0 → DL3 (dag.test)")
    run_dag("observation_processing", logical_date=logical_date, run_conf={"campaign": "nightly"})
    done(started)

    print(f"\nProducts under {data_root}/products (catalog {os.environ['DATAPIPE_CATALOG_URL']}):")
    report(data_root, TRAINING_CAMPAIGN)
    report(data_root, "nightly")
    report(data_root, "nightly", "DL2")
    outbox = report_dl3(data_root)
    print(
        f"\nDelivered (outbox, with MANIFEST.json): {outbox}"
        f"\nLineage:  DATAPIPE_DATA_ROOT={data_root} .venv/bin/datapipe catalog lineage <DL3 file>"
        f"\nModel and IRF sets:  .venv/bin/datapipe model-set list; .venv/bin/datapipe irf-set list"
        f"\nGammapy:  DataStore.from_dir('{outbox}')  (docs/dl3.md)"
        f"\nThe runs in the UI:  DATAPIPE_DATA_ROOT={data_root} "
        f"DATAPIPE_AIRFLOW_HOME={env['AIRFLOW_HOME']} make up"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
