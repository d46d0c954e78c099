"""A throw-away PostgreSQL schema for tests of anything that uses the catalog.

Tests share one PostgreSQL server (and database) with other people's tests, so each gets its own
uniquely named schema: :func:`temporary_postgres_schema` creates it, yields a catalog URL whose
connections use it (``search_path`` set through libpq ``options``, so subprocesses given the URL
use it too) and drops it afterwards. :func:`register_many` is the workload of the concurrent
registration tests. Nothing here runs in production.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

#: The test server; ``DATAPIPE_TEST_POSTGRES_URL`` overrides it.
DEFAULT_POSTGRES_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


def postgres_test_url() -> str:
    """The URL of the PostgreSQL server the tests use."""
    return os.environ.get("DATAPIPE_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def with_search_path(url: str, schema: str) -> str:
    """``url`` with every connection's ``search_path`` set to ``schema``."""
    parsed = sa.make_url(url)
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


def drop_schemas(url: str, prefix: str) -> list[str]:
    """Drop every schema whose name starts with ``prefix``; return their names."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            names = connection.scalars(
                sa.text(
                    "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, :prefix)"
                    " ORDER BY nspname"
                ),
                {"prefix": prefix},
            ).all()
            for name in names:
                connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        return list(names)
    finally:
        engine.dispose()


@contextmanager
def temporary_postgres_schema(url: str | None = None, prefix: str = "dp_test_") -> Iterator[str]:
    """Create a fresh schema named ``<prefix><random>``; yield a URL using it; drop it after.

    Raises :class:`sqlalchemy.exc.OperationalError` if the server cannot be reached.
    """
    base = url or postgres_test_url()
    schema = f"{prefix}{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(base)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()
    try:
        yield with_search_path(base, schema)
    finally:
        drop_schemas(base, schema)


def register_many(
    url: str,
    paths: Sequence[str],
    level: str,
    inputs: Sequence[str] = (),
    shared: str | None = None,
    start: Any = None,
) -> list[int]:
    """Register ``paths`` one by one (each with ``inputs``); return their ids.

    After each one, ``shared`` (if given) is registered again with the same inputs, to hammer
    one row from several processes. ``start`` is an optional barrier to ``wait()`` on first, so
    that concurrent callers begin together. Top-level so that ``multiprocessing`` can spawn it.
    """
    from datapipe_ops.catalog import Catalog, ProductRecord

    if start is not None:
        start.wait()
    ids = []
    with Catalog(url) as catalog:
        for n, path in enumerate(paths):
            ids.append(catalog.register_product(ProductRecord(path=path, level=level), inputs))
            if shared is not None:
                record = ProductRecord(path=shared, level=level, n_events=n)
                catalog.register_product(record, inputs)
    return ids
