"""Sync runs as stored: one running run per backend, its heartbeat, and how it ended.

A run is stored ``running`` when it starts and refreshes ``heartbeat_at`` every
``HEARTBEAT`` seconds from a thread of its own. A process killed mid-run (SIGKILL, a
power cut) cannot say so: a run of this machine whose process is gone, or any run whose
heartbeat is ``STALE`` seconds old, is shown as ``interrupted``, and stored so by the
next run of that backend. A
second run of a backend while one is alive is refused (:class:`RunBusy`): the database
holds at most one running run per backend.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Iterator

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm_core import Workspace
from crm_core.models import SyncRun
from erp_bridge.report import SyncReport

log = logging.getLogger(__name__)

#: Seconds between two heartbeats of a running sync.
HEARTBEAT = 10.0
#: Seconds without a heartbeat after which a running sync is taken for dead.
STALE = 60.0


class RunBusy(RuntimeError):
    """Another sync with the same ERP is running."""


def stale(run: SyncRun, now: dt.datetime) -> bool:
    """True for a run stored as running whose process is gone: it has stopped beating,
    or it ran on this machine and its process no longer exists."""
    if run.status != "running":
        return False
    beat = run.heartbeat_at or run.started_at
    return (now - beat).total_seconds() > STALE or _dead_here(run.report or {})


def _dead_here(where: dict[str, object]) -> bool:
    """Whether the process a run recorded (``pid`` on ``host``) is known to be gone:
    only a process of this machine can be asked."""
    pid = where.get("pid")
    if where.get("host") != socket.gethostname() or not isinstance(pid, int) or os.name == "nt":
        return False  # (on Windows, os.kill would end the process, not ask about it)
    try:
        os.kill(pid, 0)  # signal 0: is it there? (nothing is sent)
    except ProcessLookupError:
        return True
    except OSError:  # there, but another user's
        return False
    return False


def shown_status(run: SyncRun, now: dt.datetime) -> str:
    """The status to show: a running run whose heartbeat is stale was interrupted."""
    return "interrupted" if stale(run, now) else run.status


def start(ws: Workspace, backend: str) -> int:
    """Store a new running run of ``backend`` and return its id. Runs of ``backend``
    left running by a dead process are stored as interrupted first; a live one makes
    this raise :class:`RunBusy`."""
    now = ws.clock()
    try:
        with ws.transaction() as s:
            for run in s.scalars(
                select(SyncRun).where(SyncRun.backend == backend, SyncRun.status == "running")
            ):
                if stale(run, now):
                    run.status = "interrupted"
                    run.finished_at = run.heartbeat_at or run.started_at
                    run.reason = "its process stopped without finishing (killed?)"
            s.flush()
            new = SyncRun(
                backend=backend,
                started_at=now,
                heartbeat_at=now,
                status="running",
                dry_run=False,
                report={"pid": os.getpid(), "host": socket.gethostname()},
            )
            s.add(new)
            s.flush()
            return new.id
    except IntegrityError:
        with ws.transaction() as s:
            other = s.scalars(
                select(SyncRun).where(SyncRun.backend == backend, SyncRun.status == "running")
            ).first()
        since = f" since {other.started_at:%Y-%m-%d %H:%M:%S} UTC" if other else ""
        number = f" (run #{other.id}{since})" if other else ""
        raise RunBusy(
            f"another sync with {backend} is running{number}; wait for it to finish "
            f"(a run whose process died shows as interrupted after {STALE:.0f} s)"
        ) from None


@contextlib.contextmanager
def heartbeat(ws: Workspace, run_id: int | None) -> Iterator[None]:
    """Refresh the run's heartbeat from a thread while the block runs."""
    if run_id is None:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(HEARTBEAT):
            try:
                with ws.transaction() as s:
                    run = s.get(SyncRun, run_id)
                    if run is not None:
                        run.heartbeat_at = ws.clock()
            except Exception as exc:  # a missed beat is not worth stopping the run
                log.info("sync run %s: heartbeat not stored: %s", run_id, exc)

    thread = threading.Thread(target=beat, name=f"crmbook-heartbeat-{run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def finish(ws: Workspace, run_id: int, report: SyncReport) -> None:
    """Store how the run ended, with its report."""
    with ws.transaction() as s:
        run = s.get(SyncRun, run_id)
        if run is None:  # pragma: no cover - the row is ours
            return
        run.status = report.status
        run.reason = report.reason
        run.finished_at = run.heartbeat_at = ws.clock()
        run.report = report.to_dict()
