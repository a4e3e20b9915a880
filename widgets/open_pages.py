"""The open pages of this server process, closed as soon as their login ends.

Every page of the staff app keeps a websocket open to the server, which acts for the
logged-in user as long as it stays open. When that user's login session ends (logging
out, a new password or role, the user disabled, revoked from the command line or by
another server process, run out), :class:`OpenPages` closes the websocket from the
server side within about a second: the page stops acting at once, and a reconnect is
refused by the login check.

Each process checks the sessions of the pages it holds, once a second, in a worker
thread (one query, whatever the number of pages), so a session ended in another
process or by ``crmbook user disable`` is seen as soon as one ended here.
"""

from __future__ import annotations

import logging
import weakref
from typing import Any, Protocol

from tornado.ioloop import IOLoop, PeriodicCallback

log = logging.getLogger(__name__)

#: The websocket close code and reason a page gets when its login ended (4000-4999 are
#: for applications).
CLOSE_CODE = 4001
CLOSE_REASON = "login session ended"


class LiveSessions(Protocol):
    """What is asked of the sessions: ``crm_core``'s ``ws.sessions`` fits."""

    def live(self, hashes: Any) -> set[str]: ...


class OpenPages:
    """The websockets of this process's open pages, by login session (token hash)."""

    def __init__(self, sessions: LiveSessions, interval: float = 1.0):
        self.sessions = sessions
        self.interval = interval
        self._open: dict[str, weakref.WeakSet[Any]] = {}
        self._timer: PeriodicCallback | None = None
        self._checking = False

    def add(self, session: str, socket: Any) -> None:
        """Hold ``socket`` (a tornado ``WebSocketHandler``) open while ``session`` lives.

        Called on the server's event loop; the first call starts the checks there (in
        each process)."""
        self._open.setdefault(session, weakref.WeakSet()).add(socket)
        if self._timer is None:
            self._timer = PeriodicCallback(self._tick, self.interval * 1000)
            self._timer.start()

    async def check(self) -> int:
        """Close the websockets of every session that is no longer live; how many."""
        self._prune()
        held = set(self._open)
        if not held:
            return 0
        live = await IOLoop.current().run_in_executor(None, self.sessions.live, held)
        closed = 0
        for session in held - live:
            for socket in list(self._open.pop(session, ())):
                socket.close(CLOSE_CODE, CLOSE_REASON)
                closed += 1
        return closed

    def _tick(self) -> None:
        if self._checking:  # the last check is still waiting for the database
            return
        self._checking = True
        IOLoop.current().spawn_callback(self._run)

    async def _run(self) -> None:
        try:
            await self.check()
        except Exception:  # a busy or unreachable database: try again at the next tick
            log.warning("checking the open pages' login sessions failed", exc_info=True)
        finally:
            self._checking = False

    def _prune(self) -> None:
        for session, sockets in list(self._open.items()):
            # A socket the client closed has no connection left (tornado sets it None).
            for socket in list(sockets):
                if getattr(socket, "ws_connection", True) is None:
                    sockets.discard(socket)
            if not sockets:
                del self._open[session]
