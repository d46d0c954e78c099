"""The catalog schema as an ordered, versioned list of migrations.

Why this design
---------------
The schema is written once, as SQLAlchemy Core, and only here. Each :class:`Migration` is a
version number, a description and a tuple of operations (:class:`CreateTable`,
:class:`CreateIndex`, :class:`AddColumn`). An operation does two things:

* ``declare(metadata)`` adds what it creates to an in-memory :class:`sqlalchemy.MetaData`;
* ``apply(connection, metadata)`` emits the DDL for it.

Replaying the ``declare`` steps of every migration builds the *current* table definitions that
the catalog queries with (:mod:`datapipe_ops.catalog.schema`); replaying ``apply`` on a database
brings it to the same state. There is a single source of truth, and a migration only ever sees
the tables as they were at its own version (``CreateTable`` of version 1 creates the version-1
columns even after a later ``AddColumn``), so a fresh database and an old, upgraded one end up
identical. The DDL is compiled by SQLAlchemy for the dialect in use, so the same list works on
SQLite and PostgreSQL; no SQL files, no Alembic (which would pull its own environment and
script directory into the stage image for a handful of tables).

:func:`migrate` applies, in one transaction, the migrations whose version is not yet recorded in
the ``schema_migrations`` table, and records them. It is idempotent (a migrated database is left
alone) and safe when several processes open a fresh catalog at once: on SQLite the transaction
starts with ``BEGIN IMMEDIATE`` (one writer at a time), on PostgreSQL it holds a transaction-level
advisory lock keyed by the schema. SQLite and PostgreSQL both have transactional DDL, so a
migration that fails leaves the database at the previous version.

Adding a migration: append ``Migration(N + 1, "what and why", (AddColumn("products",
lambda: Column("nsb_level", Double)),))`` to :data:`MIGRATIONS`; never edit a released one.
SQLite limits ``ALTER TABLE ADD COLUMN``: the new column cannot be a primary key or unique, and a
NOT NULL column needs a default.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.schema import CreateColumn
from sqlalchemy.types import TypeDecorator, TypeEngine

from datapipe_ops.catalog.connection import display_url, read_transaction, write_transaction
from datapipe_ops.errors import CatalogError


class UTCDateTime(TypeDecorator[datetime]):
    """A UTC instant: ``timestamp with time zone`` on PostgreSQL, naive UTC text on SQLite.

    Values are bound as UTC (naive datetimes are taken to be UTC) and always come back as
    timezone-aware UTC datetimes, whatever the backend.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[datetime]:
        """``timestamptz`` where the backend has one, a naive timestamp elsewhere."""
        timezone = dialect.name == "postgresql"
        return dialect.type_descriptor(sa.DateTime(timezone=timezone))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; drop the zone for backends that cannot store it."""
        if value is None:
            return None
        utc = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return utc if dialect.name == "postgresql" else utc.replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# --------------------------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateTable:
    """Create a table; ``build(metadata)`` defines it (columns, keys, indexes) on ``metadata``."""

    name: str
    build: Callable[[sa.MetaData], sa.Table]

    def declare(self, metadata: sa.MetaData) -> None:
        """Add the table to ``metadata``."""
        self.build(metadata)

    def apply(self, connection: Connection, metadata: sa.MetaData) -> None:
        """``CREATE TABLE`` and its indexes."""
        metadata.tables[self.name].create(connection)


@dataclass(frozen=True)
class CreateIndex:
    """Create an index on existing columns of an existing table."""

    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False

    def declare(self, metadata: sa.MetaData) -> None:
        """Attach the index to its table in ``metadata``."""
        table = metadata.tables[self.table]
        sa.Index(self.name, *(table.c[c] for c in self.columns), unique=self.unique)

    def apply(self, connection: Connection, metadata: sa.MetaData) -> None:
        """``CREATE INDEX``."""
        table = metadata.tables[self.table]
        next(i for i in table.indexes if i.name == self.name).create(connection)


@dataclass(frozen=True)
class AddColumn:
    """Add a column to an existing table; ``build()`` returns a new, unattached Column."""

    table: str
    build: Callable[[], sa.Column]

    def declare(self, metadata: sa.MetaData) -> None:
        """Append the column to its table in ``metadata``."""
        metadata.tables[self.table].append_column(self.build())

    def apply(self, connection: Connection, metadata: sa.MetaData) -> None:
        """``ALTER TABLE … ADD COLUMN``, the column clause compiled for the dialect."""
        table = metadata.tables[self.table]
        column = table.c[self.build().name]
        preparer = connection.dialect.identifier_preparer
        clause = CreateColumn(column).compile(dialect=connection.dialect)
        connection.exec_driver_sql(
            f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN {clause}"
        )


type Operation = CreateTable | CreateIndex | AddColumn


@dataclass(frozen=True)
class Migration:
    """One schema version: what it changes and why."""

    version: int
    description: str
    operations: tuple[Operation, ...]


# --------------------------------------------------------------------------------------------
# Version 1: the initial schema
# --------------------------------------------------------------------------------------------


def _campaigns(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "campaigns",
        md,
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def _products(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "products",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("path", sa.Text, nullable=False, unique=True),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(64)),
        sa.Column("campaign", sa.String(128), sa.ForeignKey("campaigns.name")),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Column("n_events", sa.BigInteger),
        sa.Column("particle", sa.String(32)),
        sa.Column("obs_id", sa.BigInteger),
        sa.Column("zenith_deg", sa.Double),
        sa.Column("azimuth_deg", sa.Double),
        sa.Column("time_start", UTCDateTime),
        sa.Column("time_stop", UTCDateTime),
        sa.Column("config_hash", sa.String(128)),
        sa.Column("software_version", sa.String(64)),
        sa.Column("dag_id", sa.String(250)),
        sa.Column("run_id", sa.String(250)),
        sa.Column("task_id", sa.String(250)),
        sa.Column("quality_flag", sa.String(8)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Index("ix_products_level_campaign", "level", "campaign"),
        sa.Index("ix_products_obs_id", "obs_id"),
        sa.Index("ix_products_time_start", "time_start"),
    )


def _lineage(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "lineage",
        md,
        sa.Column(
            "product_id",
            sa.Integer,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "input_product_id",
            sa.Integer,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.CheckConstraint("product_id <> input_product_id", name="ck_lineage_not_self"),
        sa.Index("ix_lineage_input_product_id", "input_product_id"),
    )


def _datasets(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "datasets",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text),
        sa.Column("query", sa.JSON, nullable=False),
        sa.Column("n_products", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )


def _dataset_members(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "dataset_members",
        md,
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), primary_key=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), primary_key=True),
        # the file as it was when the dataset was created (datasets are immutable)
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Index("ix_dataset_members_product_id", "product_id"),
    )


def _calibration_sets(md: sa.MetaData) -> sa.Table:
    table = sa.Table(
        "calibration_sets",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tel_id", sa.Integer),  # NULL: valid for every telescope
        sa.Column("obs_id", sa.BigInteger),
        sa.Column("valid_start", UTCDateTime, nullable=False),
        sa.Column("valid_stop", UTCDateTime, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("valid_stop > valid_start", name="ck_calibration_sets_validity"),
        sa.Index("ix_calibration_sets_validity", "valid_start", "valid_stop"),
    )
    sa.Index("ux_calibration_sets_path_tel", *calibration_set_key(table), unique=True)
    return table


def calibration_set_key(table: sa.Table) -> tuple[sa.ColumnElement, ...]:
    """The unique key of a calibration set: its file and telescope (NULL counted as -1).

    A plain unique constraint would let any number of ``tel_id IS NULL`` rows through, so the
    key is an expression index; upserts name the same expressions as their conflict target.
    """
    return (table.c.path, sa.func.coalesce(table.c.tel_id, sa.literal_column("-1")))


def _quality_metrics(md: sa.MetaData) -> sa.Table:
    return sa.Table(
        "quality_metrics",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "product_id",
            sa.Integer,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Double),  # NULL stores NaN, which SQLite cannot hold
        sa.Column("unit", sa.String(64)),
        sa.Column("flag", sa.String(8)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("product_id", "name", name="uq_quality_metrics_product_name"),
    )


#: Every schema version, oldest first. Append; never edit a released entry.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: campaigns, products, lineage, datasets, calibration sets, quality",
        (
            CreateTable("campaigns", _campaigns),
            CreateTable("products", _products),
            CreateTable("lineage", _lineage),
            CreateTable("datasets", _datasets),
            CreateTable("dataset_members", _dataset_members),
            CreateTable("calibration_sets", _calibration_sets),
            CreateTable("quality_metrics", _quality_metrics),
        ),
    ),
    Migration(
        2,
        "products: the identifier of the product in the BDMS (a Rucio DID scope:name)",
        (AddColumn("products", lambda: sa.Column("bdms_did", sa.String(512))),),
    ),
)

# --------------------------------------------------------------------------------------------
# Applying them
# --------------------------------------------------------------------------------------------

_VERSIONS = sa.Table(
    "schema_migrations",
    sa.MetaData(),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)


def _check_order(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be unique, positive, ascending: {versions}")


def build_metadata(migrations: Sequence[Migration] = MIGRATIONS) -> sa.MetaData:
    """The table definitions after every migration in ``migrations`` (no database involved)."""
    _check_order(migrations)
    metadata = sa.MetaData()
    for migration in migrations:
        for operation in migration.operations:
            operation.declare(metadata)
    return metadata


def _applied_versions(connection: Connection) -> set[int]:
    if not sa.inspect(connection).has_table(_VERSIONS.name):
        return set()
    return set(connection.scalars(sa.select(_VERSIONS.c.version)))


def applied_versions(engine: Engine) -> set[int]:
    """The versions recorded in ``schema_migrations`` (empty for a new database)."""
    return read_transaction(engine, _applied_versions)


def schema_version(engine: Engine) -> int:
    """The highest migration applied to the database, 0 for an empty one."""
    return max(applied_versions(engine), default=0)


def _lock(connection: Connection) -> None:
    """Serialise concurrent migrators (SQLite: the IMMEDIATE transaction already does)."""
    if connection.dialect.name == "postgresql":
        schema = connection.scalar(sa.text("SELECT current_schema()")) or ""
        key = zlib.crc32(f"datapipe-catalog-migrate:{schema}".encode())
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


def _refuse_newer(applied: set[int], migrations: Sequence[Migration], where: str) -> None:
    known = {m.version for m in migrations}
    unknown = sorted(applied - known)
    if unknown:
        raise CatalogError(
            f"catalog schema version {unknown[-1]} is newer than this software knows "
            f"(latest {max(known, default=0)}); upgrade datapipe-ops",
            path=where,
        )


def migrate(
    engine: Engine,
    migrations: Sequence[Migration] = MIGRATIONS,
    target: int | None = None,
) -> list[int]:
    """Bring the database up to ``target`` (default: the latest version); return what was applied.

    Idempotent: a database already at ``target`` is only read. Raises :class:`CatalogError` if
    the database records a version this software does not know (a newer schema).
    """
    _check_order(migrations)
    where = display_url(engine.url)
    wanted = [m for m in migrations if target is None or m.version <= target]
    applied = applied_versions(engine)
    _refuse_newer(applied, migrations, where)
    if all(m.version in applied for m in wanted):
        return []

    def upgrade(connection: Connection) -> list[int]:
        _lock(connection)
        _VERSIONS.create(connection, checkfirst=True)
        done = _applied_versions(connection)  # again, now that we hold the lock
        _refuse_newer(done, migrations, where)
        metadata = sa.MetaData()
        applied_now = []
        for migration in wanted:
            for operation in migration.operations:
                operation.declare(metadata)
                if migration.version not in done:
                    operation.apply(connection, metadata)
            if migration.version not in done:
                connection.execute(
                    _VERSIONS.insert().values(
                        version=migration.version,
                        description=migration.description,
                        applied_at=datetime.now(UTC),
                    )
                )
                applied_now.append(migration.version)
        return applied_now

    return write_transaction(engine, upgrade)
