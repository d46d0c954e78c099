"""Drop ``schema_migrations``, the version table of the catalog's former migration code.

Alembic keeps the version in ``alembic_version`` now; a catalog created before has both until
this revision runs, a new one never had the old table.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Drop the old version table where there is one (SQLite and PostgreSQL know IF EXISTS)."""
    op.execute("DROP TABLE IF EXISTS schema_migrations")


def downgrade() -> None:
    """Nothing to restore: the old version table is not needed by any revision."""
