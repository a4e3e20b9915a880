"""A real ``crmbook serve`` fetches a real Dovecot mailbox on its schedule with nobody
clicking, and shows the job's last run at ``/health``; ``--no-background`` does not."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

import crm_core
from crm_core.models import EmailMessage
from tests.crm_core.mail.conftest import IMRAN, OWN, PASSWORD_ENV, add_box, message, when
from tests.widgets.app_server import add_staff, log_in
from tests.widgets.serving import crmbook_serve

pytestmark = pytest.mark.slow


def _workspace(location: str, server, minutes: str) -> None:
    add_staff(location)
    with crm_core.open(location) as ws:
        ws.contacts.create(name="Imran Khan", email=IMRAN)
        add_box(ws, server, "sales")
        ws.set_setting("mail_fetch_minutes", minutes)


def _mail(i: int) -> bytes:
    return message(
        frm=f"Imran Khan <{IMRAN}>",
        to=OWN,
        subject=f"Order {i}",
        mid=f"<serve-{i}@karachi-traders.example.com>",
        date=when(10, 9, i),
    )


def _stored(location: str) -> list[str]:
    with crm_core.open(location) as ws, ws.transaction() as s:
        return sorted(s.scalars(select(EmailMessage.message_id)).all())


def _wait_for(location: str, wanted: list[str], timeout: float = 60) -> list[str]:
    deadline = time.monotonic() + timeout
    while (got := _stored(location)) != wanted and time.monotonic() < deadline:
        time.sleep(0.5)
    return got


def test_serve_fetches_on_its_schedule(backend, dovecot, monkeypatch, tmp_path):
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    _workspace(backend, dovecot, "0.05")  # every 3 seconds
    dovecot.append(_mail(1))
    with crmbook_serve(backend, tmp_path / "serve.log") as (url, _process):
        first = ["<serve-1@karachi-traders.example.com>"]
        assert _wait_for(backend, first) == first  # fetched at start
        dovecot.append(_mail(2))  # arrives later: the next run, 3 s on, fetches it
        both = [*first, "<serve-2@karachi-traders.example.com>"]
        assert _wait_for(backend, both) == both
        admin, _ = log_in(url, "demo")
        answer = admin.get("/health")
        assert answer.status_code == 200, answer.text
        jobs = answer.json()["background"]
        assert jobs["running"] is True
        fetch = jobs["jobs"]["mail_fetch"]
        assert fetch["every_s"] == 3.0
        assert fetch["runs"] >= 2 and fetch["last_error"] is None
        assert fetch["last_result"].startswith("sales: ")
        assert jobs["jobs"]["mail_drain"]["last_result"] == "nothing queued"


def test_no_background_fetches_nothing(dovecot, monkeypatch, tmp_path):
    location = str(tmp_path / "crm.sqlite")
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    monkeypatch.delenv("CRMBOOK_COOKIE_SECRET", raising=False)
    _workspace(location, dovecot, "0.05")
    dovecot.append(_mail(1))
    with crmbook_serve(location, tmp_path / "serve.log", "--no-background") as (url, _):
        time.sleep(6)  # two schedule intervals
        assert _stored(location) == []
        admin, _ = log_in(url, "demo")
        jobs = admin.get("/health").json()["background"]
        assert jobs == {
            "running": False,
            "off": "not run by this process (crmbook serve --no-background)",
        }
