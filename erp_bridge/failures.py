"""The records a sync could not pull or push, kept until a later run gets them through.

A record that fails (the ERP refused a write, a local value could not be stored) is
listed here with the error; its cursor moves on so one bad record never holds up the
rest, and every later run tries it again first: a pull re-reads it by id, a push sends
it again. It leaves the list when it gets through.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from typing import Literal

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core import Workspace, access
from crm_core.models import SyncFailure

Direction = Literal["pull", "push"]
COLUMNS = ["backend", "entity", "direction", "record", "error", "attempts", "since", "last"]


def pending(s: Session, backend: str, entity: str, direction: Direction) -> list[int]:
    """The ids (remote for a pull, local for a push) of ``entity`` still to retry."""
    return list(
        s.scalars(
            select(SyncFailure.record_id)
            .where(
                SyncFailure.backend == backend,
                SyncFailure.entity == entity,
                SyncFailure.direction == direction,
            )
            .order_by(SyncFailure.record_id)
        )
    )


def failed(
    s: Session,
    backend: str,
    entity: str,
    direction: Direction,
    record_id: int,
    error: str,
    now: dt.datetime,
) -> None:
    """Add a failure to the list, or count one more attempt of a listed one."""
    row = s.scalars(
        select(SyncFailure).where(
            SyncFailure.backend == backend,
            SyncFailure.entity == entity,
            SyncFailure.direction == direction,
            SyncFailure.record_id == record_id,
        )
    ).first()
    if row is None:
        s.add(
            SyncFailure(
                backend=backend,
                entity=entity,
                direction=direction,
                record_id=record_id,
                error=error,
                attempts=1,
                first_failed_at=now,
                last_failed_at=now,
            )
        )
    else:
        row.error, row.last_failed_at, row.attempts = error, now, row.attempts + 1


def cleared(
    s: Session, backend: str, entity: str, direction: Direction, record_ids: Iterable[int]
) -> None:
    """Take records that got through off the list."""
    ids = sorted(set(record_ids))
    for start in range(0, len(ids), 1000):
        s.execute(
            delete(SyncFailure).where(
                SyncFailure.backend == backend,
                SyncFailure.entity == entity,
                SyncFailure.direction == direction,
                SyncFailure.record_id.in_(ids[start : start + 1000]),
            )
        )


def listed(ws: Workspace, backends: Collection[str] = ()) -> pd.DataFrame:
    """Every record waiting to be retried, oldest first: what `crmbook sync status` and
    the app's Sync page show. ``record`` names it as ``local #id`` or ``remote #id``.
    Managers and admins only, as the sync that retries them is: the errors quote any
    record's values (another rep's deal among them)."""
    access.check_unrestricted(ws, "review", "the sync's failed records")
    query = select(SyncFailure).order_by(SyncFailure.first_failed_at, SyncFailure.id)
    if backends:
        query = query.where(SyncFailure.backend.in_(list(backends)))
    with ws.transaction() as s:
        rows = [
            {
                "backend": f.backend,
                "entity": f.entity,
                "direction": f.direction,
                "record": f"{'remote' if f.direction == 'pull' else 'local'} #{f.record_id}",
                "error": f.error,
                "attempts": f.attempts,
                "since": f.first_failed_at,
                "last": f.last_failed_at,
            }
            for f in s.scalars(query)
        ]
    return pd.DataFrame(rows, columns=COLUMNS)
