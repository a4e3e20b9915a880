"""a language per staff member

``users.language``: the language the staff app speaks to that user (a code such as
``ur`` or ``bn``; empty means the workspace's default).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("language")
