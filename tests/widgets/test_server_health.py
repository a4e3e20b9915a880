"""``/health``: an admin sees the serving process's sessions, memory and slow callbacks;
sessions are counted as pages open and close (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from tornado.ioloop import IOLoop
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from tests.widgets.app_server import add_staff, log_in, served
from widgets.server_health import SLOW_S, ServerHealth

pytestmark = pytest.mark.slow


def health(client: httpx.Client) -> dict:
    answer = client.get("/health")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    return answer.json()


def test_an_admin_sees_sessions_open_and_close_and_others_are_refused(backend, monkeypatch):
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    add_staff(backend)
    with served(backend) as url:
        admin, _ = log_in(url, "demo")
        sales, _ = log_in(url, "bilal")
        refused = sales.get("/health")
        assert refused.status_code == 403
        assert refused.json() == {"error": "bilal is not an admin"}
        assert "sessions" not in refused.text

        before = health(admin)
        assert before["sessions"] == {"live": 0, "opened": 0, "closed": 0}
        assert before["memory_mib"]["rss"] > 50
        assert before["slow_callbacks"]["threshold_s"] == SLOW_S

        for _ in range(2):  # two pages opened: their sessions are made with the page
            assert sales.get("/").status_code == 200
        opened = health(admin)
        assert opened["sessions"]["opened"] == 2
        assert opened["sessions"]["live"] == 2
        assert opened["memory_mib"]["per_live_session"] > 0


@pytest.fixture
def watched_loop() -> Iterator[tuple[ServerHealth, IOLoop]]:
    """A ServerHealth watching an event loop that runs on a thread of its own."""
    watched = ServerHealth()
    ready = threading.Event()
    loops: list[IOLoop] = []

    def run() -> None:
        asyncio.set_event_loop(asyncio.new_event_loop())
        loop = IOLoop.current()
        loops.append(loop)
        ready.set()
        loop.start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    ready.wait(5)
    loop = loops[0]
    watched.watch(loop)
    time.sleep(0.5)
    yield watched, loop
    loop.add_callback(watched.stop)
    loop.add_callback(loop.stop)
    thread.join(5)


def test_a_held_event_loop_is_counted_as_a_slow_callback(watched_loop):
    watched, loop = watched_loop
    assert watched.figures()["slow_callbacks"]["count"] == 0
    loop.add_callback(time.sleep, 0.6)  # a callback holding the loop for 0.6 s
    time.sleep(1.2)
    slow = watched.figures()["slow_callbacks"]
    assert slow["count"] == 1
    assert 0.5 <= slow["longest_s"] < 1.0
    assert slow["last"][0]["held_s"] == slow["longest_s"]


def test_a_write_to_a_closed_page_is_counted_and_any_other_error_still_logged(watched_loop, caplog):
    watched, loop = watched_loop

    async def failing(exc: Exception) -> None:
        raise exc

    def unretrieved(exc: Exception) -> None:  # a task that fails, never awaited
        asyncio.ensure_future(failing(exc))  # noqa: RUF006 - unretrieved on purpose

    assert watched.figures()["writes_to_closed_pages"] == 0
    loop.add_callback(unretrieved, WebSocketClosedError())
    loop.add_callback(unretrieved, StreamClosedError())
    loop.add_callback(unretrieved, ValueError("a real mistake"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        watched.figures()["writes_to_closed_pages"] < 2 or "a real mistake" not in caplog.text
    ):
        loop.add_callback(gc.collect)  # a failed task is reported when it is let go
        time.sleep(0.2)
    assert watched.figures()["writes_to_closed_pages"] == 2
    assert "Task exception was never retrieved" in caplog.text
    assert "ValueError: a real mistake" in caplog.text
    assert "WebSocketClosedError" not in caplog.text
