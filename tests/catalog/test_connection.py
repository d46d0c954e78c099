"""Lost and refused PostgreSQL connections: waited for once the catalog was reached, at once an
error before that."""

import threading
import time

import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog, ProductRecord
from datapipe_ops.catalog.connection import is_disconnect, read_transaction, write_transaction
from datapipe_ops.errors import CatalogError

pytestmark = [pytest.mark.postgres, pytest.mark.requirement("DPPS-DP-R-024")]


@pytest.fixture
def pg_catalog(postgres_server):
    from testkit.postgres import temporary_postgres_schema

    from .conftest import SESSION_PREFIX

    with (
        temporary_postgres_schema(postgres_server, prefix=SESSION_PREFIX) as url,
        Catalog(url) as catalog,
    ):
        yield catalog


def terminate_later(server: str, pid: int, after_s: float) -> threading.Thread:
    """Terminate backend ``pid`` (as an administrator or a server restart would) after a while."""

    def run() -> None:
        time.sleep(after_s)
        engine = sa.create_engine(server)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        engine.dispose()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_transaction_cut_by_a_lost_connection_runs_again(pg_catalog, postgres_server):
    runs: list[int] = []
    killer: list[threading.Thread] = []

    def work(connection):
        pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
        runs.append(pid)
        if len(runs) == 1:
            killer.append(terminate_later(postgres_server, pid, 0.5))
            connection.execute(sa.text("SELECT pg_sleep(5)"))
        connection.execute(sa.text("CREATE TABLE IF NOT EXISTS cut (n int)"))
        connection.execute(sa.text("INSERT INTO cut VALUES (1)"))
        return pid

    last = write_transaction(pg_catalog.engine, work, reconnect_s=30)
    killer[0].join()
    assert len(runs) == 2 and runs[0] != last  # the first connection died, a new one finished
    rows = read_transaction(
        pg_catalog.engine, lambda c: c.scalar(sa.text("SELECT count(*) FROM cut"))
    )
    assert rows == 1


def test_without_a_reconnect_window_a_lost_connection_is_a_catalog_error(
    pg_catalog, postgres_server
):
    def work(connection):
        pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
        terminate_later(postgres_server, pid, 0.3)
        connection.execute(sa.text("SELECT pg_sleep(5)"))

    with pytest.raises(CatalogError, match="catalog database error"):
        write_transaction(pg_catalog.engine, work)


def test_registration_after_the_pooled_connections_were_dropped(pg_catalog, postgres_server):
    first = pg_catalog.register_product(ProductRecord(path="/r/a.dl1.h5", level="DL1"))
    with pg_catalog.engine.connect() as connection:
        pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
    terminate_later(postgres_server, pid, 0).join()
    again = pg_catalog.register_product(ProductRecord(path="/r/a.dl1.h5", level="DL1", n_events=3))
    assert again == first and pg_catalog.count_products() == 1


def test_an_unreachable_server_fails_at_once():
    start = time.monotonic()
    with pytest.raises(CatalogError, match="Connection refused"):
        Catalog("postgresql+psycopg2://postgres@127.0.0.1:1/x").list_campaigns()
    assert time.monotonic() - start < 10


def test_only_connection_errors_count_as_disconnects(pg_catalog):
    with pytest.raises(sa.exc.DBAPIError) as refused:
        sa.create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/x").connect()
    assert is_disconnect(refused.value)
    with pytest.raises(sa.exc.DBAPIError) as syntax:
        read_transaction(pg_catalog.engine, lambda c: c.execute(sa.text("SELEC 1")))
    assert not is_disconnect(syntax.value)
    with pytest.raises(sa.exc.DBAPIError) as missing:
        read_transaction(pg_catalog.engine, lambda c: c.execute(sa.text("SELECT * FROM nope")))
    assert not is_disconnect(missing.value)
