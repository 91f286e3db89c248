"""erasure of one child and the objection register: keyed digests of objected children (never values), the
erasures made (counts only, and the releases they are noted against), and a batch's count of rows dropped at
ingest because the register holds them

Revision ID: 0010_erasure
Revises: 0009_cbs_route
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_erasure"
down_revision = "0009_cbs_route"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "objections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("scheme", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("erasure_id", sa.String(32), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("scheme", "kind", "digest"),
    )
    op.create_table(
        "erasures",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("releases", sa.JSON(), nullable=False),
        sa.Column("jobs", sa.JSON(), nullable=False),
        sa.Column("objection", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("objected", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("objected")
    op.drop_table("erasures")
    op.drop_table("objections")
