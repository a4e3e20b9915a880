"""``/unsubscribe`` on the served staff app, with plain HTTP and no login: GET only
asks (mail scanners open links), the button's POST and RFC 8058's one-click POST
unsubscribe, bad tokens get a 400 page (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest

import crm_core
from tests.widgets.app_server import served
from widgets.headers import HEADERS

pytestmark = pytest.mark.slow


def _token(link: str) -> str:
    return link.split("token=", 1)[1]


def test_the_link_asks_on_get_and_unsubscribes_on_post_without_a_login(backend):
    with crm_core.open(backend) as ws:
        sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
        imran = ws.contacts.create(
            name="Imran Khan", email="imran@karachi-traders.example.com", language="ur"
        )
        olga = ws.contacts.create(name="Olga Petrova", email="olga@volga.example.com")
        links = {c["id"]: ws.mail.unsubscribe_link(c["id"]) for c in (sam, imran, olga)}
    assert links[sam["id"]].startswith("http://localhost:5006/unsubscribe?token=")

    with served(backend) as url:
        web = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
        path = "/unsubscribe?token=" + _token(links[sam["id"]])

        asked = web.get(path)  # what a mail scanner does: nothing changes

        assert asked.status_code == 200, asked.text
        assert asked.headers["content-type"] == "text/html; charset=utf-8"
        assert asked.headers["cache-control"] == "no-store"
        for header, value in HEADERS.items():  # the app's security headers apply
            assert asked.headers[header] == value, header
        assert "You will no longer receive marketing e-mail from us at s***@lee.example.com." in (
            asked.text
        )
        assert '<form method="post" action="unsubscribe">' in asked.text
        token = re.search(r'name="token" value="([^"]+)"', asked.text).group(1)
        assert token == _token(links[sam["id"]])
        with crm_core.open(backend) as ws:
            assert ws.contacts.get(sam["id"])["no_marketing"] is False

        done = web.post("/unsubscribe", data={"token": token})  # the button

        assert done.status_code == 200, done.text
        assert "You are unsubscribed" in done.text and "crm-unsubscribe-done" in done.text
        with crm_core.open(backend) as ws:
            assert ws.contacts.get(sam["id"])["no_marketing"] is True
            changes = ws.journal.for_record("contacts", sam["id"])
            assert changes[changes["field"] == "no_marketing"]["new"].tolist() == ["true"]
        again = web.get(path)
        assert again.status_code == 200 and "already unsubscribed" in again.text
        assert "<form" not in again.text

        # in the contact's language, right to left
        urdu = web.get("/unsubscribe?token=" + _token(links[imran["id"]]))
        assert urdu.status_code == 200
        assert '<html lang="ur" dir="rtl">' in urdu.text
        assert urdu.headers["content-language"] == "ur"
        # else the browser's
        russian = web.get(
            "/unsubscribe?token=" + _token(links[olga["id"]]),
            headers={"Accept-Language": "ru-RU,ru;q=0.9"},
        )
        assert '<html lang="ru" dir="ltr">' in russian.text

        # RFC 8058: the mail client POSTs to the link itself, at once, with no cookie
        one_click = httpx.post(
            url + "/unsubscribe?token=" + _token(links[olga["id"]]),
            content="List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=30,
        )
        assert one_click.status_code == 200, one_click.text
        with crm_core.open(backend) as ws:
            assert ws.contacts.get(olga["id"])["no_marketing"] is True
            assert ws.contacts.get(imran["id"])["no_marketing"] is False

        # tampered, missing and expired tokens: a 400 page, no traceback, no change
        good = _token(links[imran["id"]])
        tampered = good[:-3] + ("AAA" if not good.endswith("AAA") else "BBB")
        for bad in (tampered, "", "not-a-token"):
            for answer in (
                web.get("/unsubscribe", params={"token": bad}),
                web.post("/unsubscribe", data={"token": bad}),
            ):
                assert answer.status_code == 400
                assert "This unsubscribe link does not work" in answer.text
                assert "The link is incomplete or altered." in answer.text
                assert "Traceback" not in answer.text and "ValidationError" not in answer.text
        with crm_core.open(backend) as ws:
            assert ws.contacts.get(imran["id"])["no_marketing"] is False

    with crm_core.open(
        backend, clock=lambda: dt.datetime.now(dt.UTC) - dt.timedelta(days=401)
    ) as ws:
        old = _token(ws.mail.unsubscribe_link(imran["id"]))
        ws.contacts.update(sam["id"], email="sam.lee@lee.example.com")
    with served(backend) as url:
        expired = httpx.post(url + "/unsubscribe", data={"token": old}, timeout=30)
        assert expired.status_code == 400
        assert "The link is too old." in expired.text
        moved = httpx.get(url + path, timeout=30)
        assert moved.status_code == 400
        assert "an e-mail address we no longer have" in moved.text
    with crm_core.open(backend) as ws:
        assert ws.contacts.get(imran["id"])["no_marketing"] is False
