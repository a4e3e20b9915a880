"""Replying to one message, and opting out by mail, with real servers: a reply written
to a fetched (or sent) message carries In-Reply-To and References over SMTP (aiosmtpd)
and lands in the same thread; campaign mail's List-Unsubscribe names a ``mailto:`` to
the sending mailbox, and the ``unsubscribe <token>`` mail a contact writes to it,
fetched from Dovecot, opts them out (journaled); a bad token is ignored with a reason."""

# ruff: noqa: F811 (the fixture "sent" comes from test_send_attribution)

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, NotFoundError, ValidationError
from crm_core.mail.compose import reply_subject
from crm_core.models import EmailMessage, JournalEntry
from tests.crm_core.mail.conftest import IMRAN, OWN, message
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)
from tests.crm_core.mail.test_send_attribution import NADIA, sent  # noqa: F401 (fixture)

REPLY_9 = "<reply-9@karachi-traders.example.com>"


def interaction_of(ws, message_id: str) -> int:
    with ws.transaction() as s:
        return s.scalar(
            select(EmailMessage.interaction_id).where(EmailMessage.message_id == message_id)
        )


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Eid offer", "Re: Eid offer"),
        ("Re: Eid offer", "Re: Eid offer"),
        ("RE: re:  Eid   offer", "Re: Eid offer"),
        ("Re[2]: AW: Eid offer", "Re: Eid offer"),
        ("Re: عید کی پیشکش", "Re: عید کی پیشکش"),
        ("", "Re:"),
    ],
)
def test_a_reply_subject_says_re_once(subject, expected):
    assert reply_subject(subject) == expected


def test_a_reply_to_a_fetched_message_threads_over_smtp_and_here(sent, clock):
    ws, smtpd, to = sent["ws"], sent["smtpd"], sent["to"]
    campaign_mid = to[IMRAN]
    replied = interaction_of(ws, REPLY_9)  # Imran's "Re: Eid offer", fetched
    draft = ws.mail.reply_draft(replied)
    assert draft["contact_id"] == sent["imran"]["id"]
    assert draft["recipient"] == IMRAN
    assert draft["subject"] == "Re: Eid offer"  # not "Re: Re: Eid offer"
    assert draft["in_reply_to"] == REPLY_9
    assert draft["references"] == [campaign_mid, REPLY_9]
    assert draft["direction"] == "in"

    clock.advance(hours=1)
    row = ws.mail.send(
        draft["contact_id"],
        subject=draft["subject"],
        text="20 tonnes: the quote is attached.",
        in_reply_to=draft["in_reply_to"],
    )
    assert ws.mail.drain().sent == [row["id"]]
    got = smtpd.received[-1].message
    assert str(got["Subject"]) == "Re: Eid offer"
    assert got["In-Reply-To"] == REPLY_9
    assert got["References"].split() == [campaign_mid, REPLY_9]
    assert got["Message-ID"] == row["message_id"]

    # crmbook's thread: the campaign message, Imran's reply, our answer, in order
    thread = ws.mail.thread(row["message_id"])
    assert thread["message_id"].tolist() == [campaign_mid, REPLY_9, row["message_id"]]
    assert thread["direction"].tolist() == ["out", "in", "out"]
    ours = ws.interactions.timeline(contact_id=sent["imran"]["id"])
    assert ours.iloc[0]["subject"] == "Re: Eid offer" and ours.iloc[0]["direction"] == "out"
    with ws.transaction() as s:
        stored = s.scalars(
            select(EmailMessage).where(EmailMessage.message_id == row["message_id"])
        ).one()
        assert stored.references == [campaign_mid, REPLY_9]
        assert stored.in_reply_to == REPLY_9

    # a reply to our own answer names the whole thread again
    again = ws.mail.reply_draft(interaction_of(ws, row["message_id"]))
    assert again["subject"] == "Re: Eid offer"
    assert again["references"] == [campaign_mid, REPLY_9, row["message_id"]]


def test_a_reply_to_a_sent_message_and_what_cannot_be_replied_to(sent):
    ws, to = sent["ws"], sent["to"]
    draft = ws.mail.reply_draft(interaction_of(ws, to[NADIA]))  # the campaign mail to Nadia
    assert draft["recipient"] == NADIA and draft["direction"] == "out"
    assert draft["in_reply_to"] == to[NADIA] and draft["references"] == [to[NADIA]]
    assert draft["subject"].startswith("Re: ") and not draft["subject"].startswith("Re: Re:")

    call = ws.interactions.log("call", "out", contact=sent["imran"]["id"], subject="Price")
    with pytest.raises(
        ValidationError, match="'message_id' value None: is no e-mail crmbook sent or fetched"
    ):
        ws.mail.reply_draft(call["id"])
    with pytest.raises(NotFoundError):
        ws.mail.reply_draft(999_999)
    with pytest.raises(NotFoundError):
        ws.mail.reply_draft("1; drop table")

    # a sales user replies only to their own contacts
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    with pytest.raises(AccessDenied, match="may not reply to contact"):
        ws.as_user("bilal").mail.reply_draft(interaction_of(ws, REPLY_9))
    ws.contacts.update(sent["imran"]["id"], {"owner": "bilal"})
    mine = ws.as_user("bilal").mail.reply_draft(interaction_of(ws, REPLY_9))
    assert mine["in_reply_to"] == REPLY_9
    bilal = ws.as_user("bilal")
    queued = bilal.mail.send(sent["imran"]["id"], subject="Re", text="Yes", in_reply_to=REPLY_9)
    assert queued["in_reply_to"] == REPLY_9
    # a Message-ID of no message he may see (guessed, or told): not threaded under it
    with pytest.raises(ValidationError, match="is no e-mail you may see to answer"):
        bilal.mail.send(sent["imran"]["id"], subject="Re", text="Yes", in_reply_to="<x@y.z>")
    assert ws.mail.send(sent["imran"]["id"], subject="Re", text="Yes", in_reply_to="<x@y.z>")


def unsubscribe_ways(received) -> tuple[str, str]:
    raw = received.data.decode("ascii")
    header = next(line for line in raw.splitlines() if line.startswith("List-Unsubscribe:"))
    found = re.findall(r"<([^<>]+)>", header)
    assert len(found) == 2, header
    return found[0], found[1]


def test_campaign_mail_unsubscribes_by_mail_too(sent, clock):
    ws, smtpd, server = sent["ws"], sent["smtpd"], sent["server"]
    to_nadia = next(r for r in smtpd.received if r.rcpt_tos == [NADIA])
    link, mailto = unsubscribe_ways(to_nadia)
    assert link.startswith("https://crm.indus.example.com/unsubscribe?token=")
    parts = urlsplit(mailto)
    assert (parts.scheme, parts.path) == ("mailto", OWN)  # the mailbox "sales" reads
    subject = parse_qs(parts.query)["subject"][0]
    word, token = subject.split(" ")
    assert word == "unsubscribe" and token == unquote(link.split("token=")[1])

    # Nadia's mail client writes the mailto; the next fetch reads it
    nadia = sent["nadia"]["id"]
    clock.advance(hours=1)
    server.append(
        message(
            frm=f"Nadia Shah <{NADIA}>",
            to=OWN,
            subject=subject,
            body="",
            html="<p>unsubscribe</p>",
            mid="<unsub-1@hyderabad-foods.example.com>",
            date=clock(),
        )
    )
    # and someone sends a made-up token (or an altered one)
    server.append(
        message(
            frm=f"Imran <{IMRAN}>",
            to=OWN,
            subject="unsubscribe " + token[:-3] + ("xyz" if token[-3:] != "xyz" else "abc"),
            mid="<unsub-2@karachi-traders.example.com>",
            date=clock(),
        )
    )
    [report] = ws.mail.fetch("sales")
    assert report.unsubscribed == [nadia]
    [ignored] = report.unsubscribe_ignored
    assert ignored.message_id == "<unsub-2@karachi-traders.example.com>"
    assert ignored.reason == "the unsubscribe link is not valid (altered or not ours)"
    assert "1 opted out by mail" in str(report)
    assert "1 unsubscribe request(s) ignored (the unsubscribe link is not valid" in str(report)
    assert ws.mail.status().set_index("name").loc["sales", "last_report"]["unsubscribed"] == 1
    assert ws.contacts.get(nadia)["no_marketing"] is True
    assert ws.contacts.get(sent["imran"]["id"])["no_marketing"] is False
    with ws.transaction() as s:
        [entry] = s.scalars(
            select(JournalEntry).where(
                JournalEntry.entity == "contacts",
                JournalEntry.record_id == nadia,
                JournalEntry.field == "no_marketing",
            )
        ).all()
        assert (entry.old, entry.new, entry.origin) == ("false", "true", "mail:sales")
    # the next campaign send skips her, as after the /unsubscribe page
    ws.campaigns.create("Autumn offer", channel="email")
    preview = ws.mail.send_campaign("Autumn offer", "newsletter", segment="Pakistan", dry_run=True)
    assert preview.skipped_contacts == {nadia: "opted out"}
    assert [p["recipient"] for p in preview.previews] == [IMRAN]
    assert preview.previews[0]["name"] == "Imran Khan"
    assert preview.skipped_list == [
        {"contact_id": nadia, "name": "Nadia Shah", "recipient": NADIA, "reason": "opted out"}
    ]
    # a re-run reads nothing new and changes nothing
    [again] = ws.mail.fetch("sales")
    assert (again.fetched, again.unsubscribed, again.unsubscribe_ignored) == (0, [], [])


def test_no_mailto_when_no_mailbox_reads_the_senders_address(sent, clock):
    ws, smtpd = sent["ws"], sent["smtpd"]
    ws.mail.configure(sender="Indus News <news@indus.example.com>")  # no mailbox has it
    ws.campaigns.create("Autumn offer", channel="email")
    queued = ws.mail.send_campaign("Autumn offer", "newsletter", segment="Pakistan")
    assert len(queued.queued) == 2
    ws.mail.drain()
    raw = smtpd.received[-1].data.decode("ascii")
    header = next(line for line in raw.splitlines() if line.startswith("List-Unsubscribe:"))
    assert re.findall(r"<([^<>]+)>", header)[0].startswith("https://crm.indus.example.com/")
    assert "mailto:" not in header
