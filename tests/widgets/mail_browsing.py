"""What the mail tests in a real browser share (test_mail_browser, test_mail_reply_browser):
the app served without a timer of its own, the test IMAP server's password in its
environment, the app sending through the test SMTP server, and a page logged in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.crm_core.mail.conftest import OWN, PASSWORD_ENV
from tests.crm_core.mail.smtpd import Smtpd
from tests.widgets.browser import login, offline
from tests.widgets.serving import crmbook_serve

VIEW = {"width": 1400, "height": 1100}


@pytest.fixture
def served(staff_base: tuple[Path, dict[str, Any]]) -> Iterator[tuple[str, Path, dict[str, Any]]]:
    """The staff app served by ``crmbook serve --no-background``: the buttons send and
    fetch here, no timer of the server's own (the conftest's ``served`` otherwise)."""
    path, records = staff_base
    with crmbook_serve(path, path.parent / "serve.log", "--no-background") as (url, _process):
        yield url, path, records


@pytest.fixture
def imap_password(dovecot, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The test IMAP server, its password in the environment the app is served with
    (asked for before ``served``, which starts the app)."""
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    return dovecot


def send_through(ws: Any, smtpd: Smtpd, sender: str = OWN) -> None:
    """The workspace sends through the test SMTP server (no TLS), from ``sender``."""
    ws.mail.configure(
        smtp_host=smtpd.host, smtp_port=smtpd.port, smtp_security="none", sender=sender
    )


def open_app(browser: Any, url: str, user: str) -> tuple[Any, list[str]]:
    """A new page, cut off from the internet, logged in as ``user`` and showing the app
    (its Mail button there): the page and the list of the requests it blocked."""
    page = browser.new_page(viewport=VIEW)
    blocked = offline(page, url)
    login(page, url, user)
    page.locator(".crm-nav-mail button").wait_for(timeout=30_000)
    return page, blocked


def click(page: Any, css: str) -> None:
    page.locator(f".{css} button").first.click()
