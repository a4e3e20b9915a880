"""A failure report about a message crmbook never sent (nor fetched from a Sent folder)
marks no one bouncing: anyone could write one to stop a contact's campaign mail."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Contact, EmailBounce, OutboxMessage
from tests.crm_core.mail.conftest import IMRAN, OWN, message, record_sent, when


def _dsn(original: str, failed: tuple[str, ...] = (IMRAN,), mid: str = "<dsn-forged@mx>") -> bytes:
    recipients = "".join(
        f"Final-Recipient: rfc822; {a}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" for a in failed
    )
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: {OWN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {mid}\r\n"
        "Date: Sun, 10 May 2026 09:00:00 +0500\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"{recipients}"
        "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: {OWN}\r\nTo: {IMRAN}\r\nSubject: Eid offer\r\n"
        f"Message-ID: {original}\r\n\r\n--R--\r\n"
    ).encode()


def test_a_forged_failure_report_marks_no_one(crm):
    ws, server = crm["ws"], crm["server"]
    server.append(_dsn("<never-sent@indus.example.com>"))

    [report] = ws.mail.fetch("sales")

    assert (report.bounces, report.bouncing, report.bounces_not_ours) == (1, 0, 1)
    assert "1 failure report(s) about mail crmbook did not send" in str(report)
    with ws.transaction() as s:
        assert s.get(Contact, crm["imran"]["id"]).email_bouncing is False
        assert s.scalars(select(EmailBounce)).all() == []


def _bouncing(ws) -> dict[str, bool]:
    with ws.transaction() as s:
        return {c.email: c.email_bouncing for c in s.scalars(select(Contact))}


def test_a_report_marks_only_the_addresses_the_bounced_message_went_to(crm):
    """A report about a message crmbook sent to Imran that names Imran and two other
    contacts (a recipient forging one, or a confused mailer) marks Imran alone."""
    ws, server = crm["ws"], crm["server"]
    ali = ws.contacts.create(name="Ali", email="ali@lahore.example.com")
    zahid = ws.contacts.create(name="Zahid", email="zahid@quetta.example.com")
    record_sent(ws, "<offer-9@indus.example.com>")
    failed = (IMRAN, ali["email"], zahid["email"])
    server.append(_dsn("<offer-9@indus.example.com>", failed))

    [report] = ws.mail.fetch("sales")

    assert (report.bounces, report.bouncing) == (1, 1)
    assert _bouncing(ws) == {IMRAN: True, ali["email"]: False, zahid["email"]: False}
    assert ws.mail.outbox()["state"].tolist() == ["bounced"]

    # a report about the same message naming only the others marks no one and leaves
    # the message delivered to Imran as it is
    with ws.transaction() as s:
        s.get(Contact, crm["imran"]["id"]).email_bouncing = False
        s.get(OutboxMessage, 1).state = "sent"
    server.append(_dsn("<offer-9@indus.example.com>", failed[1:], mid="<dsn-2@mx>"))
    [report] = ws.mail.fetch("sales")
    assert (report.bounces, report.bouncing) == (1, 0)
    assert not any(_bouncing(ws).values())
    assert ws.mail.outbox()["state"].tolist() == ["sent"]


def test_a_message_in_the_inbox_claiming_the_mailboxs_own_address_is_not_ours(crm):
    """Anyone can send the mailbox a message From its own address (stored as outgoing),
    then a failure report about it: only a Sent folder's messages are ours."""
    ws, server = crm["ws"], crm["server"]
    server.append(
        message(frm=OWN, to=IMRAN, subject="Hi", mid="<evil-out@evil.example>", date=when(9, 9))
    )
    [first] = ws.mail.fetch("sales")
    assert first.created == 1
    server.append(_dsn("<evil-out@evil.example>"))

    [report] = ws.mail.fetch("sales")

    assert (report.bounces, report.bouncing, report.bounces_not_ours) == (1, 0, 1)
    assert _bouncing(ws) == {IMRAN: False}

    # the same message in the Sent folder (the mailbox's owner sent it from another
    # client): a report about it marks its recipient
    server.append(
        message(
            frm=OWN, to=IMRAN, subject="Quote", mid="<real-out@indus.example.com>", date=when(9, 10)
        ),
        folder="Sent",
    )
    ws.mail.fetch("sales")
    server.append(_dsn("<real-out@indus.example.com>", mid="<dsn-3@mx>"))
    [report] = ws.mail.fetch("sales")
    assert (report.bounces, report.bouncing) == (1, 1)
    assert _bouncing(ws) == {IMRAN: True}
