"""users.team and erp_invoices.paid_on, for reports

Reports are filtered by team as well as by owner, and measure days to pay from the
day an invoice was paid in full.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 05:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("team", sa.String(100), nullable=True))
    with op.batch_alter_table("erp_invoices") as batch:
        batch.add_column(sa.Column("paid_on", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("erp_invoices") as batch:
        batch.drop_column("paid_on")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("team")
