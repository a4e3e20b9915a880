"""sync_matches: the review queue of ambiguous first-sync matches

A sync that meets a record with no twin on the other side first looks for one by
e-mail, VAT and phone. When it finds several candidates it creates nothing and queues
the record here, with its candidates, until a person chooses one (or "a record of its
own"); the next run applies the choice.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-11 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(200), nullable=False),
        sa.Column("entity", sa.String(40), nullable=False),
        sa.Column("direction", sa.String(4), nullable=False),
        sa.Column("record_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("choice", sa.Integer(), nullable=True),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_sync_matches_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_matches")),
    )
    op.create_index(
        "uq_sync_matches_record",
        "sync_matches",
        ["backend", "entity", "direction", "record_id"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_sync_matches_record", table_name="sync_matches")
    op.drop_table("sync_matches")
