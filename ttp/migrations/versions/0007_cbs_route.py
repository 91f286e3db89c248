"""designated recipients (CBS): the public keys suppliers seal identities to, approved by a second officer

Revision ID: 0007_recipients
Revises: 0006_supplier_kit
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_recipients"
down_revision = "0006_supplier_kit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "recipients",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("public_key", sa.Text(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("added_by", sa.String(100), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(100), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("recipients")
