"""What many sessions read alike, computed once per change of the data and shared.

On one server, every manager's board asks for the same column totals, and every board
for the same stages and users. :func:`shared` answers such a read from a small cache
of this process, keyed by the read, its arguments, the workspace's connection pool
(which every session of a server shares), who may see what (a manager's answer is
every manager's; a sales user's is theirs) and the workspace's **data version**: the
journal's highest id. Every write crm_core makes is journaled, by this process or
another one on the same database (a second ``crmbook serve``, a sync, an import), so a
write changes the version and the next read computes afresh; a user who moves a card
sees the new totals at once.

The version is read before the answer is computed, so an answer is never older than
its key. On PostgreSQL two transactions can commit in the other order than their
journal ids were given out, so that a version can be seen before all of its writes
are: every entry is also dropped :data:`MAX_AGE` seconds after it was computed, which
bounds how long such a rare race can show an answer without a commit in it.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pandas as pd
from sqlalchemy import func, select

from crm_core import Workspace, access
from crm_core.models import JournalEntry

T = TypeVar("T")

#: Seconds an answer is kept at most, whatever the version says.
MAX_AGE = 5.0
#: Answers kept at most (the least recently used go first).
MAX_ENTRIES = 256


class SharedReads:
    """A cache of read answers shared by the sessions of one process (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()
        #: How many reads were answered from the cache, and how many computed.
        self.hits = 0
        self.misses = 0

    def read(self, ws: Workspace, name: str, args: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s answer for read ``name`` with ``args`` as ``ws`` sees it,
        from the cache when the data has not changed since it was computed."""
        key = (_token(ws), name, args, access.own_only(ws), data_version(ws))
        now = self.clock()
        with self._lock:
            found = self._entries.get(key)
            if found is not None and now - found[0] <= MAX_AGE:
                self._entries.move_to_end(key)
                self.hits += 1
                return _own_copy(found[1])
            self.misses += 1
        answer = compute()  # outside the lock: other reads go on meanwhile
        with self._lock:
            self._entries[key] = (now, answer)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return _own_copy(answer)

    def clear(self) -> None:
        """Forget every answer."""
        with self._lock:
            self._entries.clear()


def _token(ws: Workspace) -> str:
    """Which database connection pool ``ws`` reads through: the sessions of a server
    share their workspace's engine, and a workspace opened again (a database made anew
    at the same address, whose journal ids start over) gets another token."""
    token = getattr(ws.engine, "_crmbook_reads", None)
    if token is None:
        token = uuid.uuid4().hex
        ws.engine._crmbook_reads = token  # type: ignore[attr-defined]
    return str(token)


def _own_copy(answer: T) -> T:
    """A DataFrame the caller may change without changing the shared one."""
    return answer.copy() if isinstance(answer, pd.DataFrame) else answer  # type: ignore[return-value]


def data_version(ws: Workspace) -> int:
    """The workspace's data version: the id of the latest journal entry (0 for none)."""
    with ws.transaction() as s:
        return int(s.scalar(select(func.max(JournalEntry.id))) or 0)


#: The process's cache, shared by every session it serves.
SHARED = SharedReads()


def shared(ws: Workspace, name: str, args: Hashable, compute: Callable[[], T]) -> T:
    """:meth:`SharedReads.read` on the process's cache."""
    return SHARED.read(ws, name, args, compute)
