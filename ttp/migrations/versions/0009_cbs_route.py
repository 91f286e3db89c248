"""the CBS route: designated recipients (the public keys suppliers seal identities to, approved by a second
officer), the microdata deliveries made for them and the tables that came back (external releases)

Revision ID: 0009_cbs_route
Revises: 0008_school_places
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_cbs_route"
down_revision = "0008_school_places"
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
    op.create_table(
        "recipient_releases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(32), sa.ForeignKey("requests.id"), nullable=True, unique=True),
        sa.Column("recipient", sa.String(100), sa.ForeignKey("recipients.name"), nullable=False),
        sa.Column("project", sa.String(64), nullable=False),
        sa.Column("job_id", sa.String(32), sa.ForeignKey("jobs.id"), nullable=True),
        sa.Column("derived_from", sa.String(32), sa.ForeignKey("recipient_releases.id"), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("recipient_releases")
    op.drop_table("recipients")
