"""retention: a release whose files retention removed keeps its row (the history that protects later
releases, and the audit trail) and says when; a delivery id outlives its batch (replays stay refused)

Revision ID: 0011_retention
Revises: 0010_erasure
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_retention"
down_revision = "0010_erasure"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("releases") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("batch_id", existing_type=sa.String(32), nullable=True)


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.alter_column("batch_id", existing_type=sa.String(32), nullable=False)
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("removed_at")
