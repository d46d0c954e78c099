"""The nightly DAG from DL0 to the delivered DL3 under ``dag.test()``: a night of two Crab
blocks near culmination, a small model set and IRF set (nodes at 0 and 20 deg) in the catalog.

The DL3 directory and the outbox must open with gammapy, the lineage must run DL3 → DL2 → DL1
→ DL0 and to the model set and IRF set, the outbox must match its manifest, a block whose DL2
is flagged bad must be held back (and delivered with ``force_delivery``), and a run with
another model set into the same version must be refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from airflow_env import ROOT
from simulated_data import register_coefficients, simulated_night

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductQuery
from datapipe_ops.checksum import sha256_file

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

NIGHT = "2026-11-24"
LOGICAL_DATE = datetime(2026, 11, 25, 12, tzinfo=UTC)
CAMPAIGN = "nightly-dl3"


@pytest.fixture(scope="module")
def world(small_sets):
    """The sets' data root with the night's two blocks in BDMS, coefficients registered."""
    data = small_sets["data"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", small_sets["catalog"])
        mp.delenv("DATAPIPE_BDMS_ROOT", raising=False)
        mp.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
        coefficients = simulated_night(
            data / "bdms", NIGHT, n_blocks=2, duration_s=10.0, start_hour=26
        )
        register_coefficients(small_sets["catalog"], coefficients)
        yield small_sets


def run_night(**conf):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "observation_processing.py"))
    assert bag.import_errors == {}
    conf = {"campaign": CAMPAIGN, "version": "v1", "wait_timeout_hours": 0.05, **conf}
    run = bag.dags["observation_processing"].test(logical_date=LOGICAL_DATE, run_conf=conf)
    states: dict[str, list[str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, []).append(str(ti.state))
    return run, states


def run_rerun(**conf):
    """The night again into the same version: everything runs as before but the DL1 delivery
    to BDMS, which refuses the re-made DL1 files (not byte-identical: their provenance
    differs) under the names of the delivered ones, so the run ends failed there alone."""
    run, states = run_night(**conf)
    others = {task: set(s) for task, s in states.items() if task != "deliver_products"}
    assert all(s <= {"success", "skipped"} for s in others.values()), states
    assert states["deliver_products"] == ["failed"] and run.state == "failed"
    return run, states


def night_dir(world, version: str = "v1") -> Path:
    return world["data"] / "products" / CAMPAIGN / version / NIGHT


def outbox(world, version: str = "v1") -> Path:
    return world["data"] / "outbox" / CAMPAIGN / version / NIGHT


def gammapy_problems(directory: Path) -> list[dict]:
    """gammapy's data-store checks but the event-list column check (gammapy 2.1 reads
    ``.unit`` of its own Time column and raises; tests/dl3 checks the columns itself)."""
    from gammapy.data import DataStore
    from gammapy.data.event_list import EventListChecker
    from gammapy.data.observations import ObservationChecker

    store = DataStore.from_dir(directory)
    records = list(store.check(checks=["obs_table", "hdu_table", "consistency"]))
    for obs in store.get_observations():
        records += ObservationChecker(obs).run(checks=["gti", "aeff", "edisp", "psf"])
        records += EventListChecker(obs.events).run(checks=["meta", "times"])
    return [r for r in records if r["level"] in ("error", "warning")]


def asset_extras(run_id: str) -> dict[str, dict]:
    """The asset events the run emitted: {asset name: extra}."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        rows = session.execute(
            select(AssetModel.name, AssetEvent.extra)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetEvent.source_run_id == run_id)
        ).all()
    return {name: extra for name, extra in rows}


@pytest.mark.requirement("DPPS-DP-R-132")
def test_the_night_reaches_dl3_and_is_delivered(airflow_db, world):
    run, states = run_night()
    assert run.state == "success", states
    for task_id in ("dl1_to_dl2", "observation_irf", "dl2_to_dl3"):
        assert states[task_id] == ["success", "success"], task_id  # one task per block
    assert states["deliver_dl3"] == ["success"] and states["publish"] == ["success"]

    dl3_dir = night_dir(world) / "dl3"
    dl3 = sorted(dl3_dir.glob("*.dl3.fits.gz"))
    assert [p.name for p in dl3] == ["block1.dl3.fits.gz", "block2.dl3.fits.gz"]
    assert gammapy_problems(dl3_dir) == []
    stamp = json.loads((night_dir(world) / "SETS.json").read_text())
    assert stamp == {
        "model_set_id": world["model_set_id"],
        "irf_set_id": world["irf_set_id"],
        "irf_method": "interpolated",
    }

    # lineage: DL3 → DL2 → DL1 → DL0, the model set, the IRF set's nodes and cuts
    irf_set = json.loads(
        (world["data"] / "irf_sets" / world["irf_set_id"] / "irf_set.json").read_text()
    )
    with Catalog(world["catalog"]) as catalog:
        products = catalog.list_products(ProductQuery(level="DL3"))
        events = sorted(p.path for p in products if p.kind == "events" and CAMPAIGN in p.path)
        assert events == [str(p) for p in dl3]
        for path in events:
            product = catalog.get_product(path)
            assert product.dag_id == "observation_processing" and product.run_id == run.run_id
            assert product.task_id == "dl2_to_dl3"
            ancestors = {p.path: p for p in catalog.lineage(path).products().values()}
            stem = Path(path).name.removesuffix(".dl3.fits.gz")
            levels = {p.level for p in ancestors.values()}
            assert {"DL2", "DL1", "DL0", "MODEL", "IRF"} <= levels
            assert str(night_dir(world) / "dl2" / f"{stem}.dl2.h5") in ancestors
            assert str(night_dir(world) / "dl1" / f"{stem}.dl1.h5") in ancestors
            dl0 = world["data"] / "bdms" / "observation" / NIGHT / stem / f"{stem}.dl0.h5"
            assert str(dl0) in ancestors
            model_card = [p for p in ancestors if p.endswith("card.json")]
            assert [Path(p).parent.name for p in model_card] == [world["model_set_id"]]
            assert {n["path"] for n in irf_set["nodes"]} <= set(ancestors)
            assert irf_set["cuts"]["path"] in ancestors
        # the delivery: recorded, descending from the event lists, the model set, the IRF set
        manifest_path = outbox(world) / "MANIFEST.json"
        delivery = catalog.get_product(manifest_path)
        assert delivery.kind == "delivery" and delivery.campaign == CAMPAIGN
        assert delivery.run_id == run.run_id and delivery.task_id == "deliver_dl3"
        inputs = {p.path for p in catalog.lineage(manifest_path, depth=1).products().values()}
        irf_set_json = str(world["data"] / "irf_sets" / world["irf_set_id"] / "irf_set.json")
        assert set(events) | {irf_set_json} <= inputs
        assert any(p.endswith(f"{world['model_set_id']}/card.json") for p in inputs)

    # the outbox: the event lists and their index files, as the manifest says
    manifest = json.loads(manifest_path.read_text())
    assert manifest["campaign"] == CAMPAIGN and manifest["version"] == "v1"
    assert manifest["night"] == NIGHT and manifest["obs_ids"] == [30001, 30002]
    assert manifest["model_set_id"] == world["model_set_id"]
    assert manifest["irf_set_id"] == world["irf_set_id"]
    names = sorted(p.name for p in outbox(world).iterdir())
    assert names == sorted(["MANIFEST.json", *(e["name"] for e in manifest["files"])])
    assert {"block1.dl3.fits.gz", "hdu-index.fits.gz", "obs-index.fits.gz"} <= set(names)
    for entry in manifest["files"]:
        assert sha256_file(outbox(world) / entry["name"]) == entry["sha256"]
    for entry in manifest["files"][:2]:  # the event lists are the night's files, unchanged
        assert entry["sha256"] == sha256_file(dl3_dir / entry["name"])
    assert gammapy_problems(outbox(world)) == []

    extras = asset_extras(run.run_id)
    common = {"campaign": CAMPAIGN, "version": "v1", "night": NIGHT}
    assert extras["datapipe-dl2"] == {**common, "n_products": 2}
    assert extras["datapipe-dl3"] == {
        **common, "n_products": 2, "n_delivered": 2, "n_held_back": 0,
    }  # fmt: skip


@pytest.mark.requirement("DPPS-DP-R-102")
def test_a_bad_observation_is_held_back_unless_forced(airflow_db, world, capsys):
    dl2 = night_dir(world) / "dl2" / "block2.dl2.h5"
    if not dl2.exists():
        pytest.skip("needs the night of the previous test")
    with Catalog(world["catalog"]) as catalog:
        catalog.record_quality_metric(dl2, "valid_geometry_fraction", 0.01, flag="bad")
        catalog.set_quality_flag(dl2, "bad")

    run, _ = run_rerun()
    log = capsys.readouterr().out
    assert "HELD BACK observation 30002" in log and "valid_geometry_fraction = 0.01" in log
    manifest = json.loads((outbox(world) / "MANIFEST.json").read_text())
    assert manifest["obs_ids"] == [30001]
    assert not (outbox(world) / "block2.dl3.fits.gz").exists()
    assert gammapy_problems(outbox(world)) == []  # the index files list what is there
    from astropy.table import Table

    obs_index = Table.read(outbox(world) / "obs-index.fits.gz")
    assert np.asarray(obs_index["OBS_ID"]).tolist() == [30001]
    assert asset_extras(run.run_id)["datapipe-dl3"]["n_held_back"] == 1

    run_rerun(force_delivery=True)
    assert "DELIVERED DESPITE FLAG (force_delivery) observation 30002" in capsys.readouterr().out
    manifest = json.loads((outbox(world) / "MANIFEST.json").read_text())
    assert manifest["obs_ids"] == [30001, 30002]
    assert (outbox(world) / "block2.dl3.fits.gz").exists()


@pytest.mark.requirement("DPPS-DP-R-132")
def test_another_model_set_into_the_same_version_is_refused(airflow_db, world):
    stamp = night_dir(world) / "SETS.json"
    if not stamp.exists():
        pytest.skip("needs the night of the first test")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in (night_dir(world) / "dl2").iterdir())
    data = json.loads(stamp.read_text())
    stamp.write_text(json.dumps({**data, "model_set_id": "0000000000000000"}))
    try:
        run, states = run_night()
    finally:
        stamp.write_text(json.dumps(data))
    assert run.state == "failed"
    assert states["plan_dl3"] == ["failed"]
    assert "dl1_to_dl2" not in states or set(states["dl1_to_dl2"]) <= {"upstream_failed"}
    after = sorted((p.name, p.stat().st_mtime_ns) for p in (night_dir(world) / "dl2").iterdir())
    assert after == before
