"""Replies attribute deals to campaigns, end to end with real servers: segment ->
campaign -> send over SMTP (aiosmtpd) -> a reply in Dovecot's INBOX -> fetch -> a deal
opened -> ``mark_replies`` -> ``campaign_results`` counts it, and its won revenue."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_core.errors import ValidationError
from crm_core.mail.campaigns import ATTRIBUTION_ORIGIN
from crm_core.models import EmailMessage, Interaction, JournalEntry
from tests.crm_core.mail.conftest import IMRAN, OWN, message
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)

NADIA = "nadia@hyderabad-foods.example.com"


@pytest.fixture
def sent(crm, smtpd, clock):
    """Imran (with his old deal) and Nadia in the segment "Pakistan"; the campaign
    "Eid offer" sent to both through aiosmtpd; Imran's reply fetched from Dovecot."""
    ws, server = crm["ws"], crm["server"]
    ws.mail.configure(
        smtp_host=smtpd.host,
        smtp_port=smtpd.port,
        smtp_security="none",
        sender=f"Indus Cold Chain <{OWN}>",
        unsubscribe_url="https://crm.indus.example.com/unsubscribe?token=",
    )
    ws.contacts.update(crm["imran"]["id"], country="PK")
    nadia = ws.contacts.create(name="Nadia Shah", email=NADIA, country="PK")
    ws.segments.create("Pakistan", "contact", country="PK")
    campaign = ws.campaigns.create("Eid offer", channel="email", starts_on="2026-05-15")
    clock.advance(hours=1)
    queued = ws.mail.send_campaign("Eid offer", "newsletter", segment="Pakistan")
    assert len(queued.queued) == 2
    assert sorted(ws.mail.drain().sent) == sorted(queued.queued)
    to = ws.mail.outbox().set_index("recipient")["message_id"]
    clock.advance(hours=2)
    server.append(
        message(
            frm=IMRAN,
            to=OWN,
            subject="Re: Eid offer",
            body="Please send a quote for 20 tonnes.",
            mid="<reply-9@karachi-traders.example.com>",
            date=clock(),
            in_reply_to=to[IMRAN],
            references=to[IMRAN],
        )
    )
    [fetched] = ws.mail.fetch("sales")
    assert fetched.created == 1
    return {**crm, "campaign": campaign, "nadia": nadia, "smtpd": smtpd, "to": to}


def results(ws) -> dict:
    rows = ws.reports.campaign_results().to_dict("records")
    [row] = [r for r in rows if r["campaign"] == "Eid offer"]
    keys = ("sent", "delivered", "bounced", "replied", "responded", "opportunities", "won")
    return {k: row[k] for k in keys} | {"won_revenue": row["won_revenue"]}


def test_a_deal_opened_after_a_reply_is_the_campaigns_and_its_revenue_is_counted(sent, clock):
    ws, cid = sent["ws"], sent["campaign"]["id"]
    # opened before the campaign went: Imran's old deal is not the campaign's
    assert ws.pipeline.get(sent["deal"]["id"])["campaign_id"] is None
    clock.advance(days=3)
    deal = ws.pipeline.create(
        "Eid cold room, 20 tonnes",
        contact=sent["imran"]["id"],
        company=sent["company"]["id"],
        expected_revenue="2400000.00",
        currency="PKR",
    )
    other = ws.campaigns.create("Trade fair", channel="event")
    theirs = ws.pipeline.create(
        "Fair lead", contact=sent["imran"]["id"], currency="PKR", campaign_id=other["id"]
    )
    clock.advance(days=1)

    assert ws.mail.mark_replies() == 0  # Imran was marked when the reply was fetched

    assert ws.pipeline.get(deal["id"])["campaign_id"] == cid
    assert ws.pipeline.get(theirs["id"])["campaign_id"] == other["id"]  # never replaced
    assert ws.pipeline.get(sent["deal"]["id"])["campaign_id"] is None
    with ws.transaction() as s:
        [entry] = s.scalars(
            select(JournalEntry).where(
                JournalEntry.entity == "opportunities",
                JournalEntry.record_id == deal["id"],
                JournalEntry.field == "campaign_id",
            )
        ).all()
        assert (entry.old, entry.new, entry.origin) == (None, str(cid), ATTRIBUTION_ORIGIN)
    assert results(ws) == {
        "sent": 2,
        "delivered": 2,
        "bounced": 0,
        "replied": 1,
        "responded": 1,
        "opportunities": 1,
        "won": 0,
        "won_revenue": Decimal("0.00"),
    }

    ws.pipeline.win(deal["id"])

    assert results(ws) == {
        "sent": 2,
        "delivered": 2,
        "bounced": 0,
        "replied": 1,
        "responded": 1,
        "opportunities": 1,
        "won": 1,
        "won_revenue": Decimal("2400000.00"),
    }
    assert ws.mail.mark_replies() == 0  # nothing more to do: nothing changes
    with ws.transaction() as s:
        made = select(JournalEntry).where(JournalEntry.origin == ATTRIBUTION_ORIGIN)
        assert len(s.scalars(made).all()) == 1


def test_the_attribution_window_is_a_validated_setting(sent, clock):
    ws = sent["ws"]
    with pytest.raises(ValidationError, match="attribution_days"):
        ws.mail.configure(attribution_days=0)
    assert ws.mail.settings()["attribution_days"] == 90
    ws.mail.configure(attribution_days=10)
    clock.advance(days=11)  # opened 11 days after the campaign message: too late
    late = ws.pipeline.create("Late deal", contact=sent["imran"]["id"], currency="PKR")
    # Nadia never replied: her new deal is not the campaign's either
    hers = ws.pipeline.create("Nadia's deal", contact=sent["nadia"]["id"], currency="PKR")
    ws.mail.mark_replies()
    assert ws.pipeline.get(late["id"])["campaign_id"] is None
    assert ws.pipeline.get(hers["id"])["campaign_id"] is None
    ws.mail.configure(attribution_days=30)
    ws.mail.mark_replies()
    assert ws.pipeline.get(late["id"])["campaign_id"] == sent["campaign"]["id"]
    assert ws.pipeline.get(hers["id"])["campaign_id"] is None
    assert results(ws)["opportunities"] == 1


def test_campaign_mail_carries_one_click_list_unsubscribe_and_one_to_one_mail_does_not(sent):
    ws, smtpd = sent["ws"], sent["smtpd"]
    to_imran = next(r for r in smtpd.received if r.rcpt_tos == [IMRAN])
    raw = to_imran.data.decode("ascii")
    header = next(line for line in raw.splitlines() if line.startswith("List-Unsubscribe:"))
    link, mailto = header.removeprefix("List-Unsubscribe: <").removesuffix(">").split(">, <")
    assert link.startswith("https://crm.indus.example.com/unsubscribe?token=")
    # and the same by mail, to the sending mailbox (RFC 2369; test_reply_and_optout.py)
    assert mailto.startswith(f"mailto:{OWN}?subject=unsubscribe%20")
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in raw.splitlines()
    html = to_imran.message.get_body(("html",)).get_content()
    assert 'href="https://crm.indus.example.com/unsubscribe?token=' in html  # and the body's
    assert ws.mail.unsubscribe(link.split("token=")[1])["contact_id"] == sent["imran"]["id"]

    one = ws.mail.send(sent["nadia"]["id"], subject="Your order", text="It has shipped.")
    assert ws.mail.drain().sent == [one["id"]]
    direct = smtpd.received[-1].message
    assert direct["List-Unsubscribe"] is None and direct["List-Unsubscribe-Post"] is None


def test_a_deal_linked_to_the_reply_counts_though_its_contact_is_another(sent, clock):
    ws = sent["ws"]
    clock.advance(days=1)
    colleague = ws.contacts.create(name="Ali Raza", email="ali@karachi-traders.example.com")
    deal = ws.pipeline.create("Via Ali", contact=colleague["id"], currency="PKR")
    with ws.transaction() as s:  # the reply names this deal (as a user links it)
        facts = s.scalars(
            select(EmailMessage).where(
                EmailMessage.message_id == "<reply-9@karachi-traders.example.com>"
            )
        ).one()
        s.get(Interaction, facts.interaction_id).opportunity_id = deal["id"]
    ws.mail.mark_replies()
    assert ws.pipeline.get(deal["id"])["campaign_id"] == sent["campaign"]["id"]
