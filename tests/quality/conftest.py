"""Fixtures of the quality tests: a writable copy of the session's small simulated run, and
catalogs on SQLite and on the real PostgreSQL server (builders: testkit/quality.py)."""

from __future__ import annotations

import shutil
import uuid

import pytest

from testkit.postgres import drop_schemas, postgres_test_url, temporary_postgres_schema

SESSION_PREFIX = f"dp_quality_{uuid.uuid4().hex[:8]}_"


@pytest.fixture(scope="session")
def quality_postgres():
    url = postgres_test_url()
    yield url
    drop_schemas(url, SESSION_PREFIX)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def catalog_url(request, tmp_path):
    """An empty catalog on SQLite, then on PostgreSQL (a throw-away schema)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite'}"
        return
    with temporary_postgres_schema(request.getfixturevalue("quality_postgres"),
                                   prefix=SESSION_PREFIX) as url:  # fmt: skip
        yield url


@pytest.fixture
def run_copy(dl1_runs, tmp_path):
    """A writable copy of the first simulated run: ``{"dl0": …, "dl1": …}``."""
    copies = {}
    for key in ("dl0", "dl1"):
        copies[key] = tmp_path / dl1_runs[0][key].name
        shutil.copyfile(dl1_runs[0][key], copies[key])
    return copies
