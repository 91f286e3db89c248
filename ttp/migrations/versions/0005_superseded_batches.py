"""deliveries over the years: a corrected export supersedes an earlier batch, and link jobs leave it out

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite too), as in 0004
    op.add_column("batches", sa.Column("superseded_by", sa.String(32), nullable=True))
    op.add_column("batches", sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("batches", "superseded_at")
    op.drop_column("batches", "superseded_by")
