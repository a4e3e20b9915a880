"""A failure report about a message crmbook never sent (nor fetched from a Sent folder)
marks no one bouncing: anyone could write one to stop a contact's campaign mail."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import Contact, EmailBounce
from tests.crm_core.mail.conftest import IMRAN, OWN


def _dsn(original: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\n"
        f"To: {OWN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <dsn-forged@mx.example.com>\r\n"
        "Date: Sun, 10 May 2026 09:00:00 +0500\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        "--R\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
        "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {IMRAN}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
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
