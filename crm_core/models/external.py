"""Links to records in an external system (an ERP) and the data pulled from it.

crm_core knows no ERP: these tables only say "this local record is that remote record
of that backend", what both sides last agreed on, and keep read-only copies of the
accounting data (invoices, sales orders, products) that reports use.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, Money, UTCDateTime


class ExternalLink(Base):
    """The binder: local record <-> remote record, with the last-synced values.

    ``synced`` holds the field values (in local terms) both sides had after the last
    successful sync: the base of the three-way merge and of echo suppression.
    """

    __tablename__ = "external_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40))
    local_id: Mapped[int] = mapped_column()
    remote_model: Mapped[str] = mapped_column(String(80))
    remote_id: Mapped[int] = mapped_column()
    synced: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    remote_write_date: Mapped[str | None] = mapped_column(String(40))
    synced_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index("uq_external_links_local", "backend", "entity", "local_id", unique=True),
        Index("uq_external_links_remote", "backend", "remote_model", "remote_id", unique=True),
    )


class SyncState(Base):
    """Small per-backend state: pull cursors per remote model, the push cursor."""

    __tablename__ = "sync_state"
    backend: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[str] = mapped_column(String(400))


#: What a sync run can end as: ``running`` while it runs (its heartbeat fresh),
#: ``done`` clean, ``done_with_errors`` when some records failed (they are kept in
#: ``sync_failures``), ``failed`` when the run could not go on (the ERP unreachable,
#: refusing, timing out) and ``interrupted`` when its process died.
RUN_STATUSES = ("running", "done", "done_with_errors", "failed", "interrupted")


class SyncRun(Base):
    """One sync run and its report (counts, conflicts and errors per model)."""

    __tablename__ = "sync_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200), index=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Refreshed by a running sync every few seconds: a "running" run whose heartbeat
    #: has gone stale was killed, and is shown (then stored) as interrupted.
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: Why a failed run stopped (the ERP's own message).
    reason: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (
        # One running sync per backend at a time: a second one is refused.
        Index(
            "uq_sync_runs_running",
            "backend",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )


class SyncFailure(Base):
    """A record that failed to pull or push, kept until a later run gets it through.

    ``record_id`` is the remote id for a pull and the local id for a push. Every run
    retries what is listed here, whatever its cursors say.
    """

    __tablename__ = "sync_failures"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(4))
    record_id: Mapped[int] = mapped_column()
    error: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=1)
    first_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_failed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (
        Index(
            "uq_sync_failures_record", "backend", "entity", "direction", "record_id", unique=True
        ),
    )


class SyncConflict(Base):
    """A field both sides changed since the last sync, and how it was decided."""

    __tablename__ = "sync_conflicts"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40))
    local_id: Mapped[int] = mapped_column()
    remote_model: Mapped[str] = mapped_column(String(80))
    remote_id: Mapped[int] = mapped_column()
    field: Mapped[str] = mapped_column(String(80))
    base_value: Mapped[str | None] = mapped_column(Text)
    local_value: Mapped[str | None] = mapped_column(Text)
    remote_value: Mapped[str | None] = mapped_column(Text)
    winner: Mapped[str] = mapped_column(String(10))
    rule: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(10), default="open")
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (Index("ix_sync_conflicts_open", "backend", "status"),)


#: A queued match: ``open`` waits for a person; ``decided`` is applied by the next run;
#: ``applied`` is kept until the other direction has seen the candidates left over.
MATCH_STATUSES = ("open", "decided", "applied")


class SyncMatch(Base):
    """A record a sync found several candidate twins for on the other side, and created
    nowhere: the review queue of ambiguous matches.

    ``direction`` ``pull`` is a remote record (``record_id`` remote) with local
    candidates, ``push`` a local record with remote ones. ``candidates`` lists each as
    ``{"id": ..., "keys": ["email", ...], "name": ...}``. A person decides by setting
    ``choice`` (a candidate's id, or None for "a record of its own") and ``status``
    ``decided``; the next run links or creates accordingly.
    """

    __tablename__ = "sync_matches"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    entity: Mapped[str] = mapped_column(String(40))
    direction: Mapped[str] = mapped_column(String(4))
    record_id: Mapped[int] = mapped_column()
    #: What the record is, for the reviewer: its name and keys as seen then.
    label: Mapped[str] = mapped_column(Text)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(10), default="open")
    choice: Mapped[int | None] = mapped_column()
    detected_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    __table_args__ = (
        Index("uq_sync_matches_record", "backend", "entity", "direction", "record_id", unique=True),
    )


class Product(Base):
    """A product as the ERP sells it (read-only copy)."""

    __tablename__ = "erp_products"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    remote_id: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(300))
    default_code: Mapped[str | None] = mapped_column(String(100))
    list_price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The ERP's write_date of the copy: a re-read record with the same one is skipped.
    remote_write_date: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("uq_erp_products_remote", "backend", "remote_id", unique=True),)


class Invoice(Base):
    """A customer invoice or credit note from the books (read-only copy)."""

    __tablename__ = "erp_invoices"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    remote_id: Mapped[int] = mapped_column()
    number: Mapped[str | None] = mapped_column(String(100))
    move_type: Mapped[str] = mapped_column(String(20))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    invoice_date: Mapped[dt.date | None] = mapped_column(Date)
    due_date: Mapped[dt.date | None] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3))
    amount_untaxed: Mapped[Decimal] = mapped_column(Money)
    amount_total: Mapped[Decimal] = mapped_column(Money)
    amount_residual: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(20))
    payment_state: Mapped[str | None] = mapped_column(String(20))
    #: The day the invoice was paid in full (the last payment's date), when it is.
    paid_on: Mapped[dt.date | None] = mapped_column(Date)
    #: The ERP's write_date of the copy: a re-read record with the same one is skipped.
    remote_write_date: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("uq_erp_invoices_remote", "backend", "remote_id", unique=True),)


class SalesOrder(Base):
    """A sales order from the ERP (read-only copy)."""

    __tablename__ = "erp_sales_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    backend: Mapped[str] = mapped_column(String(200))
    remote_id: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(100))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    ordered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    currency: Mapped[str] = mapped_column(String(3))
    amount_total: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(20))
    #: The ERP's write_date of the copy: a re-read record with the same one is skipped.
    remote_write_date: Mapped[str | None] = mapped_column(String(40))
    __table_args__ = (Index("uq_erp_sales_orders_remote", "backend", "remote_id", unique=True),)


class SalesOrderLine(Base):
    """A line of a sales order: product and quantity (read-only copy)."""

    __tablename__ = "erp_sales_order_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(
        ForeignKey("erp_sales_orders.id", ondelete="CASCADE"), index=True
    )
    remote_id: Mapped[int] = mapped_column()
    product_id: Mapped[int | None] = mapped_column(ForeignKey("erp_products.id"))
    description: Mapped[str | None] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    price_subtotal: Mapped[Decimal] = mapped_column(Money)
