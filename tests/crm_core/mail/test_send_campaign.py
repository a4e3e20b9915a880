"""Campaigns end to end with real servers: a segment's contacts get the newsletter over
SMTP (aiosmtpd), opted-out and bouncing ones are skipped and counted, a reply and a
bounce come back through IMAP (Dovecot) and ``campaign_results`` counts them. Also the
unsubscribe link and the contacts' "no marketing e-mail" field."""

from __future__ import annotations

import base64
import datetime as dt

import pytest
from sqlalchemy import select

from crm_core.errors import ValidationError
from crm_core.models import CampaignMember, Contact
from tests.crm_core.mail.conftest import IMRAN, OWN, message
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)

SENDER = f"Indus Cold Chain <{OWN}>"
NADIA = "nadia@hyderabad-foods.example.com"


def configure(ws, server) -> None:
    ws.mail.configure(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        sender=SENDER,
        unsubscribe_url="https://crm.indus.example.com/unsubscribe?t=",
    )


def test_no_marketing_is_an_edited_validated_and_journaled_contact_field(ws):
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    assert ws.contacts.get(sam["id"])["no_marketing"] is False
    with pytest.raises(ValidationError, match=r"no_marketing.*must be true or false"):
        ws.contacts.update(sam["id"], no_marketing="perhaps")
    assert ws.contacts.update(sam["id"], no_marketing=True)["no_marketing"] is True
    changes = ws.journal.for_record("contacts", sam["id"])
    row = changes[changes["field"] == "no_marketing"].iloc[-1]
    assert (row["old"], row["new"]) == ("false", "true")  # JSON-encoded


def test_an_unsubscribe_link_sets_no_marketing_and_refuses_altered_or_old_ones(ws, clock):
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    ws.mail.configure(unsubscribe_url="https://crm.example.com/u?t=")
    link = ws.mail.unsubscribe_link(sam["id"])
    assert link.startswith("https://crm.example.com/u?t=")
    token = link.split("?t=")[1]
    # The link is read by whoever sees it (proxies' logs, a forwarded mail): its
    # payload names the contact's id and a digest, never the address.
    payload = base64.urlsafe_b64decode(token.split(".")[0] + "==").decode()
    assert "sam" not in payload.lower() and "lee.example" not in payload

    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(ValidationError, match="not valid"):
        ws.mail.unsubscribe(tampered)
    with pytest.raises(ValidationError, match="not valid"):  # another contact's id
        ws.mail.unsubscribe(token.replace(token.split(".")[0], "eyJjIjo5OSwiZSI6IiJ9"))
    assert ws.contacts.get(sam["id"])["no_marketing"] is False

    clock.advance(days=401)
    with pytest.raises(ValidationError, match="older than 400 days"):
        ws.mail.unsubscribe(token)
    assert ws.contacts.get(sam["id"])["no_marketing"] is False

    fresh = ws.mail.unsubscribe_link(sam["id"]).split("?t=")[1]
    assert ws.mail.unsubscribe(fresh) == {
        "contact_id": sam["id"],
        "email": "sam@lee.example.com",
        "no_marketing": True,
    }
    assert ws.contacts.get(sam["id"])["no_marketing"] is True
    journal = ws.journal.for_record("contacts", sam["id"])
    assert "no_marketing" in set(journal["field"])
    # a link made for an address the contact no longer has does nothing
    ws.contacts.update(sam["id"], no_marketing=False)
    old_address = ws.mail.unsubscribe_link(sam["id"]).split("?t=")[1]
    ws.contacts.update(sam["id"], email="sam.lee@lee.example.com")
    with pytest.raises(ValidationError, match="no contact has now"):
        ws.mail.unsubscribe(old_address)


@pytest.fixture
def campaign(crm, smtpd):
    """The Dovecot workspace (Imran, his deal, mailbox "sales") plus the segment
    "Pakistan": Imran, Nadia (both Urdu), one opted out, one bouncing, one without an
    address; and the campaign "Eid offer"."""
    ws = crm["ws"]
    configure(ws, smtpd)
    ws.contacts.update(crm["imran"]["id"], country="PK", language="ur")
    nadia = ws.contacts.create(name="Nadia Shah", email=NADIA, country="PK", language="ur")
    out = ws.contacts.create(name="Omar Out", email="omar@example.org", country="PK")
    ws.contacts.update(out["id"], no_marketing=True)
    gone = ws.contacts.create(name="Bushra Bounce", email="bushra@example.org", country="PK")
    with ws.transaction() as s:  # as a delivery failure report marks it (test_messages)
        s.get(Contact, gone["id"]).email_bouncing = True
    ws.contacts.create(name="Nomail Naveed", country="PK")
    ws.contacts.create(name="Elsewhere Ed", email="ed@example.org", country="GB")
    ws.segments.create("Pakistan", "contact", country="PK")
    made = ws.campaigns.create("Eid offer", channel="email", starts_on="2026-05-15")
    return {**crm, "campaign": made, "nadia": nadia, "smtpd": smtpd}


def test_a_campaign_dry_run_says_who_would_get_it_and_who_is_skipped(campaign):
    ws = campaign["ws"]
    report = ws.mail.send_campaign("Eid offer", "newsletter", segment="Pakistan", dry_run=True)
    assert [p["recipient"] for p in report.previews] == [IMRAN, NADIA]
    assert {p["language"] for p in report.previews} == {"ur"}
    assert dict(report.skipped) == {"opted out": 1, "bouncing": 1, "no e-mail address": 1}
    assert str(report) == (
        "campaign 'Eid offer': would queue 2, skipped 3 "
        "(1 bouncing, 1 no e-mail address, 1 opted out)"
    )
    assert report.queued == [] and ws.mail.outbox().empty
    assert ws.campaigns.members(campaign["campaign"]["id"]).empty  # nothing recorded


def test_a_campaign_goes_out_replies_and_bounces_come_back_and_are_counted(campaign):
    ws, server, smtpd = campaign["ws"], campaign["server"], campaign["smtpd"]
    cid = campaign["campaign"]["id"]

    ws.campaigns.add_contacts(cid, [campaign["imran"]["id"]], segment="Pakistan")
    report = ws.mail.send_campaign("Eid offer", "newsletter", headline="عید مبارک")
    assert len(report.queued) == 2 and sum(report.skipped.values()) == 3
    assert len(ws.campaigns.members(cid)) == 5  # the segment's contacts, recorded
    assert ws.mail.drain().sent == report.queued
    assert sorted(r.rcpt_tos[0] for r in smtpd.received) == sorted([IMRAN, NADIA])
    to_imran = next(r.message for r in smtpd.received if r.rcpt_tos == [IMRAN])
    html = to_imran.get_body(("html",)).get_content()
    assert 'dir="rtl"' in html and "عید مبارک" in html
    assert to_imran["Subject"] == "Indus Cold Chain کی جانب سے Eid offer"
    link = html.split('href="')[1].split('"')[0]
    assert link.startswith("https://crm.indus.example.com/unsubscribe?t=")

    # a second run reaches nobody twice
    again = ws.mail.send_campaign("Eid offer", "newsletter")
    assert again.queued == [] and again.skipped["already sent"] == 2

    # Imran replies (his client quotes our Message-ID); Nadia's message bounces
    sent = ws.mail.outbox().set_index("recipient")["message_id"]
    server.append(
        message(
            frm=IMRAN,
            to=OWN,
            subject="Re: Eid offer",
            body="Please send the price list.",
            mid="<reply-1@karachi-traders.example.com>",
            date=dt.datetime(2026, 5, 15, 15, 0, tzinfo=dt.UTC),
            in_reply_to=sent[IMRAN],
            references=sent[IMRAN],
        )
    )
    server.append(
        (
            "From: Mail Delivery System <MAILER-DAEMON@mx.indus.example.com>\r\n"
            f"To: {OWN}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
            "Message-ID: <dsn-7@mx.indus.example.com>\r\n"
            "Date: Fri, 15 May 2026 15:05:00 +0000\r\nMIME-Version: 1.0\r\n"
            'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
            "--R\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n"
            "--R\r\nContent-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.indus.example.com\r\n\r\n"
            f"Final-Recipient: rfc822; {NADIA}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            "--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
            f"From: {OWN}\r\nTo: {NADIA}\r\nSubject: Eid offer\r\n"
            f"Message-ID: {sent[NADIA]}\r\n\r\n--R--\r\n"
        ).encode()
    )

    [fetched] = ws.mail.fetch("sales")

    assert (fetched.created, fetched.bounces) == (1, 1)
    thread = ws.mail.thread(sent[IMRAN])
    assert list(thread["direction"]) == ["out", "in"]
    assert list(thread["message_id"]) == [sent[IMRAN], "<reply-1@karachi-traders.example.com>"]
    with ws.transaction() as s:
        responded = dict(
            s.execute(
                select(CampaignMember.contact_id, CampaignMember.responded_at).where(
                    CampaignMember.campaign_id == cid, CampaignMember.responded_at.is_not(None)
                )
            ).all()
        )
    assert responded == {campaign["imran"]["id"]: dt.datetime(2026, 5, 15, 15, 0, tzinfo=dt.UTC)}
    assert ws.mail.outbox().set_index("recipient").loc[NADIA, "state"] == "bounced"
    assert ws.mail.mark_replies() == 0  # already marked: nothing changes

    [row] = ws.reports.campaign_results().to_dict("records")
    figures = {k: row[k] for k in ("targeted", "responded", "sent", "delivered", "bounced")}
    assert figures == {"targeted": 5, "responded": 1, "sent": 2, "delivered": 1, "bounced": 1}
    assert row["replied"] == 1
    assert row["response_rate"] == pytest.approx(0.2)


def test_a_contact_who_opts_out_after_the_send_was_queued_gets_nothing(campaign):
    """Queued for Imran and Nadia; then Nadia unsubscribes and Imran's address bounces:
    the drain sends neither, each failed with why, and a retry fails the same way."""
    ws, smtpd = campaign["ws"], campaign["smtpd"]
    report = ws.mail.send_campaign("Eid offer", "newsletter", segment="Pakistan")
    to_imran, to_nadia = report.queued
    link = ws.mail.unsubscribe_link(campaign["nadia"]["id"])
    ws.mail.unsubscribe(link.split("t=")[1])
    with ws.transaction() as s:
        s.get(Contact, campaign["imran"]["id"]).email_bouncing = True

    drained = ws.mail.drain()

    assert (drained.sent, smtpd.received) == ([], [])
    assert drained.failed == {
        to_imran: "campaign message not sent: the contact is bouncing since it was queued",
        to_nadia: "campaign message not sent: the contact opted out since it was queued",
    }
    ws.mail.retry(to_nadia)
    assert ws.mail.drain().failed == {
        to_nadia: "campaign message not sent: the contact opted out since it was queued"
    }
    assert smtpd.received == []
    results = ws.reports.campaign_results().set_index("campaign").loc["Eid offer"]
    assert results["sent"] == 0 and results["delivered"] == 0
