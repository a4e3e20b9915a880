"""The staff app server's health, for admins: its sessions, its memory, and how often
its event loop was held up (a callback that kept every other session waiting).

One :class:`ServerHealth` per serving process counts sessions as Panel opens and
destroys them, samples the process's memory, and checks the event loop every
:data:`TICK_S`: a tick that comes late by more than :data:`SLOW_S` means something ran
on the loop for that long, and is kept (the last :data:`KEPT` of them). ``/health``
(:class:`HealthHandler`) shows the figures as JSON to a logged-in admin, and 403 to
anyone else, with what the background jobs (:mod:`crm_core.background`: fetching the
mailboxes, sending the outbox; the ERP sync, :mod:`erp_bridge.scheduled`) did last:
when, what, and their last error. A job the process does not run shows as
``{"off": why}`` (the sync without an ERP connection: "not configured").

It also answers the loop's unhandled errors: a write to a page that closed while a
message to it was on its way (Panel's busy indicator turning off, say, for a tab
just closed) is counted as ``writes_to_closed_pages``, not logged as an error, since
nothing is lost; any other error goes to asyncio's own handler (the log).
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import json
import os
import threading
import time
from typing import Any

import psutil
from tornado.ioloop import IOLoop, PeriodicCallback
from tornado.iostream import StreamClosedError
from tornado.web import RequestHandler
from tornado.websocket import WebSocketClosedError

from crm_core import Workspace
from crm_core.background import Scheduler
from widgets.auth import cookie_user

#: How often the event loop is checked (s).
TICK_S = 0.1
#: A tick later than this (s) counts as the loop held up by a slow callback.
SLOW_S = 0.25
#: How many slow callbacks are kept to be shown.
KEPT = 50
#: What ``/health`` says of the background jobs of a process that does not run them.
NO_BACKGROUND = "not run by this process (crmbook serve --no-background)"
#: Where the page is served.
HEALTH_URL = "/health"


class ServerHealth:
    """The figures of one serving process (thread-safe: sessions open and close on the
    event loop, callbacks run in Panel's worker threads)."""

    def __init__(self, background: Scheduler | None = None) -> None:
        #: The server's background jobs (fetching mail, sending the outbox, syncing with
        #: the ERP); None when served with ``--no-background``.
        self.background = background
        self.started = time.time()
        self._lock = threading.Lock()
        self.live: set[str] = set()
        self.opened = 0
        self.closed = 0
        self.slow: collections.deque[tuple[float, float]] = collections.deque(maxlen=KEPT)
        self.slow_count = 0
        self.longest_hold_s = 0.0
        self.closed_writes = 0
        self._expected = 0.0
        self._ticker: PeriodicCallback | None = None

    # -- sessions ------------------------------------------------------------------
    def session_opened(self, session_id: str) -> None:
        with self._lock:
            self.live.add(session_id)
            self.opened += 1

    def session_closed(self, session_id: str) -> None:
        with self._lock:
            if session_id in self.live:
                self.live.discard(session_id)
                self.closed += 1

    # -- the event loop ------------------------------------------------------------
    def watch(self, loop: IOLoop) -> None:
        """Check the event loop ``loop`` every :data:`TICK_S` from now on (once)."""
        with self._lock:
            if self._ticker is not None:
                return
            self._ticker = PeriodicCallback(self._tick, TICK_S * 1000)
        loop.add_callback(self._start)

    def _start(self) -> None:  # on the loop itself: PeriodicCallback takes the current one
        self._expected = time.monotonic() + TICK_S
        if self._ticker is not None:
            self._ticker.start()
        asyncio.get_running_loop().set_exception_handler(self._unhandled)

    def _unhandled(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        """The loop's handler of errors nobody awaited: see the module's docstring."""
        if isinstance(context.get("exception"), (WebSocketClosedError, StreamClosedError)):
            with self._lock:
                self.closed_writes += 1
            return
        loop.default_exception_handler(context)

    def _tick(self) -> None:
        now = time.monotonic()
        late = now - self._expected
        self._expected = now + TICK_S
        if late > SLOW_S:
            with self._lock:
                self.slow.append((time.time() - late, late))
                self.slow_count += 1
                self.longest_hold_s = max(self.longest_hold_s, late)

    def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    # -- the page --------------------------------------------------------------------
    def figures(self) -> dict[str, Any]:
        """What ``/health`` shows: sessions, memory (MiB), threads, slow callbacks, and
        the background jobs' last runs (time, result, error)."""
        # This process's own, looked up now (not when the server was made).
        process = psutil.Process(os.getpid())
        memory = process.memory_info()
        background = (
            self.background.status()
            if self.background is not None
            else {"running": False, "off": NO_BACKGROUND}
        )
        with self._lock:
            live = len(self.live)
            slow = [{"at": _iso(at), "held_s": round(held, 3)} for at, held in reversed(self.slow)]
            return {
                "pid": process.pid,
                "up_since": _iso(self.started),
                "sessions": {"live": live, "opened": self.opened, "closed": self.closed},
                "memory_mib": {
                    "rss": _mib(memory.rss),
                    "per_live_session": _mib(memory.rss / live) if live else None,
                },
                "threads": process.num_threads(),
                "writes_to_closed_pages": self.closed_writes,
                "slow_callbacks": {
                    "threshold_s": SLOW_S,
                    "count": self.slow_count,
                    "longest_s": round(self.longest_hold_s, 3),
                    "last": slow,
                },
                "background": background,
            }


def _mib(n: float) -> float:
    return round(n / 2**20, 1)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="seconds")


class HealthHandler(RequestHandler):
    """``/health``: :meth:`ServerHealth.figures` as JSON, for a logged-in admin only."""

    def initialize(self, ws: Workspace, health: ServerHealth) -> None:
        self.ws = ws
        self.health = health

    async def get(self) -> None:
        self.set_header("Cache-Control", "no-store")
        user = await cookie_user(self, self.ws)
        if user is None:
            self.set_status(401)
            self.finish({"error": "log in as an admin to see the server's health"})
            return
        if user.get("role") != "admin":
            self.set_status(403)
            self.finish({"error": f"{user['login']} is not an admin"})
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(self.health.figures(), indent=2))
