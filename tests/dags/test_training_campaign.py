"""The simulation side after DL1 end to end under ``dag.test()``: a training production to the
geometry (no model set yet), ``model_training`` on that campaign, then ``simulation_processing``
with the new model set to DL2 and its IRF branch on two zenith productions to an IRF set. The
products must be registered with their lineage (DL2 → DL1 → DL0 and → the model set), and the
asset events carry their documented extras."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow_env import ROOT
from simulated_data import small_production

from datapipe_ops.catalog import Catalog, ProductQuery

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

CAMPAIGN = "sim-train-e2e"
IRF_CAMPAIGN = "sim-irf-e2e"
TRAINING = {"gamma_diffuse": 3000, "proton": 9000}
IRF_NODE = {"gamma_diffuse": 3000, "proton": 6000}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A data root with a training production and two zenith productions in BDMS."""
    data = tmp_path_factory.mktemp("data")
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", catalog_url)
        mp.delenv("DATAPIPE_BDMS_ROOT", raising=False)
        mp.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
        bdms = data / "bdms"
        irf_config = data / "irf.yaml"
        irf_config.write_text(
            "cuts:\n  method: efficiency\n  min_events: 3\n  min_gamma_events_valid: 3\n"
            "sensitivity:\n  min_signal_events: 1.0\n  min_significance: 1.0\n"
        )
        yield {
            "data": data,
            "catalog": catalog_url,
            "training": small_production(bdms, "train", TRAINING),
            "gammas": small_production(bdms, "gammas", {"gamma_diffuse": 1000}),
            "irf": [
                small_production(bdms, f"irf_zd{z}", IRF_NODE, zenith_deg=float(z))
                for z in (20, 40)
            ],
            "irf_config": str(irf_config),
        }


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


def _asset_extras(run, task_id: str) -> list[dict]:
    """The extras of the asset events ``task_id`` emitted in ``run``."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = (
            session.query(AssetEvent)
            .filter(AssetEvent.source_run_id == run.run_id, AssetEvent.source_task_id == task_id)
            .all()
        )
        return [dict(e.extra) for e in events]


def _products(catalog_url: str, run_id: str, **criteria):
    with Catalog(catalog_url) as catalog:
        products = catalog.list_products(ProductQuery(**criteria))
    return [p for p in products if p.run_id == run_id]


def _ancestors(catalog_url: str, path: str) -> dict[str, str]:
    with Catalog(catalog_url) as catalog:
        tree = catalog.lineage(path)
    return {p.path: p.level for p in tree.products().values()}


@pytest.mark.requirement("DPPS-DP-R-053")
def test_1_training_production_stops_at_the_geometry(airflow_db, world):
    run = load("simulation_processing").test(
        run_conf={
            "dataset": world["training"],
            "campaign": CAMPAIGN,
            "version": "v1",
            "model_set": "none",
            "wait_timeout_hours": 0.05,
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    assert states["dl0_to_dl1"] == ["success", "success"]
    assert states["geometry"] == ["success", "success"]  # one task per DL1 file
    assert states["merge"] == ["success", "success"]  # one task per particle
    assert states["dl1_to_dl2"] == ["skipped"] and states["publish_dl2"] == ["skipped"]
    assert states["wait_for_irf_productions"] == ["skipped"]  # no IRF branch
    assert states["publish_irf_set"] == ["skipped"]
    version = world["data"] / "products" / CAMPAIGN / "v1"
    merged = sorted(p.name for p in (version / "merged").glob("*.dl2.h5"))
    assert merged == ["gamma.geometry.dl2.h5", "proton.geometry.dl2.h5"]
    assert not (version / "dl2").exists()
    (extra,) = _asset_extras(run, "publish_dl1")
    assert extra == {"campaign": CAMPAIGN, "version": "v1", "n_products": 2}


@pytest.mark.requirement("DPPS-DP-R-066")
def test_2_model_training_publishes_one_model_set(airflow_db, world):
    run = load("model_training").test(
        run_conf={
            "campaign": "training-e2e",
            "version": "v1",
            "training_campaign": CAMPAIGN,
            "preset": "fast",
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    assert states["train"] == ["success"] * 3  # energy, gammaness, disp in parallel
    assert states["train_event_type"] == ["success"]
    (extra,) = _asset_extras(run, "publish_model_set")
    assert extra["campaign"] == "training-e2e"
    model_set_id = extra["model_set_id"]
    card_path = world["data"] / "models" / model_set_id / "card.json"
    card = json.loads(card_path.read_text())
    assert card["kinds"] == ["energy", "gammaness", "disp", "event_type"]
    (product,) = _products(world["catalog"], run.run_id, level="MODEL", kind="model_set")
    assert product.path == str(card_path) and product.task_id == "assemble_model_set"
    levels = _ancestors(world["catalog"], str(card_path))
    training = world["data"] / "products" / "training-e2e" / "v1" / "merged"
    assert levels[str(training / "gamma.geometry.dl2.h5")] == "DL2"
    assert levels[str(training / "proton.dl1.h5")] == "DL1"
    assert sum(level == "DL0" for level in levels.values()) == 2  # back to the DL0 runs
    world["model_set_id"] = model_set_id


@pytest.mark.requirement("DPPS-DP-R-053")
def test_3_dl2_with_the_latest_model_set_and_the_irf_set(airflow_db, world):
    run = load("simulation_processing").test(
        run_conf={
            "dataset": world["gammas"],
            "campaign": IRF_CAMPAIGN,
            "version": "v1",
            "irf_datasets": world["irf"],
            "irf_config": world["irf_config"],
            "wait_timeout_hours": 0.05,
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    model_set_id = world["model_set_id"]
    assert states["dl1_to_dl2"] == ["success"]
    assert states["irf_dl1_to_dl2"] == ["success"] * 4  # 2 nodes × (gamma, proton)
    assert states["compute_irf"] == ["success", "success"]

    card = str(world["data"] / "models" / model_set_id / "card.json")
    dl2 = [p for p in _products(world["catalog"], run.run_id, level="DL2") if "/dl2/" in p.path]
    assert len(dl2) == 1 + 4  # the production's file and the IRF productions' files
    for product in dl2:
        assert product.task_id in ("dl1_to_dl2", "irf_dl1_to_dl2")
        levels = _ancestors(world["catalog"], product.path)
        assert card in levels  # → the model set
        assert any(p.endswith(".dl0.h5") and lv == "DL0" for p, lv in levels.items())  # → DL0
    (dl2_extra,) = _asset_extras(run, "publish_dl2")
    assert dl2_extra == {"campaign": IRF_CAMPAIGN, "version": "v1", "n_products": 1}

    (extra,) = _asset_extras(run, "publish_irf_set")
    assert extra["campaign"] == IRF_CAMPAIGN and extra["model_set_id"] == model_set_id
    from datapipe_ops.irf.irf_set import resolve_irf_set

    irf_set = resolve_irf_set(extra["irf_set_id"], world["catalog"])
    assert irf_set.model_set_id == model_set_id and irf_set.zeniths == [20.0, 40.0]
    levels = _ancestors(world["catalog"], str(irf_set.manifest))
    assert str(irf_set.cuts) in levels and all(str(p) in levels for p in irf_set.irf_paths)
    assert card in levels
    irf_dir = world["data"] / "products" / IRF_CAMPAIGN / "v1" / "irf"
    assert (irf_dir / "irf_zd20" / "sensitivity.fits").exists()
    assert Path(irf_set.cuts) == irf_dir / "cuts.fits"
