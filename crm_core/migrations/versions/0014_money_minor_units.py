"""money columns hold each currency's minor units: NUMERIC(18, 2) -> NUMERIC(20, 4)

Two places could not hold a KWD/BHD/OMR amount's third decimal. Every money column
(a deal's expected revenue, a campaign's cost, the ERP copies' prices and totals) now
holds up to 4; crm_core rounds each amount to its own currency's minor units before
writing it. Existing amounts keep their value (1500.50 stays 1500.50). SQLite
rebuilds each table (batch mode); PostgreSQL alters the column in place.

Downgrading rounds amounts back to 2 places (a KWD 1.235 becomes 1.24).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 06:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Every money column: table -> ((column, nullable), ...).
_MONEY = {
    "opportunities": (("expected_revenue", False),),
    "campaigns": (("cost", True),),
    "erp_products": (("list_price", False),),
    "erp_invoices": (
        ("amount_untaxed", False),
        ("amount_total", False),
        ("amount_residual", False),
    ),
    "erp_sales_orders": (("amount_total", False),),
    "erp_sales_order_lines": (("price_subtotal", False),),
}
_OLD = sa.Numeric(18, 2)
_NEW = sa.Numeric(20, 4)


def _alter(old: sa.Numeric, new: sa.Numeric) -> None:
    for table, columns in _MONEY.items():
        with op.batch_alter_table(table) as batch:
            for column, nullable in columns:
                batch.alter_column(column, type_=new, existing_type=old, existing_nullable=nullable)


def upgrade() -> None:
    _alter(_OLD, _NEW)


def downgrade() -> None:
    _alter(_NEW, _OLD)
