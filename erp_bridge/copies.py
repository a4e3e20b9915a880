"""Read-only copies of the ERP's accounting data for reports: products, customer
invoices and credit notes (with the day each was paid in full), sales orders.

Copies are pulled like the synced entities (changes since the saved position, the
rewind window re-checked by ids and dates), but never pushed: the ERP's copy is the
reference. A copy whose ``write_date`` is the one copied is skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.duplicates.merge import merged_into
from crm_core.models import Company, Contact, Invoice, Product, SalesOrder, SalesOrderLine
from erp_bridge.catalogue import COPIES, Copy
from erp_bridge.report import ModelReport

if TYPE_CHECKING:
    from erp_bridge.importer import Importer

#: The local table of each copied entity.
LOCAL: dict[str, type] = {"product": Product, "invoice": Invoice, "sales_order": SalesOrder}


class Copier:
    """Pulls the read-only copies through an :class:`~erp_bridge.importer.Importer`'s
    page streams and per-record failure handling, from where the adapter's catalogue
    says (:class:`~erp_bridge.catalogue.Copy`)."""

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
        catalogue = self.ctx.adapter.catalogue
        for model in catalogue.copy_lookups:
            self.ctx.reference(model)
        for entity in COPIES:
            if entity in only and entity in catalogue.copies:
                self._pull(entity, catalogue.copies[entity], rep_for(entity), full)

    def _pull(self, entity: str, spec: Copy, rep: ModelReport, full: bool) -> None:
        backend = self.ctx.binder.backend
        table = LOCAL[entity]
        extras: dict[int, dict[str, Any]] = {}

        def apply(s: Session, r: dict[str, Any], rep: ModelReport) -> None:
            row = _upsert(s, table, backend, r, rep, self.ctx.applied)
            if row is None:
                return
            values = spec.values(r, extras.get(int(r["id"]), {}), self.ctx)
            lines = values.pop("lines", None)
            for name, value in values.items():
                if name == "partner":
                    row.company_id, row.contact_id = self._party(s, value)
                else:
                    setattr(row, name, value)
            if lines is not None:
                self._lines(s, row, lines)

        for page in self.importer.pages(
            entity, spec.model, list(spec.fields), spec.domain, full, self._copied(table)
        ):
            extras = spec.page(self.ctx.adapter, page) if spec.page else {}
            self.importer.apply_each(entity, page, rep, apply)

    def _lines(self, s: Session, order: Any, lines: list[dict[str, Any]]) -> None:
        """Replace a sales order's lines with ``lines`` (see :class:`Copy`)."""
        backend = self.ctx.binder.backend
        s.flush()
        for old in s.scalars(select(SalesOrderLine).where(SalesOrderLine.order_id == order.id)):
            s.delete(old)
        for line in lines:
            product = s.scalars(
                select(Product).where(
                    Product.backend == backend, Product.remote_id == (line["product"] or 0)
                )
            ).first()
            s.add(
                SalesOrderLine(
                    order_id=order.id,
                    remote_id=line["remote_id"],
                    product_id=product.id if product else None,
                    description=line["description"],
                    quantity=line["quantity"],
                    price_subtotal=line["price_subtotal"],
                )
            )

    def _party(self, s: Session, partner: int | None) -> tuple[int | None, int | None]:
        """A remote partner id as (company id, contact id) through the links; a record
        merged away (whose partner the ERP still names on its old invoices) gives the
        record it was merged into."""
        if not partner:
            return None, None
        company = self.ctx.local_id("company", partner)
        if company is not None:
            return _surviving(s, Company, company), None
        contact = self.ctx.local_id("contact", partner)
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
