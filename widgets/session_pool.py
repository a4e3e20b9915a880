"""Worker threads for the staff app's callbacks, each session's run in order.

Panel's ``nthreads`` runs the callbacks of every session on a thread pool, so that one
session's database work does not hold the event loop all the others are served by.
But it hands each browser event to the pool on its own: two events of one session (a
table cell's new value and its edit event, two quick clicks) may then run at once or
out of order, and an edit was seen lost that way. :class:`SessionOrderedPool` keeps
Panel's pool and adds one rule: the work of one session (one Bokeh document) runs one
item at a time, in the order it came; different sessions still run side by side.

Panel has no public hook for its executor: :func:`use` replaces ``state._thread_pool``,
which every threaded dispatch of Panel 1.4 to 1.9 goes through (``reactive.py``,
``io/state.py``, ``io/callbacks.py``); the tests run the staff app through it.
"""

from __future__ import annotations

import collections
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Bokeh is imported when a pool is used: `crmbook` starts without it
    from bokeh.document import Document

#: Worker threads running the sessions' callbacks in one serving process; 0: on the
#: event loop. Measured with bench/app_load.py on 2 cores (5 people, browsers on the
#: same cores), 4 threads were slower than none: p95 1.2-3.4 s on the loop against
#: 1.4-4.6 s threaded, 120 against 152 ms of server CPU per action (the GIL passed to
#: and fro, and each thread's model changes sent to the browser one by one).
DEFAULT_THREADS = 0


def document_of(fn: Callable[..., Any], args: tuple[Any, ...]) -> Document | None:
    """The session (document) a piece of Panel's work belongs to, if it names one:
    an argument, an argument of a ``functools.partial``, or a periodic callback's."""
    from bokeh.document import Document

    while isinstance(fn, functools.partial):
        args = (*fn.args, *args)
        fn = fn.func
    for arg in args:
        if isinstance(arg, Document):
            return arg
    doc = getattr(getattr(fn, "__self__", None), "_doc", None)
    return doc if isinstance(doc, Document) else None


class SessionOrderedPool(ThreadPoolExecutor):
    """A thread pool that runs the work of one document one item at a time, in order."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="crmbook-session")
        self._order = threading.Lock()
        self._queues: dict[Document, collections.deque[Any]] = {}

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        doc = document_of(fn, args)
        if doc is None:
            return super().submit(fn, *args, **kwargs)
        future: Future[Any] = Future()
        with self._order:
            queue = self._queues.setdefault(doc, collections.deque())
            queue.append((future, fn, args, kwargs))
            if len(queue) > 1:
                return future  # the session has work running: this waits its turn
        super().submit(self._run, doc)
        return future

    def _run(self, doc: Document) -> None:
        with self._order:
            future, fn, args, kwargs = self._queues[doc][0]
        try:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to whoever waits on the future
                    future.set_exception(exc)
        finally:
            with self._order:
                queue = self._queues[doc]
                queue.popleft()
                more = bool(queue)
                if not more:
                    del self._queues[doc]
            if more:
                super().submit(self._run, doc)

    def waiting(self) -> int:
        """How many items wait behind a running one of their session."""
        with self._order:
            return sum(len(q) - 1 for q in self._queues.values())


def use(threads: int) -> SessionOrderedPool | None:
    """Run Panel's callbacks on ``threads`` workers, each session's in order (0: on the
    event loop, as Panel does without ``nthreads``)."""
    import panel as pn
    from panel.io.state import state

    if not threads:
        pn.config.nthreads = None  # type: ignore[misc]  # a param: settable
        return None
    if isinstance(state._thread_pool, SessionOrderedPool):
        return state._thread_pool
    # Panel's own setting stays true to what runs (Panel reads it elsewhere); the
    # plain pool it starts is replaced at once, before any session exists.
    pn.config.nthreads = threads  # type: ignore[misc]
    if state._thread_pool is not None:
        state._thread_pool.shutdown(wait=False)
    pool = SessionOrderedPool(threads)
    state._thread_pool = pool
    return pool
