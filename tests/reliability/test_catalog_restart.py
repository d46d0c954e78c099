"""A PostgreSQL catalog stopped, started and restarted under a process that keeps registering:
every registration lands exactly once, the process never fails."""

import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog, ProductRecord
from datapipe_ops.errors import CatalogError

pytestmark = [
    pytest.mark.requirement("DPPS-DP-R-024"),
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(300),
]

N = 300
WRITER = """
import sys
from datapipe_ops.catalog import Catalog, ProductRecord
from testkit.postgres import register_many

url, n = sys.argv[1], int(sys.argv[2])
with Catalog(url) as catalog:
    catalog.register_product(ProductRecord(path="/restart/parent.dl0.h5", level="DL0"))
ids = register_many(url, [f"/restart/p{i:04d}.dl1.h5" for i in range(n)], "DL1",
                    ["/restart/parent.dl0.h5"], shared="/restart/shared.dl1.h5")
print(len(ids), len(set(ids)))
"""


def rows(url: str, sql: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return connection.execute(sa.text(sql)).scalar()
    except (sa.exc.OperationalError, sa.exc.ProgrammingError):  # down, or not yet migrated
        return -1
    finally:
        engine.dispose()


def wait_for_rows(url: str, at_least: int, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = rows(url, "SELECT count(*) FROM products")
        if n >= at_least:
            return n
        time.sleep(0.1)
    pytest.fail(f"fewer than {at_least} products registered within {timeout} s")


def test_registrations_survive_a_stop_and_a_restart_of_the_server(postgres_of_our_own):
    server = postgres_of_our_own
    url = server.create_database("catalog_restart")
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(N)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        at_stop = wait_for_rows(url, 50)
        server.stop()
        time.sleep(3)  # down: the writer's transactions are refused and run again
        server.start()
        server.wait_accepting()
        at_restart = wait_for_rows(url, at_stop + 50)
        server.restart()
        out, err = writer.communicate(timeout=240)
    finally:
        writer.kill()
    assert writer.returncode == 0, err[-3000:]
    assert at_restart < N + 2  # the restart came while registrations were still going on
    assert out.split() == [str(N), str(N)]
    assert rows(url, "SELECT count(*) FROM products") == N + 2
    assert rows(url, "SELECT count(DISTINCT path) FROM products") == N + 2
    assert rows(url, "SELECT count(*) FROM lineage") == N + 1  # each product's link, once
    shared = "SELECT n_events FROM products WHERE path = '/restart/shared.dl1.h5'"
    assert rows(url, shared) == N - 1  # the last re-registration's value


def test_a_new_catalog_waits_for_a_server_this_process_reached(postgres_of_our_own):
    """A stage checks the catalog before its work and registers through another Catalog after
    it: when the server is down then, the new Catalog's first call waits for it; a database
    never reached fails at once."""
    server = postgres_of_our_own
    url = server.create_database("catalog_reached")
    with Catalog(url) as first:
        first.list_campaigns()
    server.stop()
    starting = threading.Timer(2.0, server.start)
    starting.start()
    try:
        with Catalog(url) as second:  # refused until the server is back
            second.register_product(ProductRecord(path="/reached/a.dl1.h5", level="DL1"))
    finally:
        starting.join()
    with Catalog(url) as third:
        assert [p.path for p in third.list_products()] == ["/reached/a.dl1.h5"]
    never = url.replace("/catalog_reached", "/catalog_never")
    begin = time.monotonic()
    with pytest.raises(CatalogError, match="does not exist"):
        Catalog(never).list_campaigns()
    assert time.monotonic() - begin < 10
