"""The staff app served in-process (``serve_app(threaded=True)``) on a free port, and
what the security tests do with it: log in over HTTP, open a page's websocket."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

import crm_core
from tests.widgets.browser import PASSWORD, free_port, wait_for

SESSION = "crmbook_session"


def add_staff(location: str) -> None:
    """Two sales users and an admin, each with :data:`PASSWORD`."""
    with crm_core.open(location) as ws:
        for name, login, role in (
            ("بلال احمد", "bilal", "sales"),
            ("Ольга Смирнова", "olga", "sales"),
            ("Demo Admin", "demo", "admin"),
        ):
            ws.users.add(name, login, role=role, password=PASSWORD)


@contextmanager
def served(location: str, **options: Any) -> Iterator[str]:
    """The app on ``location`` in this process; yields its URL, stops it after."""
    from widgets.app import serve_app

    port = free_port()
    server = serve_app(location, port=port, threaded=True, **options)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/login", timeout=60)
        yield url
    finally:
        server.stop()


def xsrf_of(client: httpx.Client) -> str:
    """The XSRF token of the login form (its cookie lands in ``client``)."""
    form = client.get("/login")
    return re.search(r'name="_xsrf" value="([^"]+)"', form.text).group(1)


def log_out(client: httpx.Client) -> httpx.Response:
    """Log out as the confirm page does: its form's XSRF token posted to /logout."""
    confirm = client.get("/logout")
    token = re.search(r'name="_xsrf" value="([^"]+)"', confirm.text).group(1)
    return client.post("/logout", data={"_xsrf": token})


def log_in(
    url: str, login: str, password: str = PASSWORD, **fields: str
) -> tuple[httpx.Client, httpx.Response]:
    """Log in through the form as a browser does: (the client, the POST's answer)."""
    client = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    data = {"username": login, "password": password, "_xsrf": xsrf_of(client), **fields}
    return client, client.post("/login", data=data)


def session_cookie(client: httpx.Client) -> str:
    return client.cookies[SESSION]


def page_token(url: str, cookie: str) -> str:
    """The Bokeh session token of a freshly opened app page (what its websocket sends)."""
    page = httpx.get(url + "/", cookies={SESSION: cookie}, timeout=30)
    assert page.status_code == 200, page.status_code
    return re.search(r'"token":"([^"]+)"', page.text).group(1)


async def open_socket(url: str, token: str, cookie: str | None) -> WebSocketClientConnection:
    """Connect a page's websocket as the browser does (Bokeh's subprotocol, the cookie,
    the page's origin) and read the server's first message."""
    headers = {"Origin": url}
    if cookie is not None:
        headers["Cookie"] = f"{SESSION}={cookie}"
    request = HTTPRequest(url.replace("http", "ws", 1) + "/ws", headers=headers)
    socket = await websocket_connect(request, subprotocols=["bokeh", token])
    assert await socket.read_message() is not None  # Bokeh's ACK
    return socket


def run(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end in a thread of its own: the browser tests' Playwright
    keeps an event loop running in this one for the whole session."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


async def closed_within(socket: WebSocketClientConnection, seconds: float) -> float:
    """Read until the server closes ``socket``; how long that took (fails after
    ``seconds``)."""
    start = time.monotonic()
    while True:
        left = seconds - (time.monotonic() - start)
        message = await asyncio.wait_for(socket.read_message(), max(left, 0.01))
        if message is None:
            return time.monotonic() - start
