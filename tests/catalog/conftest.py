"""Every catalog test runs twice: on a SQLite file and on the real PostgreSQL server.

PostgreSQL tests get a fresh schema each (named with this session's prefix, dropped after the
test, and any leftover dropped at the end of the session). If the server is unreachable they
fail; they are never skipped.
"""

import uuid

import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import Catalog
from testkit.postgres import drop_schemas, postgres_test_url, temporary_postgres_schema

SESSION_PREFIX = f"dp_catalog_{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="session")
def postgres_server():
    url = postgres_test_url()
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {url}: {exc.orig}", pytrace=False)
    finally:
        engine.dispose()
    yield url
    drop_schemas(url, SESSION_PREFIX)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    """A URL of an empty catalog database (the SQLite file's directory does not exist yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'catalog.sqlite'}"
        return
    server = request.getfixturevalue("postgres_server")
    with temporary_postgres_schema(server, prefix=SESSION_PREFIX) as url:
        yield url


@pytest.fixture
def catalog(catalog_url):
    with Catalog(catalog_url) as cat:
        yield cat


@pytest.fixture
def campaign(catalog):
    return catalog.ensure_campaign("prod6-south", "simulation", "test production")
