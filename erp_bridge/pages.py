"""Reading one remote model's changes: the pull's page stream and its saved positions.

A :class:`PageStream` reads what changed in the ERP since the saved position (see
:mod:`erp_bridge.cursor`) from a thread of its own, a few pages ahead of the one being
applied, and saves the position after each page the caller has applied.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from crm_core.models import SyncState
from erp_bridge.cursor import Cursor, next_second, rewind

if TYPE_CHECKING:
    from erp_bridge.importer import Importer

#: Pages a pull reads ahead of the one being applied.
READ_AHEAD = 2


def get_state(s: Session, backend: str, key: str) -> str | None:
    """A stored sync state value (cursor, push position, external-id prefix)."""
    row = s.get(SyncState, (backend, key))
    return row.value if row else None


def set_state(s: Session, backend: str, key: str, value: str) -> None:
    """Store a sync state value."""
    row = s.get(SyncState, (backend, key))
    if row is None:
        s.add(SyncState(backend=backend, key=key, value=value))
    else:
        row.value = value


def delete_state(s: Session, backend: str, key: str) -> None:
    """Forget a stored sync state value (nothing if there is none)."""
    row = s.get(SyncState, (backend, key))
    if row is not None:
        s.delete(row)


#: Ids and write dates read per call when the rewind window is re-checked.
LIGHT_PAGE = 5000


def run_key(key: str) -> str:
    """The state holding the ERP time the last window re-check of ``key`` began (R)."""
    return f"{key}:run"


class PageStream:
    """The changed records of one remote model, read page by page by a thread of its own.

    What is read follows :mod:`erp_bridge.cursor`: first the records of the rewind
    window that are not applied yet (their ids and ``write_date`` read lightly, then
    only the new or changed ones in full), with the records that failed before; then
    every change after the newest second read. The reader thread starts at once and
    keeps up to ``READ_AHEAD`` pages ready, so the ERP's work and ours overlap instead
    of adding up. Iterating yields the pages and saves the cursor after each one the
    caller has applied (a page is only marked as read once it is written); the cursor
    never moves back. :meth:`close` stops the reader.
    """

    def __init__(
        self,
        importer: Importer,
        key: str,
        model: str,
        fields: list[str],
        domain: list[Any],
        full: bool,
        known: Callable[[], dict[int, str | None]],
        retry: Collection[int] = (),
    ):
        self.importer = importer
        self.key = key
        self.full = full
        backend = importer.ctx.binder.backend
        with importer.transaction() as s:
            self.second = get_state(s, backend, key) or ""
            checked = get_state(s, backend, run_key(key))
        self.window: tuple[str, str] | None = None
        start = ""
        if self.second and not full:
            # A workspace from before R was kept re-checks the old way: S - rewind.
            low = rewind(checked or self.second, importer.rewind_seconds)
            if low <= self.second:
                self.window = (low, next_second(self.second))
            start = next_second(self.second)
        # What is applied already, read here: the binder is not for the reader thread.
        self.known = known() if self.window else {}
        self.retry = sorted(set(retry))
        self.cursor = Cursor(start)
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD)
        self.stop = threading.Event()
        self.reader = threading.Thread(
            target=self._read, args=(model, fields, domain), name=f"crmbook-{key}", daemon=True
        )
        self.reader.start()

    def _read(self, model: str, fields: list[str], domain: list[Any]) -> None:
        try:
            adapter, size = self.importer.ctx.adapter, self.importer.page_size
            again = set(self.retry)
            if self.window:
                again |= self._unapplied(model, domain, *self.window)
            wanted = sorted(again)
            for start in range(0, len(wanted), size):
                if self.stop.is_set():
                    return
                chunk = wanted[start : start + size]
                found = adapter.search_read(
                    model, [*domain, ["id", "in", chunk]], sorted({*fields, "write_date"})
                )
                self.pages.put(("again", found, None))
            if not self.full:
                self.pages.put(("checked", [], None))
            more, cursor = True, self.cursor
            while more and not self.stop.is_set():
                streaming = cursor.streaming
                page = adapter.changed_since(model, cursor, fields, domain, size)
                fresh = cursor.advance(page, size)
                more = len(page) >= size or not streaming
                self.pages.put(("page", fresh, cursor.done(ended=not more)))
            if self.full:
                self.pages.put(("checked", [], None))
            self.pages.put(None)
        except BaseException as exc:  # handed to the consumer, raised there
            self.pages.put(exc)

    def _unapplied(self, model: str, domain: list[Any], low: str, below: str) -> set[int]:
        """Ids in the rewind window not applied with the ``write_date`` they have now:
        ids and dates only, keyset-paged by id."""
        adapter, out, after = self.importer.ctx.adapter, set(), 0
        while not self.stop.is_set():
            window = [
                *domain,
                ["write_date", ">=", low],
                ["write_date", "<", below],
                ["id", ">", after],
            ]
            page = adapter.search_read(model, window, ["write_date"], limit=LIGHT_PAGE)
            out |= {int(r["id"]) for r in page if self.known.get(int(r["id"])) != r["write_date"]}
            if len(page) < LIGHT_PAGE:
                break
            after = int(page[-1]["id"])
        return out

    def __iter__(self) -> Iterator[list[dict[str, Any]]]:
        importer = self.importer
        backend = importer.ctx.binder.backend
        while (item := self.pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            kind, fresh, second = item
            if fresh:
                yield fresh
            if kind == "checked":
                # Every change up to S is applied but those of transactions open when
                # this run began: the next run re-checks from this run's start.
                with importer.transaction() as s:
                    set_state(s, backend, run_key(self.key), importer.started)
            elif kind == "page" and second > self.second:
                self.second = second
                with importer.transaction() as s:
                    set_state(s, backend, self.key, second)
            if importer.progress and fresh:
                importer.progress(self.key, len(fresh))

    def close(self) -> None:
        """Stop the reader (it may be waiting to hand over a page) and wait for it."""
        self.stop.set()
        while self.reader.is_alive():
            with contextlib.suppress(queue.Empty):
                self.pages.get(timeout=0.05)
