"""The pull cursor: Odoo's own ``write_date`` per model, read inclusively with a rewind.

Two traits of ``write_date`` shape this. It comes back in whole seconds while the
database keeps microseconds, so ``write_date = '…:58'`` matches nothing and
``write_date > '…:58'`` matches most of that second: a keyset on the returned value
would skip records. And it is the *start* time of the writing transaction, so a
transaction that began before our last read but committed after it carries an older
``write_date`` than records we already saw.

So pages are read with ``write_date >= S`` where S is the newest second seen so far,
excluding the ids already seen in that second (ordering by the full-precision value
never puts a later second before an earlier one); a run starts ``rewind`` seconds
before the newest second of the previous run, inclusive; and a re-read record is
compared with its last-synced copy, so re-reading a few seconds is cheap and nothing
is missed.

A crowded second (a bulk import in Odoo writes thousands of records in one
transaction) would make that exclusion list grow with every page. Once a full page
leaves more than ``CROWDED`` ids seen in its last second, that second is read on its
own, keyset-paged by id (``S <= write_date < S+1``, ``id > last``), leaving out the
ids already returned (at most one page of them); then paging goes on from the next
second.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

ODOO_FORMAT = "%Y-%m-%d %H:%M:%S"


def rewind(write_date: str, seconds: int) -> str:
    """``write_date`` moved back by ``seconds`` ('' stays '': the start of the stream)."""
    if not write_date:
        return ""
    stamp = dt.datetime.strptime(write_date, ODOO_FORMAT)
    return (stamp - dt.timedelta(seconds=seconds)).strftime(ODOO_FORMAT)


#: Ids seen in one second beyond which that second is read by id.
CROWDED = 200


def next_second(write_date: str) -> str:
    """The whole second after ``write_date``."""
    stamp = dt.datetime.strptime(write_date, ODOO_FORMAT)
    return (stamp + dt.timedelta(seconds=1)).strftime(ODOO_FORMAT)


@dataclass
class Cursor:
    """Where paging stands: the newest second read and the ids already read in it;
    ``after_id`` is the last id read while a crowded second is read by id."""

    second: str = ""
    seen: set[int] = field(default_factory=set)
    after_id: int | None = None

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
