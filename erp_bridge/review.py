"""The review queue of ambiguous matches: records with no twin yet for which a sync
found several candidates on the other side (two local contacts with the ERP partner's
e-mail, two partners with a local company's VAT number), and created nothing.

A person chooses (:func:`decide`): one of the candidates, or a record of its own; the
next run applies the choice. While a question waits, its record and its candidates
are *held*: no run links them to anything else or creates them on the other side, so
that a question is never answered behind the reviewer's back, and no record is created
twice. A row goes through ``open`` (waiting), ``decided`` (applied by the next run) and
``applied``: then the other direction of the sync looks once more at the candidates
that were not chosen (a held local contact is pushed, a held partner pulled), and the
row goes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core import Workspace, access
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.models import SyncMatch

Direction = Literal["pull", "push"]
Side = Literal["local", "remote"]
#: The statuses of a row whose record and candidates are held.
WAITING = ("open", "decided")
COLUMNS = ["id", "backend", "entity", "record", "label", "candidates", "status", "choice"]


@dataclass
class Queued:
    """One row of the queue as a run sees it."""

    id: int
    entity: str
    direction: Direction
    record_id: int
    status: str
    choice: int | None
    candidates: list[int]

    @property
    def waiting(self) -> bool:
        """True while the row holds its record and candidates."""
        return self.status in WAITING


def _side_of_record(direction: Direction) -> Side:
    """A pull row's record is a remote one, a push row's a local one."""
    return "remote" if direction == "pull" else "local"


class Review:
    """The queue of one backend during a run; writes go through the caller's session."""

    def __init__(self, backend: str):
        self.backend = backend
        self._rows: dict[tuple[str, str, int], Queued] = {}

    def load(self, s: Session) -> None:
        """Read the queue (a handful of rows; read again after a rollback)."""
        self._rows.clear()
        for row in s.scalars(select(SyncMatch).where(SyncMatch.backend == self.backend)):
            self._remember(row)

    def _remember(self, row: SyncMatch) -> Queued:
        queued = Queued(
            row.id,
            row.entity,
            row.direction,  # type: ignore[arg-type]
            row.record_id,
            row.status,
            row.choice,
            [int(c["id"]) for c in row.candidates or []],
        )
        self._rows[(row.entity, row.direction, row.record_id)] = queued
        return queued

    def row(self, entity: str, direction: Direction, record_id: int) -> Queued | None:
        """The row of a record, if it is queued."""
        return self._rows.get((entity, direction, record_id))

    def held(self, entity: str, side: Side) -> dict[int, set[int]]:
        """The ``side`` ids of ``entity`` held by waiting rows: id -> the rows'
        ids."""
        out: dict[int, set[int]] = {}
        for row in self._rows.values():
            if row.entity != entity or not row.waiting:
                continue
            ids = [row.record_id] if _side_of_record(row.direction) == side else row.candidates
            for held in ids:
                out.setdefault(held, set()).add(row.id)
        return out

    def pending(self, entity: str, direction: Direction) -> list[int]:
        """The ids a ``direction`` pass of ``entity`` looks at again whatever its
        position: the records of its waiting rows, and the candidates left over by rows
        of the other direction that were applied."""
        out: set[int] = set()
        for row in self._rows.values():
            if row.entity != entity:
                continue
            if row.direction == direction and row.waiting:
                out.add(row.record_id)
            elif row.direction != direction and row.status == "applied":
                out.update(c for c in row.candidates if c != row.choice)
        return sorted(out)

    def queue(
        self,
        s: Session,
        entity: str,
        direction: Direction,
        record_id: int,
        label: str,
        candidates: list[dict[str, Any]],
        now: Any,
    ) -> None:
        """Queue a record with its candidates (``{"id", "keys", "name"}`` each), or
        refresh the candidates of a row that waits."""
        found = s.scalars(
            select(SyncMatch).where(
                SyncMatch.backend == self.backend,
                SyncMatch.entity == entity,
                SyncMatch.direction == direction,
                SyncMatch.record_id == record_id,
            )
        ).first()
        if found is None:
            found = SyncMatch(
                backend=self.backend,
                entity=entity,
                direction=direction,
                record_id=record_id,
                detected_at=now,
            )
            s.add(found)
        found.label = label
        found.candidates = candidates
        found.status, found.choice = "open", None
        s.flush()
        self._remember(found)

    def applied(self, s: Session, row: Queued) -> None:
        """The row's record is linked or created: it holds nothing any more."""
        s.get_one(SyncMatch, row.id).status = "applied"
        row.status = "applied"
        cached = self._rows.get((row.entity, row.direction, row.record_id))
        if cached is not None:  # ``row`` may come from before a reload
            cached.status = "applied"

    def drop_applied(self, s: Session, entity: str, direction: Direction) -> None:
        """Delete the applied rows of the other direction than ``direction``, whose
        left-over candidates this pass has looked at."""
        other = "push" if direction == "pull" else "pull"
        done = [
            r
            for r in self._rows.values()
            if r.entity == entity and r.direction == other and r.status == "applied"
        ]
        if done:
            s.execute(delete(SyncMatch).where(SyncMatch.id.in_([r.id for r in done])))
        for r in done:
            del self._rows[(r.entity, r.direction, r.record_id)]


def open_matches(ws: Workspace, backends: Iterable[str] = ()) -> pd.DataFrame:
    """The queued matches that wait for a person or for the next run: ``record`` names
    the record as ``remote #id`` (found in the ERP, candidates here) or ``local #id``
    (candidates in the ERP); ``candidates`` lists ``#id name (keys)``. Managers and
    admins only, as answering them is (:func:`decide`): the labels and candidates name
    any record of the team."""
    access.check_unrestricted(ws, "review", "the sync's queued matches")
    query = select(SyncMatch).where(SyncMatch.status.in_(WAITING)).order_by(SyncMatch.id)
    chosen = list(backends)
    if chosen:
        query = query.where(SyncMatch.backend.in_(chosen))
    with ws.transaction() as s:
        rows = [
            {
                "id": m.id,
                "backend": m.backend,
                "entity": m.entity,
                "record": f"{_side_of_record(m.direction)} #{m.record_id}",  # type: ignore[arg-type]
                "label": m.label,
                "candidates": "; ".join(
                    f"#{c['id']} {c.get('name') or ''} ({', '.join(c.get('keys', []))})"
                    for c in m.candidates or []
                ),
                "status": m.status,
                "choice": m.choice,
            }
            for m in s.scalars(query)
        ]
    return pd.DataFrame(rows, columns=COLUMNS)


def decide(ws: Workspace, match_id: int, choice: int | None) -> None:
    """Answer a queued match: ``choice`` is one of its candidates' ids (the record is
    that one: the next run links them and merges their fields), or None (it is a
    record of its own: the next run creates it on the other side). A manager's or an
    admin's answer, as running the sync is."""
    access.check_unrestricted(ws, "answer", f"queued match #{match_id}")
    with ws.transaction() as s:
        row = s.get(SyncMatch, match_id)
        if row is None or row.status not in WAITING:
            raise NotFoundError("queued match", match_id)
        ids = [int(c["id"]) for c in row.candidates or []]
        if choice is not None and choice not in ids:
            raise ValidationError(
                [
                    FieldError(
                        f"queued match #{match_id}",
                        "choice",
                        choice,
                        f"is not one of its candidates ({', '.join(map(str, ids))})",
                    )
                ]
            )
        row.status, row.choice = "decided", choice
        row.decided_at = ws.clock()
        row.decided_by_id = ws.user_id
