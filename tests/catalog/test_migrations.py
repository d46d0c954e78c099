"""Schema migrations: fresh and migrated databases, upgrades, failures, newer schemas."""

from dataclasses import dataclass

import pytest
import sqlalchemy as sa

from datapipe_ops.catalog import MIGRATIONS, Catalog, Migration, ProductRecord, migrate
from datapipe_ops.catalog.connection import create_catalog_engine
from datapipe_ops.catalog.migrations import (
    AddColumn,
    CreateIndex,
    CreateTable,
    applied_versions,
    build_metadata,
    schema_version,
)
from datapipe_ops.catalog.schema import METADATA
from datapipe_ops.errors import CatalogError

LATEST = MIGRATIONS[-1].version

NSB = Migration(
    LATEST + 1,
    "test: night-sky background level of a product",
    (
        AddColumn("products", lambda: sa.Column("nsb_level", sa.Double)),
        CreateIndex("ix_products_nsb_level", "products", ("nsb_level",)),
    ),
)


@pytest.fixture
def engine(catalog_url):
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


def columns(engine, table):
    return {c["name"]: c["nullable"] for c in sa.inspect(engine).get_columns(table)}


def index_names(engine, table):
    """Index names straight from the system catalog (reflection skips expression indexes)."""
    sql = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = :t",
        "postgresql": "SELECT indexname FROM pg_indexes"
        " WHERE tablename = :t AND schemaname = current_schema()",
    }[engine.dialect.name]
    with engine.connect() as connection:
        return set(connection.scalars(sa.text(sql), {"t": table}))


def test_fresh_database_gets_every_migration(engine):
    assert schema_version(engine) == 0
    assert migrate(engine) == [m.version for m in MIGRATIONS]
    assert schema_version(engine) == LATEST
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(METADATA.tables) | {"schema_migrations"}


def test_database_matches_the_declared_tables(engine):
    migrate(engine)
    for name, table in METADATA.tables.items():
        declared = {c.name: c.nullable for c in table.columns}
        assert columns(engine, name) == declared, name
        assert {i.name for i in table.indexes} <= index_names(engine, name), name


def test_migrating_a_migrated_database_changes_nothing(engine, catalog_url):
    migrate(engine)
    with Catalog(catalog_url) as catalog:
        catalog.register_product(ProductRecord(path="/data/a.dl0.h5", level="DL0"))
    assert migrate(engine) == []
    assert Catalog(catalog_url).migrate() == []
    with engine.connect() as connection:
        recorded = connection.execute(sa.text("SELECT version FROM schema_migrations")).all()
        assert len(recorded) == len(MIGRATIONS)
        assert connection.execute(sa.text("SELECT count(*) FROM products")).scalar() == 1


def test_new_migration_upgrades_an_existing_database_keeping_its_rows(engine, catalog_url):
    migrate(engine)
    with Catalog(catalog_url) as catalog:
        catalog.register_product(ProductRecord(path="/data/a.dl0.h5", level="DL0"))
    assert migrate(engine, [*MIGRATIONS, NSB]) == [NSB.version]
    assert schema_version(engine) == NSB.version
    assert "nsb_level" in columns(engine, "products")
    assert "ix_products_nsb_level" in index_names(engine, "products")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT path, nsb_level FROM products")).all()
    assert rows == [("/data/a.dl0.h5", None)]
    # the declared tables follow the migrations too
    assert "nsb_level" in build_metadata([*MIGRATIONS, NSB]).tables["products"].c


def test_migrating_up_to_a_target_then_the_rest(engine):
    assert migrate(engine, [*MIGRATIONS, NSB], target=LATEST) == [m.version for m in MIGRATIONS]
    assert "nsb_level" not in columns(engine, "products")
    assert migrate(engine, [*MIGRATIONS, NSB]) == [NSB.version]
    assert applied_versions(engine) == {m.version for m in [*MIGRATIONS, NSB]}


@dataclass(frozen=True)
class Explode:
    """An operation that fails half-way through a migration."""

    def declare(self, metadata):
        pass

    def apply(self, connection, metadata):
        raise RuntimeError("migration step failed")


def test_failed_migration_leaves_the_previous_version(engine):
    migrate(engine)
    junk = CreateTable("junk", lambda md: sa.Table("junk", md, sa.Column("x", sa.Integer)))
    broken = Migration(LATEST + 1, "test: fails after creating a table", (junk, Explode()))
    with pytest.raises(RuntimeError, match="migration step failed"):
        migrate(engine, [*MIGRATIONS, broken])
    assert schema_version(engine) == LATEST
    assert "junk" not in sa.inspect(engine).get_table_names()


def test_a_newer_schema_is_refused(engine, catalog_url):
    migrate(engine, [*MIGRATIONS, NSB])
    with Catalog(catalog_url) as catalog, pytest.raises(CatalogError, match="newer") as error:
        catalog.list_products()
    assert f"schema version {NSB.version}" in str(error.value)


def test_migration_versions_must_ascend():
    first, second = Migration(1, "a", ()), Migration(2, "b", ())
    with pytest.raises(ValueError, match="ascending"):
        build_metadata([second, first])
    with pytest.raises(ValueError, match="ascending"):
        build_metadata([first, first])
