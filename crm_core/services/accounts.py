"""The books, read-only: invoices, sales orders and products copied from an ERP.

The ERP owns these records; a sync keeps local copies (crm_core.models.external) so
that the CRM can show a customer's invoices and open balance without asking the ERP.
Nothing here writes. Invoices and sales orders follow their customer: a sales user
sees those of the customers they own (``crm_core.access.invoice_clauses``, the rule of
the customer reports and the dashboard's revenue), and their open balance only; a
manager or an admin sees every one. Products are everyone's; the ERP links of a deal
or an activity follow that record (crm_core.access).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Select, and_, case, cast, func, select

from crm_core import text
from crm_core import validation as v
from crm_core.access import invoice_clauses, link_clauses, sales_order_clauses
from crm_core.errors import FieldError, ValidationError
from crm_core.models import ExternalLink, Invoice, Product, SalesOrder
from crm_core.models.base import MONEY_SCALE, money_value
from crm_core.money import quantize
from crm_core.services.base import Service

MAX_PAGE = 10_000
INVOICE_COLUMNS = [
    "id",
    "backend",
    "number",
    "move_type",
    "company_id",
    "contact_id",
    "invoice_date",
    "due_date",
    "currency",
    "amount_untaxed",
    "amount_total",
    "amount_residual",
    "state",
    "payment_state",
]
ORDER_COLUMNS = [
    "id",
    "backend",
    "name",
    "company_id",
    "contact_id",
    "ordered_at",
    "currency",
    "amount_total",
    "state",
]
PRODUCT_COLUMNS = ["id", "backend", "name", "default_code", "list_price", "currency", "active"]
LINK_COLUMNS = ["backend", "remote_model", "remote_id", "synced_at"]
#: Payment states whose residual is no longer owed, whatever the ERP left in it.
SETTLED = ("paid", "reversed")
#: The moves of a customer's account: invoices, and credit notes (which subtract).
CUSTOMER_MOVES = ("out_invoice", "out_refund")


# -- the open balance, defined once ---------------------------------------------------------
def is_open(inv: Any = Invoice) -> Any:
    """SQL: whether an invoice or credit note is open, i.e. counts in its customer's
    open balance: a posted customer invoice or credit note with a residual left
    (non-zero) whose payment state is neither paid nor reversed. ``inv``: the Invoice
    entity or an alias of it."""
    return and_(
        inv.state == "posted",
        inv.move_type.in_(CUSTOMER_MOVES),
        inv.amount_residual != 0,
        func.coalesce(inv.payment_state, "").not_in(SETTLED),
    )


def open_residual(inv: Any = Invoice) -> Any:
    """SQL: what one invoice or credit note adds to its customer's open balance, in
    whole units of the fourth decimal (all a Money column keeps, KWD's third decimal
    too: an exact integer sum on every backend, where SQLite keeps NUMERIC as floating
    point): the residual of an open invoice, minus that of an open credit note (an
    unpaid credit note is owed back to the customer, as the ERP nets it), 0 when not
    :func:`is_open`. The open balance (``ws.accounts.open_balance``, the
    ``sales_per_customer`` report and its aging buckets) is the sum of this."""
    units = cast(func.round(inv.amount_residual * 10**MONEY_SCALE), BigInteger)
    signed = case((inv.move_type == "out_refund", -units), else_=units)
    return case((is_open(inv), signed), else_=0)


def units_value(total: Any, currency: str) -> Decimal:
    """A sum of :func:`open_residual` (whole units of the fourth decimal) as an amount
    in ``currency``'s minor units."""
    return money_value(quantize(Decimal(int(total or 0)).scaleb(-MONEY_SCALE), currency))


class Accounts(Service):
    """Accounting copies from the ERP, read-only: ``ws.accounts``."""

    entity = "account"

    def links(self, entity: str, record_id: int) -> pd.DataFrame:
        """The ERP records a local ``entity`` (company, contact, opportunity, ...) is
        synced with: one row per backend (backend, remote_model, remote_id, synced_at).
        Empty when the record has never been synced, or is a deal or activity the
        acting user may not see."""
        link = ExternalLink
        if not _askable(entity) or not v.is_id(record_id):
            return pd.DataFrame(columns=LINK_COLUMNS)  # no such record: no links
        query = (
            select(link.backend, link.remote_model, link.remote_id, link.synced_at)
            .where(link.entity == entity, link.local_id == record_id)
            .where(*link_clauses(self.ws, link.entity, link.local_id))
            .order_by(link.backend)
        )
        with self._tx() as s:
            rows = [dict(r) for r in s.execute(query).mappings()]
        return pd.DataFrame(rows, columns=LINK_COLUMNS)

    def is_synced(self, entity: str, record_id: int) -> bool:
        """Whether the record is linked to a record of at least one ERP (False for a
        deal or activity the acting user may not see)."""
        link = ExternalLink
        if not _askable(entity) or not v.is_id(record_id):
            return False
        with self._tx() as s:
            found = s.scalar(
                select(link.id)
                .where(link.entity == entity, link.local_id == record_id)
                .where(*link_clauses(self.ws, link.entity, link.local_id))
                .limit(1)
            )
        return found is not None

    def invoices(
        self,
        *,
        company_id: int | None = None,
        contact_id: int | None = None,
        open_only: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Customer invoices and credit notes, newest first, one page as a DataFrame (a
        sales user: those of the customers they own).

        ``company_id`` includes the invoices addressed to the company's contacts (the
        sync files those under the company too); ``contact_id`` only those addressed
        to that person. ``open_only`` keeps posted ones with something left to pay.
        """
        _check_page("invoice list", limit, offset)
        i = Invoice
        query = select(*(getattr(i, c) for c in INVOICE_COLUMNS)).where(
            *self._invoice_clauses(company_id, contact_id)
        )
        if open_only:
            query = query.where(is_open(i))
        query = query.order_by(i.invoice_date.desc().nulls_last(), i.id.desc())
        with self._tx() as s:
            rows = [dict(r) for r in s.execute(query.limit(limit).offset(offset)).mappings()]
        return pd.DataFrame(rows, columns=INVOICE_COLUMNS)

    def open_balance(
        self, *, company_id: int | None = None, contact_id: int | None = None
    ) -> dict[str, Decimal]:
        """What the customer still owes, per currency: the residual of its open invoices
        less that of its open credit notes (:func:`open_residual`, the definition the
        ``sales_per_customer`` report uses too), summed in SQL (a sales user: over the
        customers they own). Negative when the customer is owed money back. Currencies
        with posted invoices or credit notes appear even when nothing is owed (0.00);
        none at all gives ``{}``."""
        i = Invoice
        query = (
            select(i.currency, func.coalesce(func.sum(open_residual(i)), 0))
            .where(*self._invoice_clauses(company_id, contact_id), i.state == "posted")
            .group_by(i.currency)
            .order_by(i.currency)
        )
        with self._tx() as s:
            rows = s.execute(query).all()
        return {currency: units_value(total, currency) for currency, total in rows}

    def _invoice_clauses(self, company_id: int | None, contact_id: int | None) -> list[Any]:
        _check_ids("invoice list", company_id=company_id, contact_id=contact_id)
        clauses: list[Any] = [
            Invoice.move_type.in_(CUSTOMER_MOVES),
            *invoice_clauses(self.ws),
        ]
        if company_id is not None:
            clauses.append(Invoice.company_id == company_id)
        if contact_id is not None:
            clauses.append(Invoice.contact_id == contact_id)
        return clauses

    def sales_orders(
        self,
        *,
        company_id: int | None = None,
        contact_id: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Sales orders, newest first, one page as a DataFrame (a sales user: those of
        the customers they own)."""
        _check_page("sales order list", limit, offset)
        _check_ids("sales order list", company_id=company_id, contact_id=contact_id)
        o = SalesOrder
        query: Select[Any] = select(*(getattr(o, c) for c in ORDER_COLUMNS)).where(
            *sales_order_clauses(self.ws)
        )
        if company_id is not None:
            query = query.where(o.company_id == company_id)
        if contact_id is not None:
            query = query.where(o.contact_id == contact_id)
        query = query.order_by(o.ordered_at.desc().nulls_last(), o.id.desc())
        with self._tx() as s:
            rows = [dict(r) for r in s.execute(query.limit(limit).offset(offset)).mappings()]
        return pd.DataFrame(rows, columns=ORDER_COLUMNS)

    def products(
        self,
        q: str | None = None,
        *,
        include_archived: bool = False,
        limit: int = 100,
        offset: int = 0,
    ) -> pd.DataFrame:
        """Products by name, one page as a DataFrame; ``q`` is a piece of the name or
        of the internal reference, any case."""
        _check_page("product list", limit, offset)
        p = Product
        query: Select[Any] = select(*(getattr(p, c) for c in PRODUCT_COLUMNS))
        if not include_archived:
            query = query.where(p.active.is_(True))
        try:
            needle = text.clean(v.query_text(q))
        except v.Reject as exc:
            raise ValidationError([FieldError("product list", "q", q, str(exc))]) from None
        if needle:
            query = query.where(
                p.name.icontains(needle, autoescape=True)
                | p.default_code.icontains(needle, autoescape=True)
            )
        query = query.order_by(p.name, p.id)
        with self._tx() as s:
            rows = [dict(r) for r in s.execute(query.limit(limit).offset(offset)).mappings()]
        return pd.DataFrame(rows, columns=PRODUCT_COLUMNS)


def _check_page(record: str, limit: Any, offset: Any) -> None:
    ok = type(limit) is int and type(offset) is int
    if not ok or not (0 < limit <= MAX_PAGE) or not (0 <= offset <= v.MAX_ID):
        raise ValidationError(
            [FieldError(record, "limit", limit, f"must be 1..{MAX_PAGE} with offset >= 0")]
        )


def _askable(value: Any) -> bool:
    """Whether ``value`` is text a database can be asked about."""
    try:
        return v.query_text(value) is not None
    except v.Reject:
        return False


def _check_ids(record: str, **ids: Any) -> None:
    """Refuse a record filter that cannot be a record's id."""
    errors = [
        FieldError(record, name, given, "is not a record id")
        for name, given in ids.items()
        if given is not None and not v.is_id(given)
    ]
    if errors:
        raise ValidationError(errors)
