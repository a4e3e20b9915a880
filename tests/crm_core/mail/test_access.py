"""Who may add and fetch mailboxes, and parsing facts that need no server."""

from __future__ import annotations

import pytest

from crm_core.errors import AccessDenied, ValidationError
from crm_core.mail.html_text import html_to_text
from crm_core.mail.parse import parse


def test_a_sales_user_adds_only_their_own_mailbox_and_fetches_only_it(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal")
    place = {
        "address": "bilal@indus.example.com",
        "host": "imap.indus.example.com",
        "login": "bilal",
        "password_env": "BILAL_IMAP",
    }
    with pytest.raises(AccessDenied, match="only an admin may"):
        bilal.mail.add_mailbox("shared", **place)
    # The server would read the variable and log in to bilal's host with it: a sales
    # user could have any of its secrets (another mailbox's, the unsubscribe key) sent
    # to a server of his.
    with pytest.raises(AccessDenied, match="name an environment variable for"):
        bilal.mail.add_mailbox("bilal", owner="bilal", **place)
    place.pop("password_env")
    own = bilal.mail.add_mailbox("bilal", owner="bilal", **place)
    assert (own["owner_id"], own["password_source"], own["folders"]) == (
        bilal.user_id,
        "none",
        ["INBOX", "Sent"],
    )
    ws.mail.add_mailbox("team", address="team@indus.example.com", host="imap.x", login="t")
    for others in [(), ("team",)]:  # every mailbox, a shared one: not a sales user's run
        with pytest.raises(AccessDenied, match="other than their own"):
            bilal.mail.fetch(*others)


@pytest.mark.parametrize("host", ["imap.example.com", "203.0.113.5", "127.0.0.1.example.com"])
def test_no_encryption_is_for_a_server_on_this_machine_only(ws, host):
    with pytest.raises(ValidationError) as refused:
        ws.mail.add_mailbox("x", address="a@example.com", host=host, login="a", security="none")
    [error] = refused.value.errors
    assert error.field == "security" and "for a server on this machine only" in error.reason
    for loopback in ("127.0.0.1", "localhost", "::1", "[::1]"):
        made = ws.mail.add_mailbox(
            f"on {loopback}", address="a@example.com", host=loopback, login="a", security="none"
        )
        assert made["security"] == "none"


def test_a_mailbox_with_bad_settings_is_refused_naming_each(ws):
    with pytest.raises(ValidationError) as refused:
        ws.mail.add_mailbox(
            "x",
            address="not an address",
            host="h",
            login="l",
            port=70000,
            security="ssl",
            password_env="NOT A NAME",
            folders=[],
        )
    fields = sorted(e.field for e in refused.value.errors)
    assert fields == ["address", "folders", "password_env", "port", "security"]


def test_html_becomes_readable_text():
    html = (
        '<div>Order <a href="https://shop.example.com/o/7">#7</a></div>'
        "<ul><li>40 t</li><li>PKR&nbsp;12,000</li></ul><script>x()</script>"
    )
    assert html_to_text(html) == "Order #7 <https://shop.example.com/o/7>\n\n- 40 t\n\n- PKR 12,000"


def test_raw_8bit_header_and_a_missing_message_id():
    raw = (
        b"From: ivan@example.ru\r\nSubject: "
        + "Счёт на оплату за май".encode("windows-1251")
        + b"\r\nDate: Mon, 11 May 2026 10:00:00 +0300\r\n\r\nbody\r\n"
    )
    first, again = parse(raw), parse(raw)
    assert first.subject == "Счёт на оплату за май"
    assert first.message_id == again.message_id  # made up, the same on every read
    assert first.message_id.endswith("@no-message-id.crmbook.invalid>")
    assert first.sent_at.isoformat() == "2026-05-11T07:00:00+00:00"


def test_a_sales_user_lists_the_shared_mailboxes_and_their_own(ws):
    """Another user's mailbox, its errors and its last report are theirs (the Mail page
    already showed them so; ws.mail.status() listed them all)."""
    for login in ("bilal", "olga"):
        ws.users.add(login.title(), login, role="sales")
    for name, owner in (("shared", None), ("bilal", "bilal"), ("olga", "olga")):
        ws.mail.add_mailbox(
            name, address=f"{name}@example.com", host="127.0.0.1", login=name, owner=owner
        )
    assert ws.as_user("bilal").mail.status()["name"].tolist() == ["bilal", "shared"]
    assert ws.as_user("olga").mail.status()["name"].tolist() == ["olga", "shared"]
    assert ws.mail.status()["name"].tolist() == ["bilal", "olga", "shared"]


def test_an_encoded_display_name_cannot_smuggle_in_a_sender():
    """An encoded word decoding to a line break and another address: the message is
    still from the address written outside it (the fallback parser decoded the words
    first and took the smuggled address as the sender)."""
    import base64

    smuggled = base64.b64encode(b"x\r\n<other@karachi-traders.example.com>, y").decode()
    raw = (
        f"From: =?utf-8?B?{smuggled}?= <attacker@evil.example>\r\nTo: me@example.com\r\n"
        "Subject: spoof\r\nMessage-ID: <s@x>\r\nDate: Mon, 11 May 2026 10:00:00 +0300\r\n"
        "\r\nbody\r\n"
    ).encode()
    message = parse(raw)
    assert message.from_address == "attacker@evil.example"
    assert "\n" not in message.from_name and "\r" not in message.from_name
