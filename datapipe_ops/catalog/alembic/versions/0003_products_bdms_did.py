"""products.bdms_did: the product's identifier in the BDMS (a Rucio DID ``scope:name``), set
when the product is delivered back into BDMS.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the nullable column (existing products have no DID until delivered)."""
    with op.batch_alter_table("products") as batch:
        batch.add_column(sa.Column("bdms_did", sa.String(512)))


def downgrade() -> None:
    """Remove the column."""
    with op.batch_alter_table("products") as batch:
        batch.drop_column("bdms_did")
