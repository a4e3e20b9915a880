"""Round 7: a disabled user's mailbox and outbox, switching a mailbox off, mailbox
hosts a non-admin may name, and who may make an unsubscribe link."""

from __future__ import annotations

import socket

import pandas as pd
import pytest
from cryptography.fernet import Fernet

import crm_core
from crm_core.background import drain_outbox, fetch_mailboxes
from crm_core.errors import AccessDenied, NotFoundError, ValidationError
from crm_core.models import JournalEntry, Mailbox
from tests.crm_core.mail.conftest import IMRAN, message, when
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from tests.crm_core.test_cli import crmbook

BILAL_BOX = "bilal@indus.example.com"


@pytest.fixture
def team(ws, monkeypatch):
    """Bilal (sales) with his contact Imran, Ravi (sales) with his contact Olga, Sam a
    manager; stored mailbox passwords possible."""
    monkeypatch.setenv("CRMBOOK_MAIL_KEY", Fernet.generate_key().decode())
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Ravi Kumar", "ravi", role="sales")
    ws.users.add("Sam Lee", "sam", role="manager")
    imran = ws.contacts.create(name="Imran Khan", email=IMRAN, owner="bilal")
    olga = ws.contacts.create(name="Olga Petrova", email="olga@volga.example.com", owner="ravi")
    return {"imran": imran["id"], "olga": olga["id"]}


def bilal_box(ws, server, name: str = "bilal-box") -> dict:
    """Bilal's own mailbox on the test server, its password stored (127.0.0.1 allowed
    by the admin first: it is no public server)."""
    ws.mail.configure(allowed_mail_hosts=[server.host])
    return ws.as_user("bilal").mail.add_mailbox(
        name,
        address=BILAL_BOX,
        host=server.host,
        port=server.port,
        security="none",
        login=server.user,
        password=server.password,
    )


def status_of(ws, name: str) -> dict:
    return ws.mail.status().set_index("name").loc[name].to_dict()


# -- 1. a disabled user's mailbox is not fetched ------------------------------------------
def test_a_disabled_users_mailbox_is_not_fetched_until_they_are_enabled(ws, team, dovecot):
    bilal_box(ws, dovecot)
    dovecot.append(message(frm=IMRAN, to=BILAL_BOX, subject="Price", mid="<p1@k>", date=when(9, 9)))
    ws.users.disable("bilal")

    assert fetch_mailboxes(ws) == ("bilal-box: not fetched (owner 'bilal' disabled)", None)
    assert ws.mail.fetch() == []  # every mailbox: his is left out
    with pytest.raises(ValidationError) as refused:
        ws.mail.fetch("bilal-box")
    [error] = refused.value.errors
    assert (error.record, error.field, error.value) == ("mailbox 'bilal-box'", "owner", "bilal")
    assert "is disabled: a disabled user's mailbox is not fetched" in error.reason
    row = status_of(ws, "bilal-box")
    assert (row["active"], row["paused"]) == (True, "owner 'bilal' disabled")
    assert pd.isna(row["last_run_at"])  # never run: no login to it
    assert ws.interactions.timeline(contact_id=team["imran"]).empty

    ws.users.enable("bilal")
    assert fetch_mailboxes(ws) == ("bilal-box: 1 new of 1", None)
    assert status_of(ws, "bilal-box")["paused"] is None
    assert ws.interactions.timeline(contact_id=team["imran"])["subject"].tolist() == ["Price"]


# -- 1. a mailbox is switched off and on ---------------------------------------------------
def test_a_mailbox_is_deactivated_and_activated_by_its_owner_a_manager_or_an_admin(
    ws, team, dovecot
):
    box = bilal_box(ws, dovecot)
    dovecot.append(message(frm=IMRAN, to=BILAL_BOX, subject="Price", mid="<p1@k>", date=when(9, 9)))
    ws.mail.add_mailbox("shared", address="s@indus.example.com", host="imap.x", login="s")
    bilal, ravi, sam = (ws.as_user(u) for u in ("bilal", "ravi", "sam"))
    for who, name in ((ravi, "bilal-box"), (bilal, "shared"), (ravi, "no such box")):
        for change in (who.mail.deactivate_mailbox, who.mail.activate_mailbox):
            with pytest.raises(AccessDenied) as refused:
                change(name)
            assert "may not" in str(refused.value) and "other than their own" in str(refused.value)
    with pytest.raises(NotFoundError):
        sam.mail.deactivate_mailbox("no such box")

    off = sam.mail.deactivate_mailbox("bilal-box")
    assert (off["name"], off["active"]) == ("bilal-box", False)
    assert [r.mailbox for r in ws.mail.fetch()] == ["shared"]  # every active one
    assert fetch_mailboxes(ws) == ("no mailboxes", None)
    for who in (ws, bilal):
        with pytest.raises(ValidationError) as refused:
            who.mail.fetch("bilal-box", password=dovecot.password)
        [error] = refused.value.errors
        assert (error.record, error.field, error.value) == ("mailbox 'bilal-box'", "active", False)
        assert error.reason.startswith("is deactivated: it is not fetched until it is activated")
    row = status_of(ws, "bilal-box")
    assert (row["active"], row["paused"]) == (False, "deactivated")
    assert pd.isna(row["last_run_at"])  # never run
    with ws.transaction() as s:
        changes = s.query(JournalEntry).filter_by(entity="mailboxes", record_id=box["id"])
        assert [(e.action, e.field, e.user_id) for e in changes if e.action != "create"] == [
            ("archive", "active", sam.user_id)  # journaled as his
        ]

    assert bilal.mail.activate_mailbox(box["id"])["active"] is True  # his own
    assert fetch_mailboxes(ws) == ("bilal-box: 1 new of 1", None)
    assert bilal.mail.deactivate_mailbox("bilal-box")["active"] is False
    assert ws.mail.activate_mailbox("bilal-box")["active"] is True


def test_deactivate_and_activate_from_the_command_line(tmp_path):
    assert crmbook("init", "shop.sqlite", cwd=tmp_path).returncode == 0
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        ws.mail.add_mailbox("sales", address="s@indus.example.com", host="imap.x", login="s")
    run = {"cwd": tmp_path}
    off = crmbook("mail", "deactivate-mailbox", "sales", "-w", "shop.sqlite", **run)
    assert off.returncode == 0, off.stderr
    assert "mailbox 'sales' deactivated" in off.stdout
    status = crmbook("mail", "status", "-w", "shop.sqlite", **run)
    assert "deactivated" in next(line for line in status.stdout.splitlines() if "sales" in line)
    fetch = crmbook("mail", "fetch", "sales", "--no-progress", "-w", "shop.sqlite", **run)
    assert fetch.returncode == 1 and "is deactivated" in fetch.stderr
    on = crmbook("mail", "activate-mailbox", "sales", "-w", "shop.sqlite", **run)
    assert on.returncode == 0, on.stderr
    assert "mailbox 'sales' is active" in on.stdout
    with crm_core.open(tmp_path / "shop.sqlite") as ws, ws.transaction() as s:
        assert s.query(Mailbox.active).scalar() is True


# -- 1. a disabled user's queued message is held ------------------------------------------
def test_a_disabled_users_queued_message_is_held_until_they_are_enabled(ws, team, smtpd):
    ws.mail.configure(
        smtp_host=smtpd.host, smtp_port=smtpd.port, smtp_security="none", sender="S <s@x.com>"
    )
    queued = ws.as_user("bilal").mail.send(team["imran"], subject="Offer", text="Hello")
    ws.users.disable("bilal")
    held = "held: its author 'bilal' is disabled; it stays queued, not sent, until they are"
    held += " enabled again"

    report = ws.mail.drain()
    assert (report.sent, report.failed, report.held) == ([], {}, {queued["id"]: held})
    assert "1 held (their author is disabled)" in str(report)
    assert drain_outbox(ws) == ("sent 0, failed 0, 1 held (their author is disabled)", None)
    assert smtpd.received == []
    [row] = ws.mail.outbox().to_dict("records")
    assert (row["state"], row["held"], row["attempts"]) == ("queued", held, 0)

    ws.users.enable("bilal")
    assert ws.mail.outbox()["held"].tolist() == [None]
    report = ws.mail.drain()
    assert (report.sent, report.held) == ([queued["id"]], {})
    assert len(smtpd.received) == 1
    assert ws.mail.outbox()["state"].tolist() == ["sent"]


# -- 2. a non-admin's mailbox reaches public servers only ------------------------------
NOT_PUBLIC = [
    ("127.0.0.1", "a loopback address"),
    ("localhost", "a loopback address"),
    ("[::1]", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),
    ("10.1.2.3", "a private address"),
    ("192.168.0.5", "a private address"),
    ("169.254.169.254", "a link-local address"),
    ("0.0.0.0", "an unspecified address"),
    ("224.0.0.1", "a multicast address"),
]


@pytest.mark.parametrize(("host", "kind"), NOT_PUBLIC)
def test_a_non_admin_may_not_add_a_mailbox_on_a_non_public_host(ws, team, host, kind):
    place = {"address": "b@indus.example.com", "login": "b", "port": 5432}
    for login in ("bilal", "sam"):
        with pytest.raises(ValidationError) as refused:
            ws.as_user(login).mail.add_mailbox("p", host=host, **place)
        [error] = refused.value.errors
        assert (error.field, error.value) == ("host", host)
        assert error.reason.startswith(f"{host!r}")
        assert f"is {kind}, not a public server" in error.reason
        assert "ws.mail.configure(allowed_mail_hosts=[...])" in error.reason
    assert ws.mail.status().empty
    # a public address, a name that resolves to nothing here, an admin's own choice
    ws.as_user("bilal").mail.add_mailbox("public", host="8.8.8.8", **place)
    ws.as_user("bilal").mail.add_mailbox("unknown", host="imap.indus.example.com", **place)
    ws.mail.add_mailbox("admins", host=host, **place)
    assert sorted(ws.mail.status()["name"]) == ["admins", "public", "unknown"]


def test_an_admin_allows_a_host_and_a_fetch_checks_it_again_before_connecting(ws, team):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    bilal = ws.as_user("bilal")
    place = {"address": "b@indus.example.com", "login": "b", "port": port}
    with pytest.raises(AccessDenied):
        bilal.mail.configure(allowed_mail_hosts=["127.0.0.1"])
    with pytest.raises(ValidationError) as refused:
        ws.mail.configure(allowed_mail_hosts=["127.0.0.1", "a b/c"])
    assert refused.value.errors[0].field == "allowed_mail_hosts"
    assert ws.mail.configure(allowed_mail_hosts="127.0.0.1, IMAP.Local")["allowed_mail_hosts"] == (
        "127.0.0.1",
        "imap.local",
    )
    bilal.mail.add_mailbox("probe", host="127.0.0.1", **place)

    ws.mail.configure(allowed_mail_hosts=None)  # taken back: no fetch goes there now
    with pytest.raises(ValidationError) as refused:
        bilal.mail.fetch("probe", password="x")
    [error] = refused.value.errors
    assert (error.record, error.field, error.value) == ("mailbox 'probe'", "host", "127.0.0.1")
    assert "is a loopback address, not a public server" in error.reason
    # the scheduler's (and an admin's) fetch of it: the same words, whatever the port
    [report] = ws.mail.fetch("probe", password="x")
    assert report.error == error.reason
    assert status_of(ws, "probe")["last_error"] == error.reason
    with pytest.raises(TimeoutError):  # the server never connected to the port
        listener.accept()
    listener.close()


# -- 3. an unsubscribe link only for a contact one may write to ---------------------------
def test_a_sales_user_makes_unsubscribe_links_for_their_own_contacts_only(ws, team):
    bilal = ws.as_user("bilal")
    with pytest.raises(AccessDenied) as refused:
        bilal.mail.unsubscribe_link(team["olga"])
    assert str(refused.value).startswith(
        "user 'bilal' (sales) may not make an unsubscribe link for contact #"
    )
    link = bilal.mail.unsubscribe_link(team["imran"])
    assert bilal.mail.unsubscribe(link.split("token=")[1])["contact_id"] == team["imran"]
    assert ws.as_user("sam").mail.unsubscribe_link(team["olga"]).startswith("http")
    assert ws.contacts.get(team["olga"])["no_marketing"] is False
