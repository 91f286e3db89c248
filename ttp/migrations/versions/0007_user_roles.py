"""users: who asked for a pending privacy-officer role (a role change, not only an addition, can ask for one)

Revision ID: 0007_user_roles
Revises: 0006_supplier_kit
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_user_roles"
down_revision = "0006_supplier_kit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ADD COLUMN (SQLite too), as in 0004: rebuilding `users` would trip the foreign keys to it
    op.add_column("users", sa.Column("pending_by", sa.String(100), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "pending_by")
