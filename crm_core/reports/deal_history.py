"""Deals as they were: each deal's past amount, currency, stage, probability, close
date, status and owner, rebuilt from the journal.

The journal (:mod:`crm_core.journal`) records the creation of every deal with a
snapshot of its fields, then every change to a field with its new value, and a
deletion with the last snapshot. Replaying those entries up to an instant gives the
deals as anyone could have seen them then: what the pipeline forecast knew at the
start of a month, which the backtest needs to replay it honestly (today's amounts
and close dates would flatter it).

The entries are read through the public reader, ``ws.journal`` (so a sales user
replays only the deals they may see). The history starts with the first journal
entry about a deal (:attr:`DealHistory.first`): before it, the workspace did not
keep the deals' history and nothing can be replayed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: The journal's name for deals (their table).
ENTITY = "opportunities"
#: The fields a past deal is rebuilt with.
FIELDS = (
    "expected_revenue",
    "currency",
    "probability",
    "expected_close",
    "stage_id",
    "status",
    "owner_id",
    "active",
)
#: Journal entries read per call of ``ws.journal.since``.
PAGE = 50_000


@dataclass(frozen=True)
class DealState:
    """One deal as it was at an instant."""

    id: int
    expected_revenue: Decimal
    currency: str
    probability: Decimal
    expected_close: dt.date | None
    stage_id: int
    status: str
    owner_id: int | None
    active: bool


# (at, action, field, new value decoded)
_Event = tuple[dt.datetime, str, str | None, Any]


class DealHistory:
    """The journal's entries about deals, ready to be replayed at any instant."""

    def __init__(self, events: dict[int, list[_Event]]):
        self._events = events
        starts = [e[0][0] for e in events.values() if e]
        #: The first journal entry about a deal (None when there is none): deals can
        #: be rebuilt as of this instant or later.
        self.first: dt.datetime | None = min(starts) if starts else None

    @classmethod
    def load(cls, ws: Workspace) -> DealHistory:
        """Read every journal entry about a deal, oldest first, with ``ws.journal``."""
        events: dict[int, list[_Event]] = {}
        last = 0
        while True:
            page = ws.journal.since(last, PAGE)
            if page.empty:
                break
            last = int(page["id"].iloc[-1])
            deals = page[page["entity"] == ENTITY]
            for record_id, at, action, field, new in zip(
                deals["record_id"],
                deals["at"],
                deals["action"],
                deals["field"],
                deals["new"],
                strict=True,
            ):
                when = at.to_pydatetime() if hasattr(at, "to_pydatetime") else at
                value = json.loads(new) if isinstance(new, str) else None
                field = field if isinstance(field, str) else None
                events.setdefault(int(record_id), []).append((when, action, field, value))
            if len(page) < PAGE:
                break
        return cls(events)

    def as_of(self, instant: dt.datetime) -> list[DealState]:
        """Every deal that existed just before ``instant`` (aware), as it was then:
        created before it, not deleted before it, with the changes made before it."""
        out = []
        for record_id, events in self._events.items():
            state: dict[str, Any] | None = None
            for at, action, field, value in events:
                if at >= instant:
                    continue  # later (entries written with a clock set back come later)
                if action == "create" and isinstance(value, dict):
                    state = {k: value.get(k) for k in FIELDS}
                elif action == "delete":
                    state = None
                elif state is not None and field in FIELDS:
                    state[field] = value
            if state is not None and state["stage_id"] is not None:
                out.append(_deal(record_id, state))
        return out


def _deal(record_id: int, state: dict[str, Any]) -> DealState:
    close = state["expected_close"]
    return DealState(
        id=record_id,
        expected_revenue=Decimal(str(state["expected_revenue"] or 0)),
        currency=str(state["currency"]),
        probability=Decimal(str(state["probability"] or 0)),
        expected_close=dt.date.fromisoformat(close[:10]) if close else None,
        stage_id=int(state["stage_id"]),
        status=str(state["status"] or "open"),
        owner_id=None if state["owner_id"] is None else int(state["owner_id"]),
        active=state["active"] is not False,
    )


__all__ = ["ENTITY", "FIELDS", "DealHistory", "DealState"]
