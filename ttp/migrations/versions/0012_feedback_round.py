"""a round request (several tables approved once) releases one table per release: a request may now have
several releases, so releases.request_id is indexed instead of unique

Revision ID: 0012_feedback_round
Revises: 0011_retention
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_feedback_round"
down_revision = "0011_retention"
branch_labels = None
depends_on = None

# SQLite's constraint from 0001 has no name: the batch copy reflects it under this convention's name
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _unique_name() -> str:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        return "uq_releases_request_id"
    for constraint in sa.inspect(bind).get_unique_constraints("releases"):
        if constraint["column_names"] == ["request_id"]:
            return str(constraint["name"])
    raise RuntimeError("releases.request_id has no unique constraint to drop")


def upgrade() -> None:
    name = _unique_name()
    with op.batch_alter_table("releases", naming_convention=NAMING) as batch_op:
        batch_op.drop_constraint(name, type_="unique")
        batch_op.create_index("ix_releases_request_id", ["request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("releases", naming_convention=NAMING) as batch_op:
        batch_op.drop_index("ix_releases_request_id")
        batch_op.create_unique_constraint("uq_releases_request_id", ["request_id"])
