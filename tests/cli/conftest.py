"""The catalog the `datapipe catalog` / `datapipe dataset` tests run against."""

import pytest

from testkit.postgres import temporary_postgres_schema


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request, tmp_path, monkeypatch):
    """An empty catalog on SQLite (its directory not created yet) or in a PostgreSQL schema."""
    monkeypatch.setenv("COLUMNS", "250")  # rich tables as wide as the paths
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'catalog.sqlite'}"
    else:
        with temporary_postgres_schema(prefix="dp_cli_") as schema_url:
            yield schema_url
