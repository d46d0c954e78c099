"""Both campaign DAGs end to end under ``dag.test()`` (SQLite metadata DB, local backend) on the
smallest inputs that exercise them: a 2-file production and a night of one observation block.
The products must exist, be registered with the DAG run, and have lineage back to DL0."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from airflow_env import ROOT
from simulated_data import register_coefficients, simulated_night, tiny_production

from datapipe_ops.catalog import Catalog

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

NIGHT = "2026-11-24"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data root with a production and a night in BDMS, coefficients in the catalog."""
    data = tmp_path_factory.mktemp("data")
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", catalog_url)
        mp.delenv("DATAPIPE_BDMS_ROOT", raising=False)
        mp.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
        bdms = data / "bdms"
        production = tiny_production(bdms)
        register_coefficients(catalog_url, simulated_night(bdms, NIGHT))
        yield {"data": data, "catalog": catalog_url, "production": production}


def load(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    return bag.dags[dag_id]


def task_states(run) -> dict[str, list[str]]:
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return states


def registered(catalog_url: str, level: str, campaign: str):
    with Catalog(catalog_url) as catalog:
        return catalog.list_products(catalog_query(level=level, campaign=campaign))


def catalog_query(**criteria):
    from datapipe_ops.catalog.models import ProductQuery

    return ProductQuery(**criteria)


def lineage_paths(catalog_url: str, path: str) -> set[str]:
    with Catalog(catalog_url) as catalog:
        tree = catalog.lineage(path)
    return {p.path for p in tree.products().values()}


@pytest.mark.requirement("DPPS-DP-R-021", "DPPS-DP-R-130")
def test_simulation_processing_end_to_end(airflow_db, world):
    dag = load("simulation_processing")
    run = dag.test(
        run_conf={
            "dataset": world["production"],
            "campaign": "sim-e2e",
            "version": "v1",
            "wait_timeout_hours": 0.05,  # a test that fails must not wait for hours
            "model_set": "none",  # no model set in this catalog: DL1 and the geometry only
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    assert states["dl0_to_dl1"] == ["success", "success"]  # one mapped task per DL0 file

    dl1_dir = world["data"] / "products" / "sim-e2e" / "v1" / "dl1"
    outputs = sorted(dl1_dir.glob("*.dl1.h5"))
    assert [p.name for p in outputs] == [
        "gamma_diffuse_run001001.dl1.h5",
        "gamma_diffuse_run001002.dl1.h5",
    ]
    products = {p.path: p for p in registered(world["catalog"], "DL1", "sim-e2e")}
    assert set(products) == {str(p) for p in outputs}
    for path, product in products.items():
        assert product.dag_id == "simulation_processing"
        assert product.run_id == run.run_id
        assert product.task_id == "dl0_to_dl1"
        ancestors = lineage_paths(world["catalog"], path)
        dl0 = world["data"] / "bdms" / world["production"] / Path(path).name.replace("dl1", "dl0")
        assert str(dl0) in ancestors


@pytest.mark.requirement("DPPS-DP-R-136")
def test_grouped_small_files_give_the_products_of_one_task_per_file(airflow_db, world, tmp_path):
    from datapipe_ops.calib.stage import dl0_to_dl1

    dag = load("simulation_processing")
    run = dag.test(
        run_conf={
            "dataset": world["production"],
            "campaign": "sim-grouped",
            "version": "v1",
            "wait_timeout_hours": 0.05,
            "group_small_files_mb": 1000,
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    assert states["dl0_to_dl1"] == ["success"]  # both files in one task
    products = {p.path: p for p in registered(world["catalog"], "DL1", "sim-grouped")}
    assert len(products) == 2
    bdms = world["data"] / "bdms" / world["production"]
    for path, product in products.items():
        assert product.task_id == "dl0_to_dl1" and product.run_id == run.run_id
        dl0 = bdms / Path(path).name.replace("dl1", "dl0")
        assert str(dl0) in lineage_paths(world["catalog"], path)
        alone = tmp_path / Path(path).name  # what a task of its own writes
        coefficients = next(bdms.glob(dl0.name.replace(".dl0.h5", "*coefficients*")))
        dl0_to_dl1(dl0, alone, coefficients, register=False)
        assert _contents(Path(path)) == _contents(alone)


def _contents(path: Path) -> dict:
    """Every dataset's bytes of a product, its provenance left out."""
    import h5py

    found = {}
    with h5py.File(path) as h5:
        h5.visititems(
            lambda name, node: (
                found.__setitem__(name, node[()].tobytes())
                if isinstance(node, h5py.Dataset) and not name.startswith("provenance")
                else None
            )
        )
    return found


@pytest.mark.requirement("DPPS-DP-R-021", "DPPS-DP-R-131")
def test_observation_processing_end_to_end(airflow_db, world):
    dag = load("observation_processing")
    # a run at noon on the 25th covers the interval from noon on the 24th: the night of the 24th
    run = dag.test(
        logical_date=datetime(2026, 11, 25, 12, tzinfo=UTC),
        run_conf={"campaign": "nightly-e2e", "version": "v1", "wait_timeout_hours": 0.05},
    )
    states = task_states(run)
    assert run.state == "success", states
    # no model set registered in this world: the night stops at DL1, DL2/DL3 skipped
    assert states["resolve_sets"] == ["skipped"] and states["publish"] == ["skipped"]
    out = world["data"] / "products" / "nightly-e2e" / "v1" / NIGHT / "dl1" / "block1.dl1.h5"
    assert out.exists()
    (product,) = registered(world["catalog"], "DL1", "nightly-e2e")  # after its quality task
    assert product.path == str(out)
    assert product.obs_id == 30001
    assert product.dag_id == "observation_processing" and product.run_id == run.run_id
    assert product.task_id == "dl0_to_dl1"
    dl0 = world["data"] / "bdms" / "observation" / NIGHT / "block1" / "block1.dl0.h5"
    assert str(dl0) in lineage_paths(world["catalog"], str(out))
    # the DL1 quality task ran: its report beside the product, metrics and flag in the catalog
    assert states["quality_dl1"] == ["success"]
    assert out.with_name("block1.dl1.quality.json").exists()
    with Catalog(world["catalog"]) as catalog:
        assert product.quality_flag is not None
        assert {"trigger_rate_variability", "valid_image_fraction"} <= {
            m.name for m in catalog.quality_metrics(product)
        }
