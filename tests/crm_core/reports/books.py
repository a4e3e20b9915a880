"""ERP invoice copies for report tests, as erp_bridge stores them."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from crm_core.models import Invoice


def posted(
    n: int,
    day: str,
    untaxed: str,
    currency: str = "PKR",
    *,
    company: int | None = None,
    contact: int | None = None,
    **more: Any,
) -> Invoice:
    """The ERP's posted invoice #``n`` of ``untaxed`` (tax 0, paid: no residual) on
    ``day``; a negative amount is a credit note of that much. ``more`` sets any other
    column (payment_state, due_date, amount_residual, ...)."""
    amount = Decimal(untaxed)
    fields: dict[str, Any] = {
        "backend": "odoo-test",
        "remote_id": n,
        "number": f"INV/{n}",
        "move_type": "out_refund" if amount < 0 else "out_invoice",
        "state": "posted",
        "company_id": company,
        "contact_id": contact,
        "currency": currency,
        "amount_untaxed": abs(amount),
        "amount_total": abs(amount),
        "amount_residual": Decimal(0),
        "invoice_date": dt.date.fromisoformat(day),
    }
    return Invoice(**{**fields, **more})
