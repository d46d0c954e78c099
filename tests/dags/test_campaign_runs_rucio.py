"""Both campaign DAGs end to end under ``dag.test()`` with the BDMS on the real Rucio test
server: SimPipe's production and ACADA's night uploaded into Rucio datasets, the sensors wait
on them, the stages read the DL0 replicas from the RSE, and the DL1 products are uploaded to the
output RSE under the campaign's scope, with their DIDs in the catalog."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest
from airflow_env import ROOT
from rucio_service import OUTPUT_RSE
from simulated_data import into_rucio, register_coefficients, simulated_night, tiny_production

from datapipe_ops.catalog import Catalog
from datapipe_ops.catalog.models import ProductQuery
from datapipe_ops.checksum import rucio_checksums

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(900)]

NIGHT = "2026-11-24"


@pytest.fixture(scope="module")
def world(tmp_path_factory, rucio_server):
    """A data root whose BDMS is Rucio: a production and a night uploaded, coefficients in
    the catalog, ``bdms_default`` the Rucio connection of DataPipe's account."""
    data = tmp_path_factory.mktemp("data")
    staging = data / "staging"  # where the stand-ins write before uploading
    catalog_url = f"sqlite:///{data / 'catalog.sqlite'}"
    tag = secrets.token_hex(3)
    backend = rucio_server.backend()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATAPIPE_DATA_ROOT", str(data))
        mp.setenv("DATAPIPE_CATALOG_URL", catalog_url)
        mp.delenv("DATAPIPE_BDMS_ROOT", raising=False)
        mp.setenv("DATAPIPE_EXECUTION_BACKEND", "local")
        mp.setenv("AIRFLOW_CONN_BDMS_DEFAULT", json.dumps(rucio_server.connection()))
        name = tiny_production(staging)
        production = into_rucio(backend, staging / name, f"simpipe:{name}")
        coefficients = simulated_night(staging, NIGHT)
        night = f"acada:observation-{tag}/{NIGHT}"
        block = staging / "observation" / NIGHT / "block1"
        into_rucio(backend, block, f"{night}/block1", container=night)
        register_coefficients(catalog_url, coefficients)
        campaigns = {kind: rucio_server.add_scope(f"{kind}-{tag}") for kind in ("sim", "night")}
        yield {
            "data": data,
            "catalog": catalog_url,
            "production": production,
            "prefix": f"acada:observation-{tag}",
            "campaigns": campaigns,
            "server": rucio_server,
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


def products(world, campaign: str):
    with Catalog(world["catalog"]) as catalog:
        found = catalog.list_products(ProductQuery(level="DL1", campaign=campaign))
        return [(p, {q.path for q in catalog.lineage(p.path).products().values()}) for p in found]


def delivered(world, campaign: str) -> dict:
    """The campaign's product dataset in Rucio: its files by DID."""
    backend = world["server"].backend(rses=OUTPUT_RSE)
    status = backend.status(backend.product_dataset(campaign))
    assert status.exists and not status.problems, status.describe()
    return {f.did: f for f in status.files}


def test_simulation_processing_from_rucio_to_rucio(airflow_db, world):
    campaign = world["campaigns"]["sim"]
    run = load("simulation_processing").test(
        run_conf={
            "dataset": world["production"],
            "campaign": campaign,
            "version": "v1",
            "wait_timeout_hours": 0.05,
            "model_set": "none",  # no model set in this catalog: DL1 and the geometry only
        }
    )
    states = task_states(run)
    assert run.state == "success", states
    assert states["dl0_to_dl1"] == ["success", "success"]
    assert states["deliver_products"] == ["success"]
    registered = products(world, campaign)
    assert len(registered) == 2
    in_rucio = delivered(world, campaign)
    rse_root = str(world["server"].rse_root)
    for product, ancestors in registered:
        # read from the DL0 replicas on the input RSE, delivered to the output RSE
        assert any(a.startswith(rse_root) and a.endswith(".dl0.h5") for a in ancestors)
        name = product.path.split("/products/", 1)[1]
        assert product.bdms_did == f"{campaign}:{name}"
        assert in_rucio[product.bdms_did].checksums == rucio_checksums(product.path)
        assert in_rucio[product.bdms_did].level == "DL1"


def test_observation_processing_from_rucio_to_rucio(airflow_db, world):
    campaign = world["campaigns"]["night"]
    run = load("observation_processing").test(
        logical_date=datetime(2026, 11, 25, 12, tzinfo=UTC),
        run_conf={
            "campaign": campaign,
            "version": "v1",
            "bdms_prefix": world["prefix"],
            "wait_timeout_hours": 0.05,
        },
    )
    states = task_states(run)
    assert run.state == "success", states
    ((product, ancestors),) = products(world, campaign)
    assert product.obs_id == 30001
    assert product.path.endswith(f"/{campaign}/v1/{NIGHT}/dl1/block1.dl1.h5")
    assert any(a.endswith("block1.dl0.h5") for a in ancestors)
    assert product.bdms_did == f"{campaign}:{campaign}/v1/{NIGHT}/dl1/block1.dl1.h5"
    in_rucio = delivered(world, campaign)
    assert in_rucio[product.bdms_did].checksums == rucio_checksums(product.path)
    assert in_rucio[product.bdms_did].meta == {"obs_id": 30001}
