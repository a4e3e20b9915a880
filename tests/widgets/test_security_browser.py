"""The staff app's security in a real browser (Debian's Chromium through Playwright),
served in this process: every page works under the Content-Security-Policy with no
violation in the console, no other site may frame it, and an open page is closed
from the server within a second or two when its login ends."""

from __future__ import annotations

import time
from typing import Any

import pytest

import crm_core
from tests.widgets.app_server import served
from tests.widgets.browser import login, shoot
from tests.widgets.conftest import build_staff_base

pytestmark = pytest.mark.slow
VIEW = {"width": 1500, "height": 1000}


@pytest.fixture
def base(backend, monkeypatch):
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    build_staff_base(backend)
    return backend


def _csp_reports(messages: list[str]) -> list[str]:
    return [m for m in messages if "Content Security Policy" in m or "Refused to" in m]


def _watch(page: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """The console messages of ``page`` and its websockets (url, when closed)."""
    messages: list[str] = []
    sockets: list[dict[str, Any]] = []
    page.on("console", lambda m: messages.append(m.text))

    def opened(ws: Any) -> None:
        entry: dict[str, Any] = {"url": ws.url, "closed": None}
        sockets.append(entry)
        ws.on("close", lambda _ws: entry.update(closed=time.monotonic()))

    page.on("websocket", opened)
    return messages, sockets


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_page_works_under_the_csp_and_no_site_may_frame_the_app(browser, base):
    with served(base) as url:
        page = browser.new_page(viewport=VIEW)
        messages, sockets = _watch(page)
        page.goto(url + "/")
        assert "/login" in page.url
        login(page, url, "ayesha")
        page.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
        page.locator(".crm-nav-contacts button").click()
        page.locator(".crm-contact-table .tabulator-row").first.wait_for()
        page.locator(".crm-nav-pipeline button").click()
        page.locator("[class*='crm-card-']").first.wait_for()
        page.locator(".crm-nav-dashboard button").click()
        page.wait_for_timeout(1500)
        page.locator(".crm-nav-reports button").click()
        picker = page.locator(".crm-reports-select select")
        picker.select_option(label="Funnel by creation month")
        page.locator(".crm-reports-table .tabulator-col[tabulator-field='cohort']").wait_for()
        picker.select_option(label="Pipeline by stage")
        page.locator(".crm-reports-chart canvas").first.wait_for()
        page.locator(".crm-nav-sync button").click()
        page.wait_for_timeout(1500)
        shoot(page, "security-01-pages-under-csp")
        assert [s["closed"] for s in sockets] == [None]  # one live page, still open
        page.goto(url + "/logout")
        page.locator("button[type=submit]").click()  # a GET only asks to confirm
        page.locator("p.notice").get_by_text("You are logged out.").wait_for()
        assert _csp_reports(messages) == []

        # Another site framing the app: the browser refuses to show it.
        framer = browser.new_page(viewport=VIEW)
        framed, _ = _watch(framer)
        framer.set_content(f'<iframe id="app" src="{url}/login" width="800" height="600"></iframe>')
        framer.wait_for_timeout(2000)
        assert any("frame-ancestors" in m for m in framed), framed
        frame = framer.frame_locator("#app")
        assert frame.locator("input[name=password]").count() == 0
        page.close()
        framer.close()


def _log_out(page) -> None:
    """Log out in ``page`` as a person does: /logout, then its button (a POST)."""
    page.goto(page.url.split("#")[0].rsplit("/", 1)[0] + "/logout")
    page.locator("button[type=submit]").click()
    page.wait_for_load_state()


ENDINGS = {
    # logging out in another tab ends every session of the user, this page's too
    "logout": lambda ws, other: _log_out(other),
    "disable": lambda ws, other: ws.users.disable("bilal"),
    "password": lambda ws, other: ws.users.set_password("bilal", "another-pass-1"),
    "role": lambda ws, other: ws.users.set_role("bilal", "manager"),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_an_open_page_is_closed_by_the_server_when_its_login_ends(browser, base, ending):
    with served(base) as url:
        context = browser.new_context(viewport=VIEW)
        page, other = context.new_page(), context.new_page()
        messages, sockets = _watch(page)
        login(page, url, "bilal")
        page.locator(".crm-reminder").get_by_text("Time to call").wait_for(timeout=30_000)
        other.goto(url + "/")
        other.locator(".crm-nav-contacts button").wait_for(timeout=30_000)
        assert len(sockets) == 1 and sockets[0]["closed"] is None
        with crm_core.open(base) as ws:
            start = time.monotonic()
            ENDINGS[ending](ws, other)
        # The server checks once a second; the bound is generous because the check is
        # about closing at all (a loaded CI machine delays it), not about speed.
        deadline = start + 10
        while sockets[0]["closed"] is None and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert sockets[0]["closed"] is not None, "the page's websocket stayed open"
        took = sockets[0]["closed"] - start
        print(f"{ending}: websocket closed {took:.2f} s after the login ended")
        # Bokeh logs the close code and reason; the console message may arrive a
        # moment after Playwright saw the socket close.
        said, deadline = False, time.monotonic() + 5
        while time.monotonic() < deadline:
            said = any("4001" in m and "login session ended" in m for m in messages)
            if said:
                break
            page.wait_for_timeout(50)
        assert said, messages
        # The page says so (Panel's disconnect notification).
        # The toast itself (notyf also copies its text into an aria-live announcer).
        page.locator(".notyf__message", has_text="Disconnected: your login has ended").wait_for(
            timeout=5000
        )
        page.wait_for_timeout(800)  # the notification fades in
        shoot(page, f"security-02-closed-after-{ending}")
        # The page acts no more; reloading it asks for the login again.
        page.reload()
        page.locator("input[name=password]").wait_for()
        assert "/login" in page.url
        assert _csp_reports(messages) == []
        context.close()
