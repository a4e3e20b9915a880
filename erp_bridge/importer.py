"""Pull: read what changed in the ERP since the cursor and apply it locally."""

from __future__ import annotations

import contextlib
import datetime as dt
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import (
    Contact,
    Invoice,
    Product,
    SalesOrder,
    SalesOrderLine,
    SyncState,
    Tag,
)
from crm_core.services.unique import insert_unique
from crm_core.text import fold
from erp_bridge import failures
from erp_bridge.adapter import Unavailable
from erp_bridge.cursor import Cursor, next_second, rewind
from erp_bridge.local import (
    find_or_create_lost_reason,
    find_or_create_stage,
    find_or_create_user,
)
from erp_bridge.mapper import EntityMap
from erp_bridge.reconcile import Reconciler
from erp_bridge.report import ModelReport

#: Pages a pull reads ahead of the one being applied.
READ_AHEAD = 2
#: Entities whose new records a pull creates in batches (crm_core.bulk.PartyWriter).
BULK = ("company", "contact")
#: Reference data and read-only copies: entity -> the Odoo model it comes from.
REFERENCE = {
    "user": "res.users",
    "stage": "crm.stage",
    "lost_reason": "crm.lost.reason",
    "tag": "crm.tag",
}
COPIES = {"product": "product.product", "invoice": "account.move", "sales_order": "sale.order"}
Transaction = Callable[[], Any]  # a context manager factory yielding a Session
Upsert = Callable[[Session, dict[str, Any]], Any]  # (session, remote record) -> local row


def creating_key(entity: str) -> str:
    """The sync state set (and committed) before the first create of ``entity`` in the
    ERP: from then on, pulls look for records created before a crash."""
    return f"push:creates:{entity}"


def get_state(s: Session, backend: str, key: str) -> str | None:
    """A stored sync state value (cursor, push position, external-id prefix)."""
    row = s.get(SyncState, (backend, key))
    return row.value if row else None


def set_state(s: Session, backend: str, key: str, value: str) -> None:
    """Store a sync state value."""
    row = s.get(SyncState, (backend, key))
    if row is None:
        s.add(SyncState(backend=backend, key=key, value=value))
    else:
        row.value = value


#: Ids and write dates read per call when the rewind window is re-checked.
LIGHT_PAGE = 5000


def run_key(key: str) -> str:
    """The state holding the ERP time the last window re-check of ``key`` began (R)."""
    return f"{key}:run"


class PageStream:
    """The changed records of one remote model, read page by page by a thread of its own.

    What is read follows :mod:`erp_bridge.cursor`: first the records of the rewind
    window that are not applied yet (their ids and ``write_date`` read lightly, then
    only the new or changed ones in full), with the records that failed before; then
    every change after the newest second read. The reader thread starts at once and
    keeps up to ``READ_AHEAD`` pages ready, so the ERP's work and ours overlap instead
    of adding up. Iterating yields the pages and saves the cursor after each one the
    caller has applied (a page is only marked as read once it is written); the cursor
    never moves back. :meth:`close` stops the reader.
    """

    def __init__(
        self,
        importer: Importer,
        key: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
        retry: Collection[int] = (),
    ):
        self.importer = importer
        self.key = key
        self.full = full
        backend = importer.ctx.binder.backend
        with importer.transaction() as s:
            self.second = get_state(s, backend, key) or ""
            checked = get_state(s, backend, run_key(key))
        self.window: tuple[str, str] | None = None
        start = ""
        if self.second and not full:
            # A workspace from before R was kept re-checks the old way: S - rewind.
            low = rewind(checked or self.second, importer.rewind_seconds)
            if low <= self.second:
                self.window = (low, next_second(self.second))
            start = next_second(self.second)
        # What is applied already, read here: the binder is not for the reader thread.
        self.known = known() if self.window else {}
        self.retry = sorted(set(retry))
        self.cursor = Cursor(start)
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
        self.stop = threading.Event()
        self.reader = threading.Thread(
            target=self._read, args=(model, fields, domain), name=f"crmbook-{key}", daemon=True
        )
        self.reader.start()

    def _read(self, model: str, fields: list[str], domain: list[Any]) -> None:
        try:
            adapter, size = self.importer.ctx.adapter, self.importer.page_size
            again = set(self.retry)
            if self.window:
                again |= self._unapplied(model, domain, *self.window)
            wanted = sorted(again)
            for start in range(0, len(wanted), size):
                if self.stop.is_set():
                    return
                chunk = wanted[start : start + size]
                found = adapter.search_read(
                    model, [*domain, ["id", "in", chunk]], sorted({*fields, "write_date"})
                )
                self.pages.put(("again", found, None))
            if not self.full:
                self.pages.put(("checked", [], None))
            more, cursor = True, self.cursor
            while more and not self.stop.is_set():
                streaming = cursor.streaming
                page = adapter.changed_since(model, cursor, fields, domain, size)
                fresh = cursor.advance(page, size)
                more = len(page) >= size or not streaming
                self.pages.put(("page", fresh, cursor.second))
            if self.full:
                self.pages.put(("checked", [], None))
            self.pages.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            self.pages.put(exc)

    def _unapplied(self, model: str, domain: list[Any], low: str, below: str) -> set[int]:
        """Ids in the rewind window not applied with the ``write_date`` they have now:
        ids and dates only, keyset-paged by id."""
        adapter, out, after = self.importer.ctx.adapter, set(), 0
        while not self.stop.is_set():
            window = [
                *domain,
                ["write_date", ">=", low],
                ["write_date", "<", below],
                ["id", ">", after],
            ]
            page = adapter.search_read(model, window, ["write_date"], limit=LIGHT_PAGE)
            out |= {int(r["id"]) for r in page if self.known.get(int(r["id"])) != r["write_date"]}
            if len(page) < LIGHT_PAGE:
                break
            after = int(page[-1]["id"])
        return out

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        importer = self.importer
        backend = importer.ctx.binder.backend
        while (item := self.pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            kind, fresh, second = item
            if fresh:
                yield fresh
            if kind == "checked":
                # Every change up to S is applied but those of transactions open when
                # this run began: the next run re-checks from this run's start.
                with importer.transaction() as s:
                    set_state(s, backend, run_key(self.key), importer.started)
            elif kind == "page" and second > self.second:
                self.second = second
                with importer.transaction() as s:
                    set_state(s, backend, self.key, second)
            if importer.progress and fresh:
                importer.progress(self.key, len(fresh))

    def close(self) -> None:
        """Stop the reader (it may be waiting to hand over a page) and wait for it."""
        self.stop.set()
        while self.reader.is_alive():
            with contextlib.suppress(queue.Empty):
                self.pages.get(timeout=0.05)


class Importer:
    """Pulls one model at a time, page by page, committing after every record."""

    def __init__(
        self,
        rec: Reconciler,
        transaction: Transaction,
        *,
        page_size: int = 1000,
        rewind_seconds: int = 300,
        progress: Callable[[str, int], None] | None = None,
        started: str = "",
    ):
        self.rec = rec
        self.ctx = rec.ctx
        self.transaction = transaction
        self.page_size = page_size
        self.rewind_seconds = rewind_seconds
        self.progress = progress
        #: The ERP's clock when the run began: the next run's rewind counts from it.
        self.started = started
        #: Remote ids of each entity that failed before and are tried again this run.
        self.failing: dict[str, set[int]] = {}

    def _pages(
        self,
        entity: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
    ) -> Any:
        """Yield pages of changed records, saving the cursor after each page is applied
        (a :class:`PageStream` started now and closed when the caller is done)."""
        stream = self._stream(entity, model, fields, domain, full, known)
        try:
            yield from stream
        finally:
            stream.close()

    def _stream(
        self,
        entity: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
    ) -> PageStream:
        with self.transaction() as s:
            retry = failures.pending(s, self.ctx.binder.backend, entity, "pull")
        self.failing[entity] = set(retry)
        return PageStream(self, f"pull:{entity}", model, fields, domain, full, known, retry)

    def _linked(self, entity: str) -> Callable[[], dict[int, str | None]]:
        """What is applied of ``entity``: remote id -> ``write_date``, from the links."""
        return lambda: {
            link.remote_id: link.remote_write_date for link in self.ctx.binder.links(entity)
        }

    def stream(self, emap: EntityMap, full: bool = False) -> PageStream:
        """Start reading ``emap``'s changed records ahead, for a later :meth:`pull`.

        A run starts every entity's stream before it applies the first one, so the ERP
        serves the contacts' first pages while the companies are being written. The
        caller must :meth:`PageStream.close` a stream it does not consume."""
        return self._stream(
            emap.entity,
            emap.remote_model,
            emap.remote_fields,
            emap.domain,
            full,
            self._linked(emap.entity),
        )

    def _failed(self, entity: str, remote_id: int, error: str) -> None:
        """List a record that could not be applied; later runs read it again."""
        with self.transaction() as s:
            failures.failed(
                s, self.ctx.binder.backend, entity, "pull", remote_id, error, self.rec.ws.clock()
            )
        self.failing.setdefault(entity, set()).add(remote_id)

    def _cleared(self, s: Session, entity: str, page: list[dict[str, Any]]) -> None:
        """Take the records of ``page`` that were listed as failed off the list."""
        listed = self.failing.get(entity)
        done = {int(r["id"]) for r in page} & listed if listed else set()
        if done:
            failures.cleared(s, self.ctx.binder.backend, entity, "pull", done)
            listed -= done  # type: ignore[operator]

    def pull(
        self,
        emap: EntityMap,
        rep: ModelReport,
        full: bool = False,
        stream: PageStream | None = None,
    ) -> None:
        """Apply remote changes of one entity map (create, merge; archived included),
        from ``stream`` when one was started for it (see :meth:`stream`)."""
        with self.transaction() as s:
            # Only a workspace that ever created this entity in the ERP can find its own
            # records there unlinked (created before a crash): else skip the lookup.
            pushed = get_state(s, self.ctx.binder.backend, creating_key(emap.entity)) is not None
        stream = stream or self.stream(emap, full)
        try:
            self._apply_pages(emap, rep, stream, pushed)
        finally:
            stream.close()

    def _apply_pages(
        self, emap: EntityMap, rep: ModelReport, stream: PageStream, pushed: bool
    ) -> None:
        for page in stream:
            ours = self._created_by_us(emap, page) if pushed else {}
            # The whole page in one transaction (one commit, not one per record); if any
            # record fails, the page is rolled back and applied again record by record,
            # so the bad one is reported and the others still land.
            trial = ModelReport()
            try:
                with self.transaction() as s:
                    for record in self._pull_new_in_bulk(s, emap, page, trial, ours):
                        self._apply(s, emap, record, trial, ours.get(int(record["id"])))
                        s.flush()
                        # Done with this record: keep the session small, or every flush
                        # of the page walks all records loaded so far.
                        s.expunge_all()
                    self._cleared(s, emap.entity, page)
            except Exception as exc:
                # Links and tags made in the rolled-back page are gone: forget them.
                self.rec.forget_batches()
                with self.transaction() as s:
                    self.ctx.binder.load(s)
                if isinstance(exc, Unavailable):
                    raise  # the ERP is gone: the run stops, this page stays unread
                for record in page:
                    self._one(emap, record, rep, ours.get(int(record["id"])))
            else:
                rep.add(trial)

    def _pull_new_in_bulk(
        self,
        s: Session,
        emap: EntityMap,
        page: list[dict[str, Any]],
        rep: ModelReport,
        ours: dict[int, int],
    ) -> list[dict[str, Any]]:
        """Create the page's new companies or contacts in one batch (a first pull is
        mostly that); returns the records still to apply one by one."""
        if emap.entity not in BULK:
            return page
        binder = self.ctx.binder
        new = [
            r
            for r in page
            if int(r["id"]) not in ours
            and binder.by_remote(emap.entity, int(r["id"])) is None
            and binder.as_other_kind(emap.entity, emap.remote_model, int(r["id"])) is None
        ]
        if not new:
            return page
        left = self.rec.pull_many(s, emap, new, rep)
        s.expunge_all()
        taken = {int(r["id"]) for r in new} - {int(r["id"]) for r in left}
        return [r for r in page if int(r["id"]) not in taken]

    def _created_by_us(self, emap: EntityMap, page: list[dict[str, Any]]) -> dict[int, int]:
        """Unlinked remote records that carry our external id: created by a push whose
        local commit never happened (a crash). remote id -> local id."""
        unlinked = [
            int(r["id"])
            for r in page
            if self.ctx.binder.by_remote(emap.entity, int(r["id"])) is None
        ]
        if not unlinked:
            return {}
        names = self.ctx.adapter.external_ids(emap.remote_model, unlinked, self.ctx.xmlid_prefix)
        kind = f"{emap.entity}_"
        return {
            rid: int(name[len(kind) :])
            for rid, name in names.items()
            if name.startswith(kind) and name[len(kind) :].isdigit()
        }

    def _apply(
        self,
        s: Session,
        emap: EntityMap,
        record: dict[str, Any],
        rep: ModelReport,
        ours: int | None,
    ) -> None:
        # A record re-read by the rewind is compared with its last-synced copy, not
        # skipped on (id, write_date) alone: write_date has whole seconds, so a second
        # change within the same second would otherwise be missed.
        link = self.ctx.binder.by_remote(emap.entity, int(record["id"]))
        if link is not None and self.rec.remote_unchanged(emap, record, link):
            # Nothing new from the ERP: no local read needed. Local edits of this record
            # are the push's business (it follows the journal).
            rep.skipped += 1
            stamp = self.ctx.applied(record.get("write_date"))
            if stamp != link.remote_write_date:  # touched in Odoo, or now settled
                self.ctx.binder.restamp(s, link, stamp)
            return
        obj = self.rec.load_local(s, emap.entity, link.local_id) if link else None
        adopted = self.rec.load_local(s, emap.entity, ours) if ours else None
        if link is None:
            self._changed_kind(s, emap, int(record["id"]), rep)
        if link is None and adopted is not None:
            self.rec.adopt(s, emap, adopted, record, rep)
        elif obj is None:
            self.rec.pull_new(s, emap, record, rep)
        else:
            self.rec.merge_pair(s, emap, obj, record, rep)

    def _changed_kind(self, s: Session, emap: EntityMap, remote_id: int, rep: ModelReport) -> None:
        """A remote record now of ``emap``'s kind that was linked as another (a person
        made a company in Odoo): archive the local record that stood for it and drop
        its link, so the record of the new kind takes its place. The archive is the
        sync's own change: it is not pushed back."""
        old = self.ctx.binder.as_other_kind(emap.entity, emap.remote_model, remote_id)
        if old is None:
            return
        obj = self.rec.load_local(s, old.entity, old.local_id)
        if obj is not None and getattr(obj, "active", False):
            obj.active = False
            rep.archived += 1
        self.ctx.binder.unbind(s, old)

    def _one(
        self, emap: EntityMap, record: dict[str, Any], rep: ModelReport, ours: int | None = None
    ) -> None:
        rid = int(record["id"])
        try:
            with self.transaction() as s:
                self._apply(s, emap, record, rep, ours)
                self._cleared(s, emap.entity, [record])
        except Unavailable:
            raise
        except Exception as exc:  # one bad record never stops the run
            error = f"{type(exc).__name__}: {exc}"
            rep.errors.append(f"remote #{rid}: {error}")
            with self.transaction() as s:  # links bound in the rolled-back work are void
                self.ctx.binder.load(s)
            self._failed(emap.entity, rid, error)

    def find_deleted(self, emap: EntityMap, rep: ModelReport) -> None:
        """Archive local records whose remote record was deleted.

        A linked record the ERP user no longer finds is only deleted if it no longer
        exists at all: one that is merely hidden from that user (a deal reassigned to
        someone the user may not see) is left alone, counted in ``rep.hidden``; one
        that still exists and is visible but no longer this entity's (a person made a
        company) is left to the entity it now belongs to."""
        adapter = self.ctx.adapter
        alive = adapter.all_ids(emap.remote_model, emap.domain)
        missing = [
            link
            for link in self.ctx.binder.links(emap.entity)
            if link.remote_id not in alive and link.remote_id >= 0
        ]
        if not missing:
            return
        exist = adapter.existing(emap.remote_model, [link.remote_id for link in missing])
        visible = {
            int(r["id"]) for r in adapter.read(emap.remote_model, sorted(exist), ["write_date"])
        }
        rep.hidden += len(exist - visible)
        for link in missing:
            if link.remote_id in exist:
                continue
            with self.transaction() as s:
                obj = self.rec.load_local(s, emap.entity, link.local_id)
                if obj is not None:
                    rep.archived += self.rec.vanished(emap, obj)
                self.ctx.binder.unbind(s, link)

    def _each(
        self,
        entity: str,
        page: list[dict[str, Any]],
        rep: ModelReport,
        apply: Callable[[Session, dict[str, Any], ModelReport], None],
    ) -> None:
        """Apply ``page`` in one transaction; if that fails, record by record, so a bad
        record is listed as failed (and read again next run) and the others land."""
        trial = ModelReport()
        try:
            with self.transaction() as s:
                for record in page:
                    apply(s, record, trial)
                self._cleared(s, entity, page)
        except Unavailable:
            raise
        except Exception:
            self._reload_links()
            for record in page:
                one = ModelReport()
                try:
                    with self.transaction() as s:
                        apply(s, record, one)
                        self._cleared(s, entity, [record])
                except Unavailable:
                    raise
                except Exception as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    rep.errors.append(f"remote #{record['id']}: {error}")
                    self._reload_links()
                    self._failed(entity, int(record["id"]), error)
                else:
                    rep.add(one)
        else:
            rep.add(trial)

    def _reload_links(self) -> None:
        """Read the links again: those bound in rolled-back work are void."""
        with self.transaction() as s:
            self.ctx.binder.load(s)

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

    # -- reference data and read-only copies -------------------------------------------
    def pull_reference(
        self, rep_for: Callable[[str], ModelReport], full: bool, only: Collection[str]
    ) -> None:
        """Users, stages, lost reasons and CRM tags (those of them in ``only``): pulled
        and linked by name."""
        specs: list[tuple[str, str, list[str], list[Any], Upsert]] = [
            (
                "user",
                REFERENCE["user"],
                ["name", "login", "email", "active"],
                [["share", "=", False]],
                lambda s, r: find_or_create_user(s, r["login"], r["name"], r["email"] or None),
            ),
            (
                "stage",
                REFERENCE["stage"],
                ["name", "sequence", "is_won"],
                [],
                lambda s, r: find_or_create_stage(s, r["name"], int(r["sequence"]), r["is_won"]),
            ),
            (
                "lost_reason",
                REFERENCE["lost_reason"],
                ["name", "active"],
                [],
                lambda s, r: find_or_create_lost_reason(s, r["name"]),
            ),
            ("tag", REFERENCE["tag"], ["name"], [], _tag),
        ]
        for entity, model, fields, domain, upsert in specs:
            if entity not in only:
                continue

            def apply(
                s: Session,
                record: dict[str, Any],
                rep: ModelReport,
                entity: str = entity,
                model: str = model,
                upsert: Upsert = upsert,
            ) -> None:
                link = self.ctx.binder.by_remote(entity, int(record["id"]))
                if link is not None and link.remote_write_date == record["write_date"]:
                    rep.skipped += 1
                    return
                same = link is not None and link.synced == {"name": record["name"]}
                obj = upsert(s, record)
                self.ctx.binder.bind(
                    s,
                    entity,
                    obj.id,
                    model,
                    int(record["id"]),
                    {"name": record["name"]},
                    self.ctx.applied(record["write_date"]),
                    self.rec.ws.clock(),
                )
                rep.created += link is None
                rep.updated += link is not None and not same
                rep.skipped += same

            for page in self._pages(entity, model, fields, domain, full, self._linked(entity)):
                for record in page:  # one at a time: a rolled-back bind would linger
                    self._each(entity, [record], rep_for(entity), apply)

    def pull_copies(
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

        for page in self._pages(
            "product",
            COPIES["product"],
            ["name", "default_code", "list_price", "currency_id", "active"],
            [],
            full,
            self._copied(Product),
        ):
            self._each("product", page, rep, apply)

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

        for page in self._pages(
            "invoice",
            COPIES["invoice"],
            fields,
            [["move_type", "in", ["out_invoice", "out_refund"]]],
            full,
            self._copied(Invoice),
        ):
            paid_on = self._paid_on(page)
            self._each("invoice", page, rep, apply)

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

        for page in self._pages(
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
            self._each("sales_order", page, rep, apply)

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
        """A partner many2one as (company id, contact id) through the links."""
        if not partner:
            return None, None
        company = self.ctx.local_id("company", partner[0])
        if company is not None:
            return company, None
        contact = self.ctx.local_id("contact", partner[0])
        if contact is None:
            return None, None
        person = s.get(Contact, contact)
        return (person.company_id if person else None), contact


def _tag(s: Session, record: dict[str, Any]) -> Tag:
    key = fold(record["name"])
    tag = s.scalars(select(Tag).where(Tag.name_key == key)).first()
    if tag is None:  # one row even when a user adds the same tag at that moment
        tag, _ = insert_unique(
            s, Tag, "name_key", {"name": record["name"], "name_key": key, "version": 1}
        )
    return tag


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
