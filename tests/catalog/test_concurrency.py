"""Several processes registering at once: no lost rows, no errors, one row per path."""

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog, ProductRecord, head_revision
from datapipe_ops.cli.main import main
from testkit.postgres import register_many

pytestmark = pytest.mark.requirement("DPPS-DP-R-022")

N_PROCESSES = 4
N_PER_PROCESS = 50


def count(catalog, sql):
    with catalog.engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar()


@pytest.mark.slow
def test_concurrent_registration_loses_nothing(catalog_url):
    with Catalog(catalog_url) as catalog:
        parent = "/conc/parent.dl0.h5"
        parent_id = catalog.register_product(ProductRecord(path=parent, level="DL0"))
    shared = "/conc/shared.dl1.h5"
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(N_PROCESSES)
        with ProcessPoolExecutor(N_PROCESSES, mp_context=context) as pool:
            futures = [
                pool.submit(
                    register_many,
                    catalog_url,
                    [f"/conc/w{w}_{i:03d}.dl1.h5" for i in range(N_PER_PROCESS)],
                    "DL1",
                    [parent],
                    shared,
                    start,
                )
                for w in range(N_PROCESSES)
            ]
            results = [f.result(timeout=300) for f in futures]  # re-raises any worker error
    ids = [i for result in results for i in result]
    assert len(ids) == len(set(ids)) == N_PROCESSES * N_PER_PROCESS
    with Catalog(catalog_url) as catalog:
        assert count(catalog, "SELECT count(*) FROM products") == N_PROCESSES * N_PER_PROCESS + 2
        assert count(catalog, f"SELECT count(*) FROM products WHERE path = '{shared}'") == 1
        assert count(catalog, "SELECT count(*) FROM lineage") == N_PROCESSES * N_PER_PROCESS + 1
        outputs = catalog.descendants(parent_id, depth=1).outputs
        assert len(outputs) == N_PROCESSES * N_PER_PROCESS + 1
        assert catalog.get_product(shared).n_events == N_PER_PROCESS - 1


@pytest.mark.slow
def test_concurrent_first_use_migrates_once(catalog_url):
    context = multiprocessing.get_context("spawn")
    command = ["catalog", "init", "--catalog", catalog_url]
    with ProcessPoolExecutor(N_PROCESSES, mp_context=context) as pool:
        exit_codes = list(pool.map(main, [command] * N_PROCESSES, timeout=300))
    assert exit_codes == [0] * N_PROCESSES
    with Catalog(catalog_url) as catalog:
        assert count(catalog, "SELECT count(*) FROM alembic_version") == 1
        assert catalog.schema_version() == head_revision()


N_WRITERS = 8
N_PER_WRITER = 200


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_eight_writers_lose_and_duplicate_nothing(catalog_url):
    """The catalog-load check at a test's size (benchmarks/catalog_load.py: 8 × 2,000)."""
    parent = "/load/parent.dl0.h5"
    with Catalog(catalog_url) as catalog:
        catalog.register_product(ProductRecord(path=parent, level="DL0"))
    paths = [[f"/load/w{w}/p{i:04d}.dl1.h5" for i in range(N_PER_WRITER)] for w in range(N_WRITERS)]
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(N_WRITERS)
        with ProcessPoolExecutor(N_WRITERS, mp_context=context) as pool:
            futures = [
                pool.submit(register_many, catalog_url, mine, "DL1", [parent], None, start)
                for mine in paths
            ]
            ids = [f.result(timeout=500) for f in futures]
    returned = {
        p: i
        for mine, theirs in zip(paths, ids, strict=True)
        for p, i in zip(mine, theirs, strict=True)
    }
    with Catalog(catalog_url) as catalog, catalog.engine.connect() as connection:
        stored = dict(connection.execute(sa.text("SELECT path, id FROM products")).all())
        links = connection.execute(
            sa.text("SELECT product_id, input_product_id FROM lineage")
        ).all()
    parent_id = stored.pop(parent)
    assert stored == returned  # every registration stored once, under the id it returned
    assert len(set(returned.values())) == N_WRITERS * N_PER_WRITER
    assert sorted(links) == sorted((i, parent_id) for i in returned.values())
