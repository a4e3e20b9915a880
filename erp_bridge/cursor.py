"""The pull cursor: Odoo's own ``write_date`` per model, read inclusively with a rewind.

Two traits of ``write_date`` shape this. It comes back in whole seconds while the
database keeps microseconds, so ``write_date = '…:58'`` matches nothing and
``write_date > '…:58'`` matches most of that second: a keyset on the returned value
would skip records. And it is the *start* time of the writing transaction, so a
transaction that began before our last read but committed after it carries an older
``write_date`` than records we already saw.

So a model's pull keeps two values: S, the newest second read, and R, the ERP's clock
when the last run that re-checked the window below began. Every change with
``write_date <= S`` has been applied, except perhaps those of transactions that were
still open when a read began: they carry a ``write_date`` at most ``rewind`` seconds
before that read, so they lie in ``[R - rewind, S]``. A run therefore reads in two
parts:

1. the window ``[R - rewind, S]`` (empty once a run starts more than ``rewind`` after
   the last change: a quiet run reads nothing it has applied), *lightly*: ids and
   ``write_date`` only, keeping those not already applied with that ``write_date``
   (a bulk import in the window costs one small read, not a second pull); then R
   moves to this run's start;
   Two versions of one record written in the same whole second carry the same
   ``write_date``: a version read while another transaction that began in that
   second was still open would look applied. So a ``write_date`` is remembered as
   applied only once it has *settled* (the run that read it began at least
   ``SETTLE`` seconds after that second began, see :func:`settled`); a record read
   sooner is read again in full by the next re-check. (A transaction that began in
   the same second and stayed open past a later read is taken to be impossible.)
2. everything after S, from the next whole second, paged by ``write_date`` and id:
   ``write_date >= S`` where S is the newest second seen so far, excluding the ids
   already seen in that second (ordering by the full-precision value never puts a
   later second before an earlier one). S never moves back.

A crowded second (a bulk import in Odoo writes thousands of records in one
transaction) would make that exclusion list grow with every page. Once a full page
leaves more than ``CROWDED`` ids seen in its last second, that second is read on its
own, keyset-paged by id (``S <= write_date < S+1``, ``id > last``), leaving out the
ids already returned (at most one page of them); then paging goes on from the next
second.

What is saved after a page is not the second being read but the newest *complete*
one (:meth:`Cursor.done`): a run stopped inside a second re-reads all of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

#: How the adapter contract writes a change stamp (``write_date``): UTC, to the second.
STAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def rewind(write_date: str, seconds: int) -> str:
    """``write_date`` moved back by ``seconds`` ('' stays '': the start of the stream)."""
    if not write_date:
        return ""
    stamp = dt.datetime.strptime(write_date, STAMP_FORMAT)
    return (stamp - dt.timedelta(seconds=seconds)).strftime(STAMP_FORMAT)


#: Ids seen in one second beyond which that second is read by id.
CROWDED = 200
#: Seconds after the start of a ``write_date``'s second from which a read of it is
#: taken as the last version written in that second.
SETTLE = 2


def settled(write_date: str | None, read_from: str) -> str | None:
    """``write_date`` as the links remember it: itself when a read that began at
    ``read_from`` (the ERP's clock) is late enough to be the last version of that
    second, else None (not known to be applied: read again in full)."""
    if not write_date or not read_from:
        return None
    stamp = dt.datetime.strptime(write_date, STAMP_FORMAT) + dt.timedelta(seconds=SETTLE)
    return write_date if read_from >= stamp.strftime(STAMP_FORMAT) else None


def next_second(write_date: str) -> str:
    """The whole second after ``write_date``."""
    stamp = dt.datetime.strptime(write_date, STAMP_FORMAT)
    return (stamp + dt.timedelta(seconds=1)).strftime(STAMP_FORMAT)


@dataclass
class Cursor:
    """Where paging stands: the newest second read and the ids already read in it;
    ``after_id`` is the last id read while a crowded second is read by id."""

    second: str = ""
    seen: set[int] = field(default_factory=set)
    after_id: int | None = None
    #: An exclusive upper bound on ``write_date`` ('' for none): the light re-read of
    #: the rewind window stops where the new changes begin.
    until: str = ""

    @property
    def order(self) -> str:
        """The order the next page is read in."""
        return "id asc" if self.after_id is not None else "write_date asc, id asc"

    def domain(self) -> list[Any]:
        """The Odoo domain selecting what comes after this cursor."""
        if self.after_id is not None:
            by_id: list[Any] = [
                ["write_date", ">=", self.second],
                ["write_date", "<", next_second(self.second)],
                ["id", ">", self.after_id],
            ]
            # The ids already read in it (at most a page) are not read again.
            return [*by_id, ["id", "not in", sorted(self.seen)]] if self.seen else by_id
        out: list[Any] = []
        if self.second:
            out.append(["write_date", ">=", self.second])
        if self.until:
            out.append(["write_date", "<", self.until])
        if self.seen:
            out.append(["id", "not in", sorted(self.seen)])
        return out

    def advance(self, page: list[dict[str, Any]], limit: int | None = None) -> list[dict[str, Any]]:
        """Move past a page read in :attr:`order` with ``limit``; returns the page's
        records not returned before."""
        if self.after_id is not None:
            fresh = [r for r in page if int(r["id"]) not in self.seen]
            if page:
                self.after_id = int(page[-1]["id"])
            if limit is None or len(page) < limit:  # the crowded second is done
                self.second, self.seen, self.after_id = next_second(self.second), set(), None
            return fresh
        self._stream(page)
        if limit is not None and len(page) >= limit and len(self.seen) > CROWDED:
            self.after_id = 0
        return page

    def done(self, ended: bool) -> str:
        """The newest second every record of which has been read ('' for none): the
        position a run may save. The second being read is complete only when the
        stream ``ended``: a page that ends inside a second (Odoo gives every record of
        a bulk edit the same one) leaves the rest of it unread, so the position stays
        at the second before, and the next run reads that second again from its
        start (the records already applied come back unchanged and are skipped)."""
        if ended or not self.second:
            return self.second
        return rewind(self.second, 1)

    @property
    def streaming(self) -> bool:
        """False while a crowded second is read by id (its pages end early)."""
        return self.after_id is None

    def _stream(self, page: Iterable[dict[str, Any]]) -> None:
        for record in page:
            stamp = str(record["write_date"])
            if stamp != self.second:
                if stamp < self.second:
                    # A page never goes back in time; if it seems to, keep the newer
                    # second (the older record is re-read by the next run's rewind).
                    continue
                self.second, self.seen = stamp, set()
            self.seen.add(int(record["id"]))
