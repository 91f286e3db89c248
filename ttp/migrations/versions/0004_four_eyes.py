"""four eyes on policies and on the privacy-officer role: a policy version waits for a second officer, and
so does a grant of the role

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # versions stored before this revision took effect when added: they stay in force
    # plain ADD COLUMN (SQLite too): rebuilding `users` would trip the foreign keys that point at it
    op.add_column("policies", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    op.add_column("policies", sa.Column("decided_by", sa.String(100), nullable=True))
    op.add_column("users", sa.Column("pending_role", sa.String(32), nullable=True))


def downgrade() -> None:
    # plain DROP COLUMN (SQLite 3.35+ too), for the same reason
    op.drop_column("users", "pending_role")
    op.drop_column("policies", "decided_by")
    op.drop_column("policies", "status")
