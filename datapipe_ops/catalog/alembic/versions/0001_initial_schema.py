"""Initial schema: campaigns, products, lineage, datasets, calibration sets, quality metrics.

This is the schema the catalog had before it used Alembic (version 1 of its former migration
list); a catalog created then is stamped with this revision when it is first opened.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from datapipe_ops.catalog.sqltypes import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table of the first schema."""
    op.create_table(
        "campaigns",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "products",
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
    op.create_table(
        "lineage",
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
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("description", sa.Text),
        sa.Column("query", sa.JSON, nullable=False),
        sa.Column("n_products", sa.Integer, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "dataset_members",
        sa.Column("dataset_id", sa.Integer, sa.ForeignKey("datasets.id"), primary_key=True),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id"), primary_key=True),
        sa.Column("sha256", sa.String(64)),
        sa.Column("size_bytes", sa.BigInteger),
        sa.Index("ix_dataset_members_product_id", "product_id"),
    )
    calibration_sets = op.create_table(
        "calibration_sets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("tel_id", sa.Integer),
        sa.Column("obs_id", sa.BigInteger),
        sa.Column("valid_start", UTCDateTime, nullable=False),
        sa.Column("valid_stop", UTCDateTime, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("product_id", sa.Integer, sa.ForeignKey("products.id")),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.CheckConstraint("valid_stop > valid_start", name="ck_calibration_sets_validity"),
        sa.Index("ix_calibration_sets_validity", "valid_start", "valid_stop"),
    )
    op.create_index(
        "ux_calibration_sets_path_tel",
        "calibration_sets",
        [
            calibration_sets.c.path,
            sa.func.coalesce(calibration_sets.c.tel_id, sa.literal_column("-1")),
        ],
        unique=True,
    )
    op.create_table(
        "quality_metrics",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "product_id",
            sa.Integer,
            sa.ForeignKey("products.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("value", sa.Double),
        sa.Column("unit", sa.String(64)),
        sa.Column("flag", sa.String(8)),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("product_id", "name", name="uq_quality_metrics_product_name"),
    )


def downgrade() -> None:
    """Drop every table of the first schema."""
    for table in (
        "quality_metrics",
        "calibration_sets",
        "dataset_members",
        "datasets",
        "lineage",
        "products",
        "campaigns",
    ):
        op.drop_table(table)
