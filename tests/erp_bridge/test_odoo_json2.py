"""The JSON-2 transport against a real HTTP server on loopback that answers as Odoo 19
does: bearer key, database header, named arguments, Odoo's error bodies."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from erp_bridge.adapter import RemoteError, Unavailable
from erp_bridge.odoo.adapter import OdooAdapter

KEY = "0123456789abcdef-secret-key"


class Odoo19:
    """Scripted answers: each request takes the next (status, body, delay)."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, Any, float]] = []
        self.seen: list[dict[str, Any]] = []


@pytest.fixture
def server() -> Iterator[tuple[Odoo19, str]]:
    state = Odoo19()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.seen.append(
                {
                    "path": self.path,
                    "auth": self.headers["Authorization"],
                    "db": self.headers["X-Odoo-Database"],
                    "body": body,
                }
            )
            status, answer, delay = state.answers.pop(0)
            time.sleep(delay)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.block_on_close = False  # the timeout test's answer is never read
    httpd.handle_error = lambda request, address: None  # type: ignore[method-assign]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def adapter(url: str, **kw: Any) -> tuple[OdooAdapter, list[float]]:
    slept: list[float] = []
    odoo = OdooAdapter(url, "odoo19", "admin", KEY, protocol="json2", sleep=slept.append, **kw)
    return odoo, slept


def test_a_call_is_a_post_with_named_arguments_the_key_and_the_database(server):
    state, url = server
    state.answers = [(200, [{"id": 7, "name": "کراچی ٹریڈرز"}], 0)]
    odoo, _ = adapter(url)
    assert odoo.read("res.partner", [7], ["name"]) == [{"id": 7, "name": "کراچی ٹریڈرز"}]
    (request,) = state.seen
    assert request["path"] == "/json/2/res.partner/search_read"
    assert (request["auth"], request["db"]) == (f"Bearer {KEY}", "odoo19")
    assert request["body"] == {
        "domain": [["id", "in", [7]]],
        "fields": ["name"],
        "context": {"active_test": False},
    }


def test_try_again_later_is_retried_with_backoff(server):
    state, url = server
    state.answers = [(503, {}, 0), (429, {}, 0), (200, [3, 4], 0)]
    odoo, slept = adapter(url, backoff=0.5)
    assert odoo.all_ids("res.partner", []) == {3, 4}
    assert slept == [0.5, 1.0]


def test_refusals_keep_odoos_message_and_are_not_retried(server):
    state, url = server
    error = {
        "name": "builtins.ValueError",
        "message": "Invalid field res.partner.nope in condition ('nope', '=', 1)",
        "debug": "Traceback (most recent call last):\n  ... server internals ...",
    }
    state.answers = [(500, error, 0), (401, {}, 0)]
    odoo, slept = adapter(url)
    with pytest.raises(RemoteError) as refused:
        odoo.search_read("res.partner", [["nope", "=", 1]], ["name"])
    assert str(refused.value) == (
        "res.partner.search_read: HTTP 500: "
        "Invalid field res.partner.nope in condition ('nope', '=', 1)"
    )
    with pytest.raises(Unavailable, match="the API key was refused"):  # stops a run
        odoo.all_ids("res.partner", [])
    assert slept == [] and len(state.seen) == 2


def test_the_timeout_is_the_adapters_and_a_silent_server_is_not_retried(server):
    state, url = server
    state.answers = [(200, [], 1.5)]
    odoo, slept = adapter(url, timeout=0.3, retries=3)
    started = time.monotonic()
    with pytest.raises(Unavailable, match=r"no answer from http://127\.0\.0\.1:\d+ within 0\.3 s"):
        odoo.all_ids("res.partner", [])
    assert time.monotonic() - started < 1.2
    assert slept == [] and len(state.seen) == 1


def test_the_key_is_never_logged(server, caplog):
    state, url = server
    state.answers = [(200, [1], 0)]
    odoo, _ = adapter(url)
    with caplog.at_level(logging.DEBUG):
        odoo.all_ids("res.partner", [])
        logging.getLogger("odoolib.json2").debug("key %s", KEY)
    assert caplog.records and KEY not in caplog.text
    assert KEY not in repr(odoo)
