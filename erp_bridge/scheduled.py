"""The two-way sync as a server's background job: every ``sync_minutes``, by one
process at a time.

:func:`schedule_sync` adds a job named :data:`JOB` to a :class:`~crm_core.background.
Scheduler` (the one ``crmbook serve`` runs the mail jobs with): when the serving layer
has an ERP connection (``adapter_factory()`` returns an adapter), the job runs
:func:`erp_bridge.sync` as the system in a thread of its own, at the server's start
and then every ``sync_minutes`` (a workspace setting, default 15; 0 turns it off)
after the end of its last run. Without a connection the job is absent and the
scheduler says :data:`NOT_CONFIGURED`.

Several processes on one database may all run the job: the run lock
(:mod:`erp_bridge.runs`, one running run per backend, held in the database) lets one
of them sync, and a process that finds a sync running skips its turn and records
:data:`SKIPPED` (no error). A run that fails (the ERP unreachable, refusing the login,
silent) is stored as failed with its reason as any run is; the job records that
reason as its error, the server goes on, and the next run tries again. A run whose
records failed one by one is ``done with errors``: its counts are the result, the
failed records (the first :data:`SHOWN_FAILURES`) the error.

The adapter is made once, when the job is added (making one does not connect), and
kept for every run; if making it fails, each run tries again and records why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from crm_core import Workspace
from crm_core.background import Job, Scheduler, Stopped
from crm_core.models import SyncRun
from erp_bridge.adapter import Adapter
from erp_bridge.report import ModelReport, SyncReport
from erp_bridge.run import sync
from erp_bridge.runs import RunBusy

log = logging.getLogger(__name__)

#: The job's name (at ``/health``) and the setting of its interval, in minutes.
JOB, SETTING = "sync", "sync_minutes"
#: What a run records when another process (or the Sync page) is syncing.
SKIPPED = "skipped: another process is syncing"
#: Why the job is absent when the server has no ERP connection.
NOT_CONFIGURED = "not configured"
#: How many failed records a run's error names (``crmbook sync status`` lists them all).
SHOWN_FAILURES = 5

#: Makes the ERP connection, or returns None when the server has none.
AdapterFactory = Callable[[], Adapter | None]


def summary(report: SyncReport) -> str:
    """A run's counts in one line: ``run #7 done: 3 created, 1 updated, 0 archived,
    2 pushed, 0 conflicts in 1.2 s`` (matched and waiting for review when any)."""
    total = ModelReport()
    for rep in report.models.values():
        total.add(rep)
    counts = [
        f"{total.created} created",
        f"{total.updated} updated",
        f"{total.archived} archived",
        f"{total.pushed_created + total.pushed_updated} pushed",
        f"{total.conflicts} conflicts",
    ]
    if total.matched:
        counts.append(f"{total.matched} matched")
    if total.ambiguous:
        counts.append(f"{total.ambiguous} waiting for review")
    run = f"run #{report.run_id}" if report.run_id is not None else "run"
    status = report.status.replace("_", " ")
    return f"{run} {status}: {', '.join(counts)} in {report.seconds:.1f} s"


def failures(report: SyncReport) -> str | None:
    """The records a run could not sync, in words (None: none)."""
    errors = report.errors
    if not errors:
        return None
    shown = errors[:SHOWN_FAILURES]
    if len(errors) > SHOWN_FAILURES:
        shown.append(f"and {len(errors) - SHOWN_FAILURES} more")
    return (
        f"{len(errors)} record(s) not synced (tried again by the next run; "
        f"`crmbook sync status` lists them): " + "; ".join(shown)
    )


def _failed_run(ws: Workspace, backend: str, reason: str) -> int | None:
    """The run stored as failed for ``reason`` (None: it failed before it was stored)."""
    with ws.transaction() as s:
        return s.scalar(
            select(func.max(SyncRun.id)).where(
                SyncRun.backend == backend, SyncRun.status == "failed", SyncRun.reason == reason
            )
        )


def run_sync(
    ws: Workspace, adapter: Adapter, *, stopping: Callable[[], bool] = lambda: False
) -> tuple[str, str | None]:
    """One scheduled run: ``(result, error)`` as a :class:`~crm_core.background.Job`
    returns them. Skips when a sync of the same ERP is running anywhere; a failed run
    is its reason as the error, not an exception. ``stopping``: end the run at its next
    page (stored as failed, "the server is stopping"; the next run goes on)."""

    def progress(*_: Any) -> None:  # after each page read
        if stopping():
            raise Stopped("the server is stopping")

    try:
        report = sync(ws, adapter, progress=progress)
    except RunBusy as exc:
        log.info("scheduled sync skipped: %s", exc)
        return SKIPPED, None
    except Stopped:
        raise
    except Exception as exc:  # stored as a failed run with its reason: said, not raised
        reason = str(exc) or type(exc).__name__  # (the scheduler logs it)
        run = _failed_run(ws, adapter.backend, reason)
        return (f"run #{run} failed" if run is not None else "failed"), reason
    return summary(report), failures(report)


def sync_job(scheduler: Scheduler, adapter_factory: AdapterFactory) -> Job:
    """The job (not yet added): syncs every ``sync_minutes`` with the adapter
    ``adapter_factory`` makes (made at the first run and kept)."""
    held: list[Adapter] = []

    def run(ws: Workspace) -> tuple[str, str | None]:
        if not held:
            adapter = adapter_factory()
            if adapter is None:
                return "not run", f"{NOT_CONFIGURED}: the server has no ERP connection"
            held.append(adapter)
        return run_sync(ws, held[0], stopping=lambda: scheduler.stopping)

    return Job(JOB, run, SETTING, 60)


def schedule_sync(scheduler: Scheduler, adapter_factory: AdapterFactory) -> Job | None:
    """Add the sync job to ``scheduler`` when ``adapter_factory`` gives an ERP
    connection, and return it; otherwise note the job as absent (:data:`NOT_CONFIGURED`)
    and return None. A factory that raises (a malformed address, say) still adds the
    job: each run records the error, and the server serves on."""
    try:
        adapter = adapter_factory()
    except Exception as exc:
        log.error("the ERP connection cannot be made (each sync run will say why): %s", exc)
        return scheduler.add(sync_job(scheduler, adapter_factory))
    if adapter is None:
        scheduler.absent[JOB] = NOT_CONFIGURED
        return None
    return scheduler.add(sync_job(scheduler, lambda: adapter))


__all__ = [
    "JOB",
    "NOT_CONFIGURED",
    "SETTING",
    "SKIPPED",
    "run_sync",
    "schedule_sync",
    "summary",
    "sync_job",
]
