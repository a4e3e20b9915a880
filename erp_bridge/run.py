"""One sync run: pull reference data, pull and push each entity, copy accounting data."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete
from sqlalchemy.orm import Session

from crm_core import Workspace, access, db
from crm_core.models import SyncState
from erp_bridge import backends, runs
from erp_bridge.adapter import Adapter, Unavailable
from erp_bridge.binder import Binder
from erp_bridge.catalogue import COPIES, REFERENCE, SYNCED
from erp_bridge.context import RunContext
from erp_bridge.cursor import STAMP_FORMAT
from erp_bridge.exporter import Exporter
from erp_bridge.importer import Importer
from erp_bridge.mapper import EntityMap
from erp_bridge.merge import Policy
from erp_bridge.pages import get_state, run_key, set_state
from erp_bridge.rates import ENTITY as RATES
from erp_bridge.rates import pull_rates
from erp_bridge.reconcile import Reconciler
from erp_bridge.report import SyncReport

#: Records a run creates from which the database's statistics are refreshed after it.
BULK_CREATED = 1000


#: Every entity a run can sync, in the order it takes them (exchange rates last).
ENTITIES = (*REFERENCE, *SYNCED, *COPIES, RATES)


def sync(
    ws: Workspace,
    adapter: Adapter,
    *,
    dry_run: bool = False,
    full: bool = False,
    models: Sequence[str] | None = None,
    policy: Policy = "last_writer",
    maps: Sequence[EntityMap] | None = None,
    page_size: int = 1000,
    rewind_seconds: int = 300,
    xmlid_prefix: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> SyncReport:
    """Synchronise ``ws`` with the ERP behind ``adapter`` and return the report.

    ``models`` limits the run to some of: user, stage, lost_reason, tag, company,
    contact, opportunity, product, invoice, sales_order, exchange_rate. ``full`` re-reads everything
    and archives local records whose ERP record was deleted. ``dry_run`` plans
    without writing on either side (the plan is in ``report.plan``). ``policy``
    decides shared fields both sides changed: ``last_writer``, ``erp`` or ``crm``.

    The run is stored with its report. It ends ``done``, or ``done_with_errors`` when
    some records failed (they stay listed and every later run tries them again). When
    the ERP cannot be asked (:class:`~erp_bridge.adapter.Unavailable`) or anything
    else stops it, it is stored as ``failed`` with the reason and the error is raised:
    what was applied stays, no cursor moves past what was not. One run per backend
    at a time (:class:`RunBusy`); a run whose process was killed shows as
    ``interrupted``.
    """
    started = time.monotonic()
    catalogue = adapter.catalogue
    maps = list(maps) if maps is not None else catalogue.maps()
    known = {*catalogue.references, *(m.entity for m in maps), *catalogue.copies, RATES}
    wanted = set(models) if models else known
    unknown = wanted - known
    if unknown:
        raise ValueError(f"unknown models: {', '.join(sorted(unknown))}")
    # A sync reads and writes every record: not for a user who sees only their own.
    access.check_unrestricted(ws, "run a sync of", "the workspace with an ERP")
    # One ERP database is one backend whatever its address is spelled as: the links,
    # cursors and the run lock below all go by the backend it resolves to.
    try:
        backends.resolve(ws, adapter, remember=not dry_run)
    except Unavailable as exc:
        _failed_before_start(ws, adapter, dry_run, exc)
        raise
    report = SyncReport(adapter.backend, dry_run=dry_run)
    run = None if dry_run else runs.start(ws, adapter.backend)
    try:
        with runs.heartbeat(ws, run), _sessions(ws, dry_run, origin_of(adapter.backend)) as tx:
            _run(
                ws,
                adapter,
                tx,
                report,
                maps,
                wanted,
                full,
                policy,
                page_size,
                rewind_seconds,
                xmlid_prefix,
                progress,
            )
        report.status = "done_with_errors" if report.errors else "done"
        if not dry_run and sum(m.created for m in report.models.values()) >= BULK_CREATED:
            db.refresh_statistics(ws.engine)  # a first pull: the tables are new
    except KeyboardInterrupt:
        report.status, report.reason = "interrupted", "stopped by the user (Ctrl+C)"
        raise
    except BaseException as exc:
        report.status = "failed"
        report.reason = str(exc) or type(exc).__name__
        raise
    finally:
        report.seconds = time.monotonic() - started
        if run is not None:
            runs.finish(ws, run, report)
            report.run_id = run
    return report


def _failed_before_start(
    ws: Workspace, adapter: Adapter, dry_run: bool, exc: BaseException
) -> None:
    """Store a run that failed before it could start (the ERP unreachable while its
    backend was resolved) as failed, with the reason, as any failed run is."""
    if dry_run:
        return
    report = SyncReport(adapter.backend, status="failed", reason=str(exc) or type(exc).__name__)
    runs.finish(ws, runs.start(ws, adapter.backend), report)


def _run(
    ws: Workspace,
    adapter: Adapter,
    transaction: Callable[[], Any],
    report: SyncReport,
    maps: list[EntityMap],
    wanted: set[str],
    full: bool,
    policy: Policy,
    page_size: int,
    rewind_seconds: int,
    xmlid_prefix: str | None,
    progress: Callable[[str, int], None] | None,
) -> None:
    """The steps of a run (see the package docstring), in the run's sessions."""
    # The ERP's clock first: the one call that also tells at once whether the ERP can
    # be reached at all, and where the next run's rewind window counts from.
    server_started = adapter.server_time()
    binder = Binder(adapter.backend)
    with transaction() as s:
        binder.load(s)
        prefix = xmlid_prefix or _prefix(s, adapter.backend)
    ctx = RunContext(adapter, binder, prefix, dry_run=report.dry_run, started=server_started)
    rec = Reconciler(ws, ctx, policy)
    importer = Importer(
        rec,
        transaction,
        page_size=page_size,
        rewind_seconds=rewind_seconds,
        progress=progress,
        started=server_started,
    )
    exporter = Exporter(rec, transaction, origin_of(adapter.backend))
    try:
        ordered, served = _fit(adapter, [m for m in maps if m.entity in wanted], wanted, report)
        if served & set(adapter.catalogue.references):
            importer.pull_reference(lambda e: report.model(e), full, served)
        # Every entity's reader starts now; each is applied in dependency order.
        streams = [importer.stream(emap, full) for emap in ordered]
        try:
            for emap, stream in zip(ordered, streams, strict=True):
                rep = report.model(emap.entity)
                importer.pull(emap, rep, full, stream)
                if full or emap.deletions_every_run:
                    importer.find_deleted(emap, rep)
                if rep.hidden:
                    report.notes.append(
                        f"{emap.entity}: {rep.hidden} linked record(s) are not visible to "
                        "the ERP user any more (they still exist there); left as they are"
                    )
        finally:
            for stream in streams:
                stream.close()
        for emap in ordered:
            if emap.direction == "both":
                exporter.push(emap, report.model(emap.entity))
        if served & set(adapter.catalogue.copies):
            importer.pull_copies(lambda e: report.model(e), full, served)
        if RATES in wanted:
            pull_rates(
                ws,
                adapter,
                transaction,
                report,
                full=full,
                started=server_started,
                rewind_seconds=rewind_seconds,
            )
    finally:
        report.plan = ctx.plan


def resync_from(
    ws: Workspace, backend: str, since: dt.date, entities: Sequence[str] | None = None
) -> list[str]:
    """Make the next run of ``backend`` re-read everything the ERP changed since
    ``since`` (the ERP's midnight UTC), for ``entities`` or every entity; returns the
    entities reset. Re-read records are compared with what was applied: only what
    differs is written. For when records are suspected missing."""
    every = list(ENTITIES)
    chosen = list(entities or every)
    unknown = set(chosen) - set(every)
    if unknown:
        raise ValueError(f"unknown models: {', '.join(sorted(unknown))}")
    start = dt.datetime.combine(since, dt.time()) - dt.timedelta(seconds=1)
    with ws.transaction() as s:
        for entity in chosen:
            key = f"pull:{entity}"
            set_state(s, backend, key, start.strftime(STAMP_FORMAT))
            s.execute(
                delete(SyncState).where(SyncState.backend == backend, SyncState.key == run_key(key))
            )
    return chosen


def _fit(
    adapter: Adapter, maps: list[EntityMap], wanted: set[str], report: SyncReport
) -> tuple[list[EntityMap], set[str]]:
    """The entity maps and the reference and copy entities as this ERP can serve them,
    asked in one call: a map loses the fields the ERP lacks (a partner's mobile number,
    in some versions), and an entity whose model is not installed is skipped. Each is noted
    in the report."""
    # Reference data comes whole: deals need the stages and users even when only
    # some reference entity was asked for.
    catalogue = adapter.catalogue
    references = {e: spec.model for e, spec in catalogue.references.items()}
    extra = references if wanted & set(references) else {}
    extra.update({e: spec.model for e, spec in catalogue.copies.items() if e in wanted})
    need: dict[str, set[str]] = {model: {"write_date"} for model in extra.values()}
    for emap in maps:
        need.setdefault(emap.remote_model, set()).update(emap.remote_fields)
    have = adapter.schema(need)
    fitted = []
    for emap in maps:
        if emap.remote_model not in have:
            report.notes.append(f"{emap.entity}: the ERP has no {emap.remote_model}; skipped")
            continue
        emap, missing = emap.fitted(have[emap.remote_model])
        if missing:
            report.notes.append(
                f"{emap.entity}: {emap.remote_model} has no {', '.join(missing)} "
                "in this ERP; not synced"
            )
        fitted.append(emap)
    for entity, model in extra.items():
        if model not in have:
            report.notes.append(f"{entity}: the ERP has no {model}; skipped")
    return fitted, {entity for entity, model in extra.items() if model in have}


def origin_of(backend: str) -> str:
    """How the journal marks what a sync with ``backend`` wrote locally."""
    return f"sync:{backend}"


@contextmanager
def _sessions(ws: Workspace, dry_run: bool, origin: str) -> Iterator[Callable[[], Any]]:
    """Per-record transactions for a real run; one session rolled back for a dry run.
    Either way, local writes are journaled with the sync as their ``origin``."""
    if not dry_run:
        yield lambda: ws.transaction(origin=origin)
        return
    session = ws._sessions()
    session.info.update(clock=ws.clock, user_id=ws.user_id, origin=origin)

    @contextmanager
    def same() -> Iterator[Session]:
        yield session

    try:
        yield same
    finally:
        session.rollback()
        session.close()


def _prefix(s: Session, backend: str) -> str:
    """This workspace's external-id module name in the ERP, made once per backend."""
    prefix = get_state(s, backend, "xmlid_prefix")
    if prefix is None:
        prefix = f"crmbook_{uuid.uuid4().hex[:10]}"
        set_state(s, backend, "xmlid_prefix", prefix)
    return prefix
