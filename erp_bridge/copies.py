"""Read-only copies of the ERP's accounting data for reports: products, customer
invoices and credit notes (with the day each was paid in full), sales orders.

Copies are pulled like the synced entities (changes since the saved position, the
rewind window re-checked by ids and dates), but never pushed: the ERP's copy is the
reference. A copy whose ``write_date`` is the one copied is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.duplicates.merge import merged_into
from crm_core.models import Company, Contact, Invoice, Product, SalesOrder, SalesOrderLine
from erp_bridge.report import ModelReport

if TYPE_CHECKING:
    from erp_bridge.importer import Importer

#: The copied entities and the Odoo model each comes from.
COPIES = {"product": "product.product", "invoice": "account.move", "sales_order": "sale.order"}


class Copier:
    """Pulls the read-only copies through an :class:`~erp_bridge.importer.Importer`'s
    page streams and per-record failure handling."""

    def __init__(self, importer: Importer):
        self.importer = importer
        self.ctx = importer.ctx
        self.transaction = importer.transaction

    def pull(
        self, rep_for: Callable[[str], ModelReport], full: bool, only: Collection[str]
    ) -> None:
        """Products, customer invoices and sales orders (those of them in ``only``):
        read-only copies for reports. A copy whose ``write_date`` is the one copied is
        skipped."""
        currencies = self.ctx.reference("res.currency")

        def currency(value: Any) -> str:
            return str(currencies.get(value[0], {}).get("name", "")) if value else ""

        if "product" in only:
            self._pull_products(rep_for("product"), full, currency)
        if "invoice" in only:
            self._pull_invoices(rep_for("invoice"), full, currency)
        if "sales_order" in only:
            self._pull_orders(rep_for("sales_order"), full, currency)

    def _pull_products(self, rep: ModelReport, full: bool, currency: Callable[[Any], str]) -> None:
        backend = self.ctx.binder.backend

        def apply(s: Session, r: dict[str, Any], rep: ModelReport) -> None:
            row = _upsert(s, Product, backend, r, rep, self.ctx.applied)
            if row is None:
                return
            row.name, row.default_code = r["name"], r["default_code"] or None
            row.list_price, row.currency = _money(r["list_price"]), currency(r["currency_id"])
            row.active = bool(r["active"])

        for page in self.importer.pages(
            "product",
            COPIES["product"],
            ["name", "default_code", "list_price", "currency_id", "active"],
            [],
            full,
            self._copied(Product),
        ):
            self.importer.apply_each("product", page, rep, apply)

    def _pull_invoices(self, rep: ModelReport, full: bool, currency: Callable[[Any], str]) -> None:
        backend = self.ctx.binder.backend
        fields = [
            "name",
            "move_type",
            "partner_id",
            "invoice_date",
            "invoice_date_due",
            "currency_id",
            "amount_untaxed",
            "amount_total",
            "amount_residual",
            "state",
            "payment_state",
        ]
        paid_on: dict[int, dt.date] = {}

        def apply(s: Session, r: dict[str, Any], rep: ModelReport) -> None:
            inv = _upsert(s, Invoice, backend, r, rep, self.ctx.applied)
            if inv is None:
                return
            inv.number = r["name"] if r["name"] and r["name"] != "/" else None
            inv.move_type, inv.state = r["move_type"], r["state"]
            inv.company_id, inv.contact_id = self._party(s, r["partner_id"])
            inv.invoice_date = _date(r["invoice_date"])
            inv.due_date = _date(r["invoice_date_due"])
            inv.currency = currency(r["currency_id"])
            inv.amount_untaxed = _money(r["amount_untaxed"])
            inv.amount_total = _money(r["amount_total"])
            inv.amount_residual = _money(r["amount_residual"])
            inv.payment_state = r["payment_state"] or None
            inv.paid_on = paid_on.get(int(r["id"]))

        for page in self.importer.pages(
            "invoice",
            COPIES["invoice"],
            fields,
            [["move_type", "in", ["out_invoice", "out_refund"]]],
            full,
            self._copied(Invoice),
        ):
            paid_on = self._paid_on(page)
            self.importer.apply_each("invoice", page, rep, apply)

    def _pull_orders(self, rep: ModelReport, full: bool, currency: Callable[[Any], str]) -> None:
        backend = self.ctx.binder.backend
        lines: list[dict[str, Any]] = []

        def apply(s: Session, r: dict[str, Any], rep: ModelReport) -> None:
            order = _upsert(s, SalesOrder, backend, r, rep, self.ctx.applied)
            if order is None:
                return
            order.name, order.state = r["name"], r["state"]
            order.company_id, order.contact_id = self._party(s, r["partner_id"])
            order.ordered_at = _datetime(r["date_order"])
            order.currency = currency(r["currency_id"])
            order.amount_total = _money(r["amount_total"])
            s.flush()
            for old in s.scalars(select(SalesOrderLine).where(SalesOrderLine.order_id == order.id)):
                s.delete(old)
            for line in lines:
                if line["order_id"][0] != r["id"]:
                    continue
                product = s.scalars(
                    select(Product).where(
                        Product.backend == backend,
                        Product.remote_id == (line["product_id"] or [0])[0],
                    )
                ).first()
                s.add(
                    SalesOrderLine(
                        order_id=order.id,
                        remote_id=line["id"],
                        product_id=product.id if product else None,
                        description=line["name"] or None,
                        quantity=Decimal(str(line["product_uom_qty"])),
                        price_subtotal=_money(line["price_subtotal"]),
                    )
                )

        for page in self.importer.pages(
            "sales_order",
            COPIES["sales_order"],
            [
                "name",
                "partner_id",
                "date_order",
                "currency_id",
                "amount_total",
                "state",
                "order_line",
            ],
            [],
            full,
            self._copied(SalesOrder),
        ):
            lines = self.ctx.adapter.read(
                "sale.order.line",
                [i for r in page for i in r["order_line"]],
                ["order_id", "product_id", "name", "product_uom_qty", "price_subtotal"],
            )
            self.importer.apply_each("sales_order", page, rep, apply)

    def _paid_on(self, page: list[dict[str, Any]]) -> dict[int, dt.date]:
        """The day each fully paid invoice of ``page`` was paid: the latest date among
        the payments reconciled with it, read from Odoo's own payments widget (one
        read per page, of the paid invoices only). A payment Odoo 18 records without
        a journal entry is not in the widget; such an invoice gets no day."""
        paid = [int(r["id"]) for r in page if r["payment_state"] in ("paid", "in_payment")]
        if not paid:
            return {}
        out: dict[int, dt.date] = {}
        for r in self.ctx.adapter.read("account.move", paid, ["invoice_payments_widget"]):
            widget = r.get("invoice_payments_widget") or {}
            found = (_date(p.get("date")) for p in widget.get("content") or [])
            days = [d for d in found if d is not None]
            if days:
                out[int(r["id"])] = max(days)
        return out

    def _party(self, s: Session, partner: Any) -> tuple[int | None, int | None]:
        """A partner many2one as (company id, contact id) through the links; a record
        merged away (whose partner the ERP still names on its old invoices) gives the
        record it was merged into."""
        if not partner:
            return None, None
        company = self.ctx.local_id("company", partner[0])
        if company is not None:
            return _surviving(s, Company, company), None
        contact = self.ctx.local_id("contact", partner[0])
        if contact is None:
            return None, None
        contact = _surviving(s, Contact, contact)
        person = s.get(Contact, contact)
        return (person.company_id if person else None), contact

    def _copied(self, model: Any) -> Callable[[], dict[int, str | None]]:
        """What is copied of a read-only model: remote id -> ``write_date``."""
        backend = self.ctx.binder.backend

        def known() -> dict[int, str | None]:
            with self.transaction() as s:
                rows = s.execute(
                    select(model.remote_id, model.remote_write_date).where(model.backend == backend)
                )
                return {int(rid): stamp for rid, stamp in rows}

        return known


def _surviving(s: Session, model: Any, record_id: int) -> int:
    """``record_id``, or the record it was merged into (and so on) when it was merged
    away: an archived record's merge marker is looked up, an active one's is not."""
    seen = {record_id}
    while True:
        record = s.get(model, record_id)
        if record is None or record.active:
            return record_id
        kept = merged_into(s, model.__tablename__, record_id)
        if kept is None or kept in seen:
            return record_id
        seen.add(kept)
        record_id = kept


def _upsert(
    s: Session,
    model: type,
    backend: str,
    record: dict[str, Any],
    rep: ModelReport,
    applied: Callable[[str | None], str | None],
) -> Any:
    """The copy of ``record`` to fill in (created if new), or None when it already holds
    this ``write_date`` (counted as skipped). ``applied`` gives the ``write_date`` to
    remember (RunContext.applied)."""
    table: Any = model
    remote_id = int(record["id"])
    row = s.scalars(
        select(table).where(table.backend == backend, table.remote_id == remote_id)
    ).first()
    if row is None:
        row = model(backend=backend, remote_id=remote_id)
        s.add(row)
        rep.created += 1
    elif record.get("write_date") and row.remote_write_date == record["write_date"]:
        rep.skipped += 1
        return None
    else:
        rep.updated += 1
    row.remote_write_date = applied(record.get("write_date"))
    return row


def _money(value: Any) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _date(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if value else None


def _datetime(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
