"""exchange_rates: the rate table money is converted with

One row per currency pair and day: on ``day`` one unit of ``base`` is worth ``rate``
units of ``currency`` (the ERP's convention), with where it came from (``erp``, ``file``,
``manual``). Conversions take the latest rate on or before a record's date.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "exchange_rates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("base", sa.String(3), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("rate", sa.Numeric(36, 18), nullable=False),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_rates")),
    )
    op.create_index(
        "uq_exchange_rates_pair_day",
        "exchange_rates",
        ["currency", "base", "day"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_exchange_rates_pair_day", table_name="exchange_rates")
    op.drop_table("exchange_rates")
