"""Schema migrations with Alembic: fresh, migrated and pre-Alembic databases, new revisions,
targets, failures and newer schemas — each on SQLite and on PostgreSQL."""

import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from datapipe_ops.catalog import Catalog, ProductRecord, head_revision, migrate, schema_version
from datapipe_ops.catalog.connection import create_catalog_engine
from datapipe_ops.catalog.migrations import SCRIPTS, alembic_config
from datapipe_ops.catalog.schema import METADATA, products
from datapipe_ops.catalog.sqltypes import UTCDateTime
from datapipe_ops.errors import CatalogError

pytestmark = pytest.mark.requirement("DPPS-DP-R-023")

ROOT = Path(__file__).resolve().parents[2]
REVISIONS = [s.revision for s in reversed(list(ScriptDirectory(str(SCRIPTS)).walk_revisions()))]
HEAD = REVISIONS[-1]


def revision_script(revision, upgrade):
    """The text of a revision file that follows the newest shipped one."""
    body = "\n".join(f"    {line}" for line in upgrade)
    return (
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {HEAD!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{body}\n\n\ndef downgrade():\n    pass\n"
    )


#: Night-sky background level of a product: a column and an index.
NSB_REVISION = revision_script(
    "9001",
    [
        'op.add_column("products", sa.Column("nsb_level", sa.Double))',
        'op.create_index("ix_products_nsb_level", "products", ["nsb_level"])',
    ],
)
#: Fails after creating a table.
BROKEN_REVISION = revision_script(
    "9002",
    [
        'op.create_table("junk", sa.Column("x", sa.Integer))',
        'raise RuntimeError("migration step failed")',
    ],
)


@pytest.fixture
def engine(catalog_url):
    engine = create_catalog_engine(catalog_url)
    yield engine
    engine.dispose()


def extra_revision(tmp_path, text):
    """An Alembic configuration with the shipped revisions plus one written from ``text``."""
    versions = tmp_path / "more_versions"
    versions.mkdir(exist_ok=True)
    (versions / "extra.py").write_text(text)
    return alembic_config(versions)


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


def differences(engine):
    """What Alembic's autogenerate finds between the database and the declared tables."""
    with engine.connect() as connection, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "cannot reflect expression-based index" on SQLite
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, METADATA)


def count(engine, sql):
    with engine.connect() as connection:
        return connection.execute(sa.text(sql)).scalar()


#: (table, column) added by revisions after 0001, absent from a catalog of the former code
ADDED_AFTER_0001 = (("products", "bdms_did"),)


def create_pre_alembic_catalog(engine, version=1):
    """A catalog as the former migration code left it: the tables of its version 1 (the same
    as revision 0001) and its own version table, with one product."""
    legacy = sa.MetaData()
    versions = sa.Table(
        "schema_migrations",
        legacy,
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("applied_at", UTCDateTime, nullable=False),
    )
    METADATA.create_all(engine)
    legacy.create_all(engine)
    with engine.begin() as connection:  # what later revisions added was not there yet
        for table, column in ADDED_AFTER_0001:
            connection.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
    now = datetime.now(UTC)
    with engine.begin() as connection:
        connection.execute(
            versions.insert().values(version=version, description="initial", applied_at=now)
        )
        connection.execute(
            products.insert().values(
                path="/data/old.dl0.h5", level="DL0", created_at=now, updated_at=now
            )
        )


def test_the_revisions_form_one_line():
    script = ScriptDirectory(str(SCRIPTS))
    assert script.get_heads() == [HEAD] == [head_revision()]
    assert [f"{n:04d}" for n in range(1, len(REVISIONS) + 1)] == REVISIONS
    for revision in REVISIONS:
        assert Path(script.get_revision(revision).path).name.startswith(f"{revision}_")


def test_the_shipped_head_is_read_without_alembic(tmp_path):
    from datapipe_ops.catalog.migrations import shipped_head

    assert shipped_head() == HEAD
    url = f"sqlite:///{tmp_path / 'c.sqlite'}"
    Catalog(url).migrate()
    opened = (
        "import sys; from datapipe_ops.catalog import Catalog; "
        f"c = Catalog({url!r}); c.check_ready(); "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'alembic', 'mako'}))"
    )
    result = subprocess.run([sys.executable, "-c", opened], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr  # an up-to-date catalog: one read


def test_fresh_database_gets_every_revision(engine):
    assert schema_version(engine) is None
    assert migrate(engine) == REVISIONS
    assert schema_version(engine) == HEAD
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(METADATA.tables) | {"alembic_version"}


def test_database_matches_the_declared_tables(engine):
    migrate(engine)
    assert differences(engine) == []
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
    assert count(engine, "SELECT count(*) FROM alembic_version") == 1
    assert count(engine, "SELECT count(*) FROM products") == 1


def test_catalog_from_before_alembic_is_adopted(engine, catalog_url):
    create_pre_alembic_catalog(engine)
    assert schema_version(engine) == "0001"
    with Catalog(catalog_url) as catalog:
        assert [p.path for p in catalog.list_products()] == ["/data/old.dl0.h5"]
        assert catalog.schema_version() == HEAD
    assert "schema_migrations" not in sa.inspect(engine).get_table_names()
    assert differences(engine) == []
    assert migrate(engine) == []


def test_unknown_pre_alembic_version_is_refused(engine, catalog_url):
    create_pre_alembic_catalog(engine, version=2)
    with Catalog(catalog_url) as catalog, pytest.raises(CatalogError, match="newer"):
        catalog.list_products()
    assert "schema_migrations" in sa.inspect(engine).get_table_names()


def test_new_revision_upgrades_an_existing_database_keeping_its_rows(engine, catalog_url, tmp_path):
    migrate(engine)
    with Catalog(catalog_url) as catalog:
        catalog.register_product(ProductRecord(path="/data/a.dl0.h5", level="DL0"))
    config = extra_revision(tmp_path, NSB_REVISION)
    assert migrate(engine, config=config) == ["9001"]
    assert schema_version(engine, config) == "9001"
    assert "nsb_level" in columns(engine, "products")
    assert "ix_products_nsb_level" in index_names(engine, "products")
    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT path, nsb_level FROM products")).all()
    assert rows == [("/data/a.dl0.h5", None)]


def test_migrating_up_to_a_target_then_the_rest(engine, tmp_path):
    config = extra_revision(tmp_path, NSB_REVISION)
    assert migrate(engine, target=HEAD, config=config) == REVISIONS
    assert "nsb_level" not in columns(engine, "products")
    assert migrate(engine, config=config) == ["9001"]


def test_failed_revision_leaves_the_previous_one(engine, tmp_path):
    migrate(engine)
    with pytest.raises(RuntimeError, match="migration step failed"):
        migrate(engine, config=extra_revision(tmp_path, BROKEN_REVISION))
    assert schema_version(engine) == HEAD
    assert "junk" not in sa.inspect(engine).get_table_names()


def test_a_newer_schema_is_refused(engine, catalog_url, tmp_path):
    migrate(engine, config=extra_revision(tmp_path, NSB_REVISION))
    with Catalog(catalog_url) as catalog, pytest.raises(CatalogError, match="newer") as error:
        catalog.list_products()
    assert "schema version 9001" in str(error.value)


def alembic(*args):
    """The ``alembic`` command run in the repository (it reads ``[tool.alembic]``)."""
    command = [sys.executable, "-m", "alembic", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout


def test_alembic_command_finds_the_scripts():
    assert alembic("heads").split() == [HEAD, "(head)"]


@pytest.mark.parametrize("url", ["sqlite://", "postgresql+psycopg2://"])
def test_alembic_writes_the_sql_of_every_revision(url):
    """``alembic upgrade head --sql``: the SQL a DBA would review, for each backend."""
    sql = alembic("-x", f"url={url}", "upgrade", "head", "--sql")
    assert "CREATE TABLE products" in sql
    assert "CREATE UNIQUE INDEX ux_calibration_sets_path_tel" in sql
    assert "DROP TABLE IF EXISTS schema_migrations" in sql
    assert f"version_num='{HEAD}'" in sql
