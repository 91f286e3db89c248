"""recipient retention: a microdata delivery for a recipient (or a table that came back) whose files retention
removed keeps its row (the audit trail, what came back from it) and says when

Revision ID: 0013_recipient_retention
Revises: 0012_feedback_round
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_recipient_retention"
down_revision = "0012_feedback_round"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("recipient_releases") as batch:
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("recipient_releases") as batch:
        batch.drop_column("removed_at")
