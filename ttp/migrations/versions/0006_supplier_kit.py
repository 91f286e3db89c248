"""the supplier kit: registered suppliers, the delivery ids seen (replay), and a batch's supplier and secret

Revision ID: 0006_supplier_kit
Revises: 0005
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_supplier_kit"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppliers",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("secret_version", sa.Integer(), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("supplier", sa.String(100), sa.ForeignKey("suppliers.name"), nullable=False, index=True),
        sa.Column("created", sa.String(32), nullable=False),
        sa.Column("batch_id", sa.String(32), sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )
    # plain ADD COLUMN (SQLite too), as in 0004 and 0005
    op.add_column("batches", sa.Column("supplier", sa.String(100), nullable=True))
    op.add_column("batches", sa.Column("secret_version", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("batches", "secret_version")
    op.drop_column("batches", "supplier")
    op.drop_table("deliveries")
    op.drop_table("suppliers")
