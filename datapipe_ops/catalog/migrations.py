"""Bring a catalog database to the schema this software knows, with Alembic.

The migration scripts ship inside the package (``datapipe_ops/catalog/alembic``: ``env.py`` and
one file per revision under ``versions/``) and are run from here, with no ``alembic.ini``:

* :func:`migrate` upgrades to the newest revision (or ``target``) in **one transaction**, which
  also holds a lock, so that processes opening a new catalog at the same moment migrate it once:
  on SQLite the transaction is ``BEGIN IMMEDIATE`` (one writer at a time), on PostgreSQL it takes
  a transaction-level advisory lock keyed by the schema. Both have transactional DDL, so a
  revision that fails leaves the database at the revision it had.
* It is idempotent: a database already at the target is only read.
* A database stamped with a revision this software does not know (written by a newer version)
  is refused with a :class:`~datapipe_ops.errors.CatalogError`.
* A catalog created before Alembic (its version in ``schema_migrations``) is adopted: stamped
  with the revision that has the same schema, then upgraded like any other.

How to add a revision is in ``docs/catalog.md`` ("Changing the schema").
"""

from __future__ import annotations

import ast
import os
import zlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from datapipe_ops.catalog.connection import display_url, read_transaction, write_transaction
from datapipe_ops.errors import CatalogError

if TYPE_CHECKING:  # Alembic (a large import) is imported when a migration is needed
    from alembic.config import Config
    from alembic.script import ScriptDirectory

#: The Alembic script directory shipped with the package.
SCRIPTS = Path(__file__).with_name("alembic")

#: The version table of the catalog's former migration code, and the revision each of its
#: versions corresponds to.
LEGACY_VERSION_TABLE = "schema_migrations"
LEGACY_REVISIONS = {1: "0001"}


def alembic_config(*extra_version_dirs: str | Path) -> Config:
    """The Alembic configuration of the catalog, built in memory.

    ``extra_version_dirs`` adds directories of revision scripts to the shipped ones.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.set_main_option("path_separator", "os")
    if extra_version_dirs:
        locations = [SCRIPTS / "versions", *map(Path, extra_version_dirs)]
        config.set_main_option("version_locations", os.pathsep.join(map(str, locations)))
    return config


def head_revision(config: Config | None = None) -> str:
    """The newest revision of the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(config or alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise CatalogError("no catalog migration scripts found", path=str(SCRIPTS))
    return head


def _current(connection: Connection, script: ScriptDirectory, where: str) -> str | None:
    """The revision of the database (None: empty); refuses one this software does not know."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    inspector = sa.inspect(connection)
    if inspector.has_table("alembic_version"):
        revision = MigrationContext.configure(connection).get_current_revision()
    elif inspector.has_table(LEGACY_VERSION_TABLE):
        versions = connection.scalars(sa.text(f"SELECT version FROM {LEGACY_VERSION_TABLE}"))
        newest = max(versions, default=0)
        revision = LEGACY_REVISIONS.get(newest, f"legacy-{newest}") if newest else None
    else:
        revision = None
    if revision is not None:
        try:
            script.get_revision(revision)
        except (CommandError, RevisionError):
            raise CatalogError(
                f"catalog schema version {revision} is newer than this software knows "
                f"(latest {script.get_current_head()}); upgrade datapipe-ops",
                path=where,
            ) from None
    return revision


def schema_version(engine: Engine, config: Config | None = None) -> str | None:
    """The revision of the database, ``None`` for an empty one.

    Raises :class:`CatalogError` if it is a revision this software does not know.
    """
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(config or alembic_config())
    where = display_url(engine.url)
    return read_transaction(engine, lambda connection: _current(connection, script, where))


def _pending(script: ScriptDirectory, current: str | None, target: str) -> list[str]:
    """The revisions between ``current`` (excluded) and ``target``, oldest first."""
    steps = script.iterate_revisions(target, current or "base")
    return [step.revision for step in reversed(list(steps))]


def _lock(connection: Connection) -> None:
    """Serialise concurrent migrators (SQLite: the IMMEDIATE transaction already does)."""
    if connection.dialect.name == "postgresql":
        schema = connection.scalar(sa.text("SELECT current_schema()")) or ""
        key = zlib.crc32(f"datapipe-catalog-migrate:{schema}".encode())
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@cache
def shipped_head() -> str | None:
    """The newest shipped revision, read from the scripts' ``revision``/``down_revision``
    assignments without importing Alembic; ``None`` when they do not name one head (then the
    caller asks Alembic)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted((SCRIPTS / "versions").glob("*.py")):
        values = {}
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name) and node.value is not None:
                        try:
                            values[target.id] = ast.literal_eval(node.value)
                        except ValueError:
                            return None
        revision, down = values.get("revision"), values.get("down_revision")
        if not isinstance(revision, str):
            return None
        revisions.add(revision)
        parents.update([down] if isinstance(down, str) else list(down or ()))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_shipped_head(engine: Engine) -> bool:
    """Whether the database's ``alembic_version`` is the shipped head (one plain read)."""
    head = shipped_head()
    if head is None:
        return False

    def read(connection: Connection) -> list[str]:
        if not sa.inspect(connection).has_table("alembic_version"):
            return []
        return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))

    return read_transaction(engine, read) == [head]


def migrate(engine: Engine, target: str = "head", config: Config | None = None) -> list[str]:
    """Upgrade the database to ``target`` (default: the newest revision); return the revisions
    applied, oldest first (empty if it was already there).

    A database already at the newest shipped revision is recognised with one read, without
    importing Alembic (every stage opens the catalog: this keeps its start-up short).

    Raises :class:`CatalogError` if the database is at a revision this software does not know.
    """
    if target == "head" and config is None and _at_shipped_head(engine):
        return []
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    config = config or alembic_config()
    script = ScriptDirectory.from_config(config)
    where = display_url(engine.url)
    target = script.get_revision(target).revision  # "head" → its id; unknown → CommandError
    current = schema_version(engine, config)
    if not _pending(script, current, target):
        return []

    def upgrade(connection: Connection) -> list[str]:
        _lock(connection)
        current = _current(connection, script, where)  # again, now that we hold the lock
        pending = _pending(script, current, target)
        if current is not None and not sa.inspect(connection).has_table("alembic_version"):
            MigrationContext.configure(connection).stamp(script, current)  # adopt a legacy catalog
        if pending:
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, target)
            finally:
                del config.attributes["connection"]
        return pending

    return write_transaction(engine, upgrade)
