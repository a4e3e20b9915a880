"""Exchange rates from the ERP: pulled on every run like the other reference data.

The adapter gives its rates as plain rows (:meth:`~erp_bridge.adapter.Adapter.
exchange_rates`); they are written to the workspace's rate table with source ``erp``
(:meth:`crm_core.services.rates.ExchangeRates.merge`): a rate a person set or
imported for the same pair and day is kept, one the ERP changed is updated, one it
gives again unchanged is left as it is. Each run reads what changed since the last
run's start, less the rewind window (the ERP stamps a change with its transaction's
start); ``full`` reads every rate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from crm_core import Workspace
from erp_bridge.adapter import Adapter, RemoteError, Unavailable
from erp_bridge.cursor import rewind
from erp_bridge.pages import get_state, set_state
from erp_bridge.report import SyncReport

#: The entity name of rates in a run's ``models`` and its report.
ENTITY = "exchange_rate"
#: Where the next run starts reading (the sync state key).
CURSOR = f"pull:{ENTITY}"


def pull_rates(
    ws: Workspace,
    adapter: Adapter,
    transaction: Callable[[], Any],
    report: SyncReport,
    *,
    full: bool,
    started: str,
    rewind_seconds: int,
) -> None:
    """Pull the ERP's rates changed since the last run into ``ws`` and count them in
    ``report`` (created, updated, skipped; refused rows as errors). ``started`` is the
    ERP's clock at the start of this run: where the next run reads from."""
    read = getattr(adapter, "exchange_rates", None)
    if read is None:
        report.notes.append(f"{ENTITY}: this ERP's adapter gives no exchange rates; skipped")
        return
    with transaction() as s:
        saved = None if full else get_state(s, adapter.backend, CURSOR)
    since = rewind(saved, rewind_seconds) if saved else None
    rep = report.model(ENTITY)
    try:
        rows = read(since)
    except Unavailable:
        raise
    except RemoteError as exc:
        rep.errors.append(f"the ERP's rates could not be read: {exc}")
        return
    changes = ws.rates.merge(rows, source="erp", dry_run=report.dry_run)
    rep.created += changes.added
    rep.updated += changes.changed
    rep.skipped += changes.unchanged + changes.kept
    rep.errors += [str(e) for e in changes.refused]
    if changes.kept:
        report.notes.append(
            f"{ENTITY}: {changes.kept} rate(s) set by hand or imported kept over the ERP's"
        )
    if not report.dry_run and not changes.refused:
        with transaction() as s:
            set_state(s, adapter.backend, CURSOR, started)
