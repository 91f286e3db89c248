"""releases in one order: the sequence number the joint protection and release verify rely on

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("releases", sa.Column("seq", sa.Integer(), nullable=True))
    releases = sa.table("releases", sa.column("id", sa.String), sa.column("created_at", sa.DateTime),
                        sa.column("seq", sa.Integer))
    conn = op.get_bind()
    rows = conn.execute(sa.select(releases.c.id).order_by(releases.c.created_at, releases.c.id)).all()
    for number, (release_id,) in enumerate(rows, start=1):
        conn.execute(releases.update().where(releases.c.id == release_id).values(seq=number))
    # Two releases computed at once cannot both take the next number: the second one's commit fails.
    op.create_index("ix_releases_seq", "releases", ["seq"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_releases_seq", table_name="releases")
    with op.batch_alter_table("releases") as batch:
        batch.drop_column("seq")
