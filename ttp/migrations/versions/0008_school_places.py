"""the school register keeps a school's place, municipality name and province (for feedback reports); a
user of role school is bound to its BRIN-vestigingen

Revision ID: 0008_school_places
Revises: 0007_user_roles
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_school_places"
down_revision = "0007_user_roles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("schools", sa.Column("place", sa.String(100), nullable=True))
    op.add_column("schools", sa.Column("municipality_name", sa.String(100), nullable=True))
    op.add_column("schools", sa.Column("province", sa.String(100), nullable=True))
    op.add_column("users", sa.Column("schools", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "schools")
    op.drop_column("schools", "province")
    op.drop_column("schools", "municipality_name")
    op.drop_column("schools", "place")
