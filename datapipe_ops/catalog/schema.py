"""The catalog tables as they are today, in SQLAlchemy Core; queries use these Table objects.

The database gets them from the Alembic migration scripts in ``alembic/versions`` (run by
:mod:`datapipe_ops.catalog.migrations`). A change is made in both places: here, and in a new
migration; ``tests/catalog/test_migrations.py`` checks that a migrated database and these
definitions agree, column by column and index by index, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa

from datapipe_ops.catalog.sqltypes import UTCDateTime

METADATA = sa.MetaData()

campaigns = sa.Table(
    "campaigns",
    METADATA,
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("description", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

products = sa.Table(
    "products",
    METADATA,
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
    sa.Column("bdms_did", sa.String(512)),  # revision 0003: the product's Rucio DID, once delivered
    sa.Index("ix_products_level_campaign", "level", "campaign"),
    sa.Index("ix_products_obs_id", "obs_id"),
    sa.Index("ix_products_time_start", "time_start"),
)

lineage = sa.Table(
    "lineage",
    METADATA,
    sa.Column(
        "product_id", sa.Integer, sa.ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
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

datasets = sa.Table(
    "datasets",
    METADATA,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text),
    sa.Column("query", sa.JSON, nullable=False),
    sa.Column("n_products", sa.Integer, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

dataset_members = sa.Table(
    "dataset_members",
    METADATA,
    sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), primary_key=True),
    sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), primary_key=True),
    # the file as it was when the dataset was created (datasets are immutable)
    sa.Column("sha256", sa.String(64)),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Index("ix_dataset_members_product_id", "product_id"),
)

calibration_sets = sa.Table(
    "calibration_sets",
    METADATA,
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

#: The unique key of a calibration set: its file and telescope (NULL counted as -1). A plain
#: unique constraint would let any number of ``tel_id IS NULL`` rows through, so the key is an
#: expression index; upserts name the same expressions as their conflict target.
CALIBRATION_SET_KEY = (
    calibration_sets.c.path,
    sa.func.coalesce(calibration_sets.c.tel_id, sa.literal_column("-1")),
)
sa.Index("ux_calibration_sets_path_tel", *CALIBRATION_SET_KEY, unique=True)

quality_metrics = sa.Table(
    "quality_metrics",
    METADATA,
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

__all__ = [
    "CALIBRATION_SET_KEY",
    "METADATA",
    "UTCDateTime",
    "calibration_sets",
    "campaigns",
    "dataset_members",
    "datasets",
    "lineage",
    "products",
    "quality_metrics",
]
