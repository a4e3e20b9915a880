"""amounts stored before 0014 rounded to their own currency's minor units

Before 0014 every amount was stored with two decimals whatever its currency, so a JPY
deal could hold 1500.50 yen. Since 0014 crm_core rounds each amount it writes to its
currency's minor units (JPY none, KWD 3); this revision does the same to the amounts
already stored: each amount in a currency with fewer than two minor units (JPY, KRW,
ISK, ...) is rounded half up to them (1500.50 JPY -> 1501). Amounts in currencies with
two or three minor units need nothing: two decimals fit them as they are.

A deal's expected revenue or a campaign's cost that changes is journaled like any
other change (old and new value, origin ``migration:0015``), so the value it had is
kept and a sync sends the rounded one to the ERP. The ERP's copies (invoices, orders,
order lines, products) are rounded as the sync rounds them and not journaled: the ERP
holds them.

Rows are read by currency, in pages of ``BATCH`` (keyset on id), so a large workspace
migrates in bounded memory. The downgrade changes nothing: the values before are in
the journal.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 10:00:00
"""

import datetime as dt
import json
from decimal import Decimal

import sqlalchemy as sa
from alembic import op

from crm_core.models.base import UTCDateTime
from crm_core.money.units import minor_units, quantize

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BATCH = 5000
ORIGIN = "migration:0015"
#: table -> (money columns, journaled); the currency is the row's own ``currency``.
_MONEY = {
    "opportunities": (("expected_revenue",), True),
    "campaigns": (("cost",), True),
    "erp_products": (("list_price",), False),
    "erp_invoices": (("amount_untaxed", "amount_total", "amount_residual"), False),
    "erp_sales_orders": (("amount_total",), False),
}
_JOURNAL = sa.table(
    "journal",
    sa.column("at", UTCDateTime()),
    sa.column("user_id", sa.Integer),
    sa.column("entity", sa.String),
    sa.column("record_id", sa.Integer),
    sa.column("action", sa.String),
    sa.column("field", sa.String),
    sa.column("old", sa.Text),
    sa.column("new", sa.Text),
    sa.column("origin", sa.String),
)


def _coarse(conn: sa.Connection, table: sa.TableClause) -> list[str]:
    """The currencies of ``table`` whose amounts keep fewer than two decimals."""
    codes = conn.execute(sa.select(table.c.currency).distinct()).scalars()
    return sorted(c for c in codes if c and minor_units(c) < 2)


def _round(conn: sa.Connection, name: str, columns: tuple[str, ...], journaled: bool) -> None:
    table = sa.table(
        name,
        sa.column("id", sa.Integer),
        sa.column("currency", sa.String),
        *(sa.column(c, sa.Numeric(20, 4, asdecimal=True)) for c in columns),
    )
    now = dt.datetime.now(dt.UTC)
    for currency in _coarse(conn, table):
        last = 0
        while True:
            rows = conn.execute(
                sa.select(table)
                .where(table.c.currency == currency, table.c.id > last)
                .order_by(table.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            last = rows[-1].id
            for row in rows:
                changed = {}
                for column in columns:
                    old = getattr(row, column)
                    if old is None:
                        continue
                    new = quantize(Decimal(old), currency)
                    if new != old:
                        changed[column] = (old, new)
                if not changed:
                    continue
                conn.execute(
                    table.update()
                    .where(table.c.id == row.id)
                    .values({c: new for c, (_old, new) in changed.items()})
                )
                if journaled:
                    conn.execute(
                        _JOURNAL.insert(),
                        [
                            {
                                "at": now,
                                "user_id": None,
                                "entity": name,
                                "record_id": row.id,
                                "action": "update",
                                "field": column,
                                "old": json.dumps(format(Decimal(old), "f")),
                                "new": json.dumps(format(new, "f")),
                                "origin": ORIGIN,
                            }
                            for column, (old, new) in changed.items()
                        ],
                    )


def _round_order_lines(conn: sa.Connection) -> None:
    """Order lines carry no currency: theirs is their order's."""
    orders = sa.table("erp_sales_orders", sa.column("id"), sa.column("currency"))
    lines = sa.table(
        "erp_sales_order_lines",
        sa.column("id", sa.Integer),
        sa.column("order_id", sa.Integer),
        sa.column("price_subtotal", sa.Numeric(20, 4, asdecimal=True)),
    )
    for currency in _coarse(conn, orders):
        last = 0
        while True:
            rows = conn.execute(
                sa.select(lines.c.id, lines.c.price_subtotal)
                .join(orders, orders.c.id == lines.c.order_id)
                .where(orders.c.currency == currency, lines.c.id > last)
                .order_by(lines.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                break
            last = rows[-1].id
            for line_id, old in rows:
                new = quantize(Decimal(old), currency)
                if new != old:
                    conn.execute(
                        lines.update().where(lines.c.id == line_id).values(price_subtotal=new)
                    )


def upgrade() -> None:
    conn = op.get_bind()
    for name, (columns, journaled) in _MONEY.items():
        _round(conn, name, columns, journaled)
    _round_order_lines(conn)


def downgrade() -> None:
    """Nothing to undo: the values before the rounding are in the journal."""
