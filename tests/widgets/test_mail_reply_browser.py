"""In a real browser, with real servers (aiosmtpd, Dovecot) on loopback: a salesperson
replies to a customer's e-mail from the contact's page and the reply goes with
In-Reply-To and References; a manager previews a campaign and sees who it would write
to and who it skips; a manager renames a proposed contact and gives them a company
before adding them, a refusal naming the field."""

# ruff: noqa: F811 (the fixtures "served" and "imap_password" come from mail_browsing)

from __future__ import annotations

import datetime as dt

import pytest

import crm_core
from tests.crm_core.mail.conftest import OWN, add_box, message, when
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from tests.widgets.browser import SCREENSHOTS, shoot
from tests.widgets.mail_browsing import (  # noqa: F401 (the fixtures)
    click,
    imap_password,
    open_app,
    send_through,
    served,
)
from tests.widgets.test_app_browser import eventually

pytestmark = pytest.mark.slow
IMRAN = "imran@indus.example.com"
ANSWER = "<answer-7@indus.example.com>"


def test_a_reply_from_the_contact_page_threads(browser, imap_password, served, smtpd: Smtpd):
    server = imap_password
    url, path, rec = served
    imran = rec["imran"]["id"]
    with crm_core.open(path) as ws:
        send_through(ws, smtpd, sender=f"Indus Textiles <{OWN}>")
        add_box(ws, server, "sales")
        ws.contacts.update(imran, {"owner": "bilal"})
        first = ws.as_user("bilal").mail.send(
            imran, subject="Sizes for 2027", text="Which sizes next year?"
        )
        assert ws.mail.drain().sent == [first["id"]]
    server.append(
        message(
            frm=f"Imran Khan <{IMRAN}>",
            to=OWN,
            subject="Re: Sizes for 2027",
            body="XL and XXL, 400 each.",
            mid=ANSWER,
            date=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),  # after ours
            in_reply_to=first["message_id"],
            references=first["message_id"],
        )
    )
    with crm_core.open(path) as ws:
        assert ws.mail.fetch("sales")[0].created == 1

    page, blocked = open_app(browser, url, "bilal")
    page.goto(f"{url}/#/contacts/{imran}")
    page.locator(".crm-record-name", has_text="عمران خان").wait_for(timeout=30_000)
    choice = page.locator(".crm-reply-to select")
    choice.wait_for(timeout=30_000)
    labels = choice.locator("option").all_inner_texts()
    assert [label.split(" · ", 1)[1] for label in labels] == [
        "in · Re: Sizes for 2027",
        "out · Sizes for 2027",
    ]
    choice.select_option(label=labels[0])
    click(page, "crm-reply")
    subject = page.locator(".crm-compose-subject input")
    subject.wait_for()
    assert eventually(lambda: subject.input_value() == "Re: Sizes for 2027")
    page.locator(".crm-compose-reply-to", has_text="In reply to: Re: Sizes for 2027").wait_for()
    assert page.locator(".crm-compose-to", has_text=IMRAN).count() == 1
    page.locator(".crm-compose-text-input textarea").fill("Noted: 400 XL and 400 XXL.")
    form = page.locator(".crm-compose")
    form.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator(".crm-write").screenshot(path=str(SCREENSHOTS / "mail-08-reply.png"))
    shoot(page, "mail-08-reply-page")
    click(page, "crm-compose-send")
    page.locator(".crm-compose-alert", has_text=f"Queued to {IMRAN}").wait_for(timeout=30_000)

    click(page, "crm-nav-mail")
    page.locator(".crm-mail-outbox").get_by_text("Re: Sizes for 2027").wait_for(timeout=30_000)
    click(page, "crm-mail-drain")
    page.locator(".crm-mail-report", has_text="sent 1, failed 0").wait_for(timeout=30_000)
    got = smtpd.received[-1].message
    assert str(got["Subject"]) == "Re: Sizes for 2027"
    assert got["In-Reply-To"] == ANSWER
    assert got["References"].split() == [first["message_id"], ANSWER]
    with crm_core.open(path) as ws:
        reply = ws.mail.outbox().set_index("subject").loc["Re: Sizes for 2027"]
        thread = ws.mail.thread(reply["message_id"])
        assert set(thread["message_id"]) == {first["message_id"], ANSWER, reply["message_id"]}
    assert blocked == []


def test_a_campaign_preview_lists_its_recipients_and_who_is_skipped(browser, served, smtpd: Smtpd):
    url, path, rec = served
    with crm_core.open(path) as ws:
        send_through(ws, smtpd)
        made = ws.campaigns.create("Eid offer", channel="email", starts_on="2026-05-15")
        ws.campaigns.add_contacts(made["id"], [rec["imran"]["id"], rec["karim"]["id"]])
        ws.contacts.update(rec["karim"]["id"], no_marketing=True)
        ws.contacts.update(rec["imran"]["id"], language="ur")
    page, blocked = open_app(browser, url, "ayesha")
    click(page, "crm-nav-mail")
    page.locator(".crm-mail-campaigns").wait_for(timeout=30_000)
    page.locator(".crm-mail-campaign select").select_option(label="Eid offer")
    page.locator(".crm-mail-template select").select_option(label="newsletter")
    click(page, "crm-mail-campaign-preview")
    said = page.locator(".crm-mail-campaign-report")
    said.get_by_text("1 message would be queued", exact=False).wait_for(timeout=30_000)
    recipients = page.locator(".crm-mail-campaign-recipients")
    recipients.get_by_text("عمران خان").wait_for(timeout=30_000)
    recipients.get_by_text(IMRAN).wait_for()
    recipients.get_by_text("Urdu (ur)").wait_for()
    skipped = page.locator(".crm-mail-campaign-skipped")
    skipped.get_by_text("করিম রহমান").wait_for()
    skipped.get_by_text("opted out", exact=True).wait_for()
    skipped.get_by_text("Why skipped").wait_for()
    assert recipients.get_by_text("করিম রহমান").count() == 0
    page.locator(".crm-mail-campaign-recipients-title", has_text="Would be written to").wait_for()
    page.locator(".crm-mail-campaigns").scroll_into_view_if_needed()
    page.locator(".crm-mail-campaigns").screenshot(
        path=str(SCREENSHOTS / "mail-09-campaign-preview.png")
    )
    with crm_core.open(path) as ws:
        assert ws.mail.outbox().empty  # a preview queues nothing
    assert blocked == []


def test_a_proposed_contact_is_edited_before_it_is_added(browser, imap_password, served):
    server = imap_password
    url, path, _rec = served
    with crm_core.open(path) as ws:
        add_box(ws, server, "all", only_known=False)
    server.append(
        message(
            frm="sara.m <sara@lahore.example.com>",
            to=OWN,
            subject="Price list?",
            mid="<p1@lahore.example.com>",
            date=when(11, 9),
        )
    )
    with crm_core.open(path) as ws:
        assert ws.mail.fetch("all")[0].new_proposals == 1
    page, _ = open_app(browser, url, "ayesha")
    click(page, "crm-nav-mail")
    name = page.locator(".crm-mail-proposal-name input")
    name.wait_for(timeout=30_000)
    assert name.input_value() == "sara.m"
    name.fill("")
    click(page, "crm-mail-accept")
    page.locator(".crm-mail-proposal-errors", has_text="Name: is required").wait_for(timeout=30_000)
    assert name.input_value() == ""  # what was typed stays after a refusal
    page.locator(".crm-mail-proposal-row").scroll_into_view_if_needed()
    shoot(page, "mail-10-proposal-refused")
    name.fill("Sara Malik")
    page.locator(".crm-mail-proposal-company input").fill("Atlantis Weaving")
    click(page, "crm-mail-accept")
    page.locator(".crm-mail-proposal-errors", has_text="Company: no company is called").wait_for(
        timeout=30_000
    )
    assert name.input_value() == "Sara Malik"
    page.locator(".crm-mail-proposal-company input").fill("indus textiles")
    click(page, "crm-mail-accept")
    page.locator(".crm-alert", has_text="Added Sara Malik as a contact.").wait_for(timeout=30_000)
    page.locator(".crm-mail-no-proposal").wait_for()
    with crm_core.open(path) as ws:
        [made] = ws.contacts.search(email="sara@lahore.example.com").to_dict("records")
        assert made["name"] == "Sara Malik" and made["company"] == "Indus Textiles"
