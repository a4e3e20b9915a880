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
before the newest second of the previous run, inclusive; and records already applied
at the same ``(id, write_date)`` are skipped. Re-reading a few seconds is cheap and
nothing is missed.
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


@dataclass
class Cursor:
    """Where paging stands: the newest second read and the ids already read in it."""

    second: str = ""
    seen: set[int] = field(default_factory=set)

    def domain(self) -> list[Any]:
        """The Odoo domain selecting what comes after this cursor."""
        out: list[Any] = []
        if self.second:
            out.append(["write_date", ">=", self.second])
        if self.seen:
            out.append(["id", "not in", sorted(self.seen)])
        return out

    def advance(self, page: Iterable[dict[str, Any]]) -> None:
        """Move past a page returned in (write_date, id) order."""
        for record in page:
            stamp = str(record["write_date"])
            if stamp != self.second:
                if stamp < self.second:
                    # A page never goes back in time; if it seems to, keep the newer
                    # second (the older record is re-read by the next run's rewind).
                    continue
                self.second, self.seen = stamp, set()
            self.seen.add(int(record["id"]))
