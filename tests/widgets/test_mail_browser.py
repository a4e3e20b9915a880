"""Writing to a customer in a real browser, delivered to a real SMTP server (aiosmtpd on
loopback): a salesperson opens a contact, writes an e-mail from a template, edits the
subject, sends; "Send now" on the Mail page delivers it exactly once and the outbox
shows it sent. Another salesperson does not see it in their outbox."""

# ruff: noqa: F811 (the fixtures "served" and "imap_password" come from mail_browsing)

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import update

import crm_core
from crm_core.models import OutboxMessage
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
SUBJECT = "Sizes for 2027 — عمران"


def test_write_from_a_template_edit_send_now_and_the_outbox(browser, served, smtpd: Smtpd):
    url, path, rec = served
    imran = rec["imran"]["id"]
    with crm_core.open(path) as ws:
        send_through(ws, smtpd, sender="Bilal Ahmed <bilal@indus.example.com>")
        ws.contacts.update(imran, {"owner": "bilal"})
    page, blocked = open_app(browser, url, "bilal")
    page.goto(f"{url}/#/contacts/{imran}")
    page.locator(".crm-record-name", has_text="عمران خان").wait_for(timeout=30_000)

    # Write e-mail: the template fills subject and text, the preview shows its HTML part
    click(page, "crm-write-email")
    template = page.locator(".crm-compose-template select")
    template.wait_for()
    labels = template.locator("option").all_inner_texts()
    assert labels[0] == "(no template)" and labels[1].startswith("follow_up (")
    template.select_option(label=labels[1])
    subject = page.locator(".crm-compose-subject input")
    assert eventually(lambda: subject.input_value() == "Following up")
    assert "Dear عمران خان," in page.locator(".crm-compose-text-input textarea").input_value()
    frame = page.locator(".crm-compose-preview iframe")
    frame.wait_for()
    assert frame.get_attribute("sandbox") == ""
    assert "Dear عمران خان," in frame.get_attribute("srcdoc")
    inner = page.frame_locator(".crm-compose-preview iframe")
    inner.locator("p", has_text="Dear عمران خان,").wait_for()
    subject.fill(SUBJECT)
    form = page.locator(".crm-compose")
    form.scroll_into_view_if_needed()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    form.screenshot(path=str(SCREENSHOTS / "mail-01-compose.png"))
    click(page, "crm-compose-send")
    page.locator(".crm-compose-alert", has_text="Queued to imran@indus.example.com").wait_for()
    shoot(page, "mail-02-queued")
    with crm_core.open(path) as ws:
        queued = ws.mail.outbox()
        assert queued[["state", "subject"]].values.tolist() == [["queued", SUBJECT]]
    assert smtpd.received == []

    # The Mail page: the message is queued; Send now delivers it, once
    click(page, "crm-nav-mail")
    outbox = page.locator(".crm-mail-outbox")
    outbox.get_by_text(SUBJECT).wait_for(timeout=30_000)
    click(page, "crm-mail-drain")
    page.locator(".crm-mail-report", has_text="sent 1, failed 0").wait_for(timeout=30_000)
    outbox.get_by_text("sent", exact=True).wait_for()
    assert len(smtpd.received) == 1
    got = smtpd.received[0]
    assert str(got.message["Subject"]) == SUBJECT
    assert got.rcpt_tos == ["imran@indus.example.com"]
    with crm_core.open(path) as ws:
        assert ws.mail.outbox()["state"].tolist() == ["sent"]
    shoot(page, "mail-03-mail-page")
    click(page, "crm-mail-drain")  # again: nothing more goes
    page.locator(".crm-mail-report", has_text="sent 0, failed 0").wait_for(timeout=30_000)
    assert len(smtpd.received) == 1
    # the send is on the contact's timeline
    page.goto(f"{url}/#/contacts/{imran}")
    page.locator(".crm-section-timeline", has_text=SUBJECT).wait_for(timeout=30_000)
    assert blocked == []

    # Another salesperson: none of Bilal's messages in their outbox, no fetching
    other, _ = open_app(browser, url, "olga")
    click(other, "crm-nav-mail")
    other.locator(".crm-mail-empty-outbox", has_text="Nothing in the outbox.").wait_for(
        timeout=30_000
    )
    other.locator(".crm-mail-note", has_text="Only managers and admins").wait_for()
    assert other.locator(".crm-mail-outbox").get_by_text(SUBJECT).count() == 0
    assert other.locator(".crm-mail-outbox").get_by_text("imran@indus.example.com").count() == 0
    shoot(other, "mail-04-sales-outbox")
    # nor may they write to a contact they do not own: crm_core refuses, the form says so
    other.goto(f"{url}/#/contacts/{rec['karim']['id']}")
    other.locator(".crm-record-name", has_text="করিম রহমান").wait_for(timeout=30_000)
    click(other, "crm-write-email")
    other.locator(".crm-compose-subject input").fill("Hello")
    other.locator(".crm-compose-text-input textarea").fill("Hello Karim")
    click(other, "crm-compose-send")
    other.locator(".crm-compose-alert", has_text="may not write to contact").wait_for()
    with crm_core.open(path) as ws:
        assert len(ws.mail.outbox()) == 1


def test_a_manager_fetches_now_retries_and_settles_a_message_in_doubt(
    browser, imap_password, served, smtpd: Smtpd
):
    server = imap_password
    url, path, rec = served
    imran = rec["imran"]["id"]
    smtpd.refuse("karim@dhaka.example.com")
    with crm_core.open(path) as ws:
        send_through(ws, smtpd)
        add_box(ws, server, "sales")
        refused = ws.mail.send(rec["karim"]["id"], subject="Catalogue", text="Attached.")
        ws.mail.drain()
        doubt = ws.mail.send(imran, subject="Crashed mid-send", text="Hello")
        with ws.transaction() as s:
            s.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id == doubt["id"])
                .values(state="sending", sending_at=ws.clock() - dt.timedelta(minutes=10))
            )
    server.append(
        message(
            frm="Imran <imran@indus.example.com>",
            to=OWN,
            subject="Navy or black?",
            mid="<navy@indus.example.com>",
            date=when(10, 9),
        )
    )
    page, _ = open_app(browser, url, "ayesha")
    click(page, "crm-nav-mail")
    boxes = page.locator(".crm-mail-mailboxes")
    boxes.get_by_text("sales", exact=True).wait_for(timeout=30_000)
    outbox = page.locator(".crm-mail-outbox")
    outbox.get_by_text("554 5.7.1", exact=False).wait_for()
    outbox.get_by_text("in doubt (check the Sent folder)").wait_for()

    # Fetch now: the run's report, the mailbox's last run and lag
    click(page, "crm-mail-fetch")
    page.locator(".crm-mail-report", has_text="sales: 1 message(s) read, 1 new").wait_for(
        timeout=30_000
    )
    boxes.get_by_text(re.compile(r"^\d+ seconds? ago$")).wait_for()
    with crm_core.open(path) as ws:
        timeline = ws.interactions.timeline(contact_id=imran)
        assert timeline["subject"].tolist() == ["Navy or black?"]
    shoot(page, "mail-05-manager")

    # The message in doubt was sent: settled as sent, never sent again
    page.locator(".crm-mail-doubt-row").wait_for()
    click(page, "crm-mail-resolve-sent")
    page.locator(".crm-alert", has_text="Recorded as sent: Crashed mid-send.").wait_for()
    page.locator(".crm-mail-doubt-row").wait_for(state="hidden")
    # The failed one, once the address works: retried and sent
    smtpd.accept("karim@dhaka.example.com")
    click(page, "crm-mail-retry")
    page.locator(".crm-alert", has_text="Queued again: Catalogue.").wait_for()
    click(page, "crm-mail-drain")
    page.locator(".crm-mail-report", has_text="sent 1, failed 0").wait_for(timeout=30_000)
    assert [str(r.message["Subject"]) for r in smtpd.received] == ["Catalogue"]
    with crm_core.open(path) as ws:
        states = dict(zip(ws.mail.outbox()["id"], ws.mail.outbox()["state"], strict=True))
        assert states == {refused["id"]: "sent", doubt["id"]: "sent"}

    # In Urdu: the page, its states and its tables' headings speak it, right to left
    with crm_core.open(path) as ws:
        ws.users.set_language("ayesha", "ur")
    page.reload()
    page.locator(".crm-mail-outbox").get_by_text("بھیجا گیا", exact=True).first.wait_for(
        timeout=30_000
    )
    page.locator(".crm-mail-drain button", has_text="ابھی بھیجیں").wait_for()
    page.locator(".crm-mail-fetch button", has_text="ابھی لائیں").wait_for()
    shoot(page, "mail-06-urdu")


def test_a_manager_previews_and_queues_a_campaign(browser, served, smtpd: Smtpd):
    url, path, rec = served
    with crm_core.open(path) as ws:
        send_through(ws, smtpd)
        ws.segments.create("Indus people", "contact", company_id=rec["indus"]["id"])
        made = ws.campaigns.create("Eid offer", channel="email", starts_on="2026-05-15")
        ws.campaigns.add_contacts(made["id"], [rec["karim"]["id"]], segment="Indus people")
        ws.contacts.update(rec["karim"]["id"], no_marketing=True)
    page, blocked = open_app(browser, url, "ayesha")
    click(page, "crm-nav-mail")
    section = page.locator(".crm-mail-campaigns")
    section.wait_for(timeout=30_000)
    page.locator(".crm-mail-campaign select").select_option(label="Eid offer")
    page.locator(".crm-mail-template select").select_option(label="newsletter")
    click(page, "crm-mail-campaign-preview")
    said = page.locator(".crm-mail-campaign-report")
    said.get_by_text("Campaign Eid offer: 1 message would be queued.", exact=False).wait_for(
        timeout=30_000
    )
    said.get_by_text("1 contact skipped (1 opted out).", exact=False).wait_for()
    with crm_core.open(path) as ws:
        assert ws.mail.outbox().empty  # a preview queues nothing
    click(page, "crm-mail-campaign-queue")
    said.get_by_text("Campaign Eid offer: 1 message queued.", exact=False).wait_for(timeout=30_000)
    outbox = page.locator(".crm-mail-outbox")
    outbox.get_by_text("imran@indus.example.com").wait_for(timeout=30_000)
    outbox.get_by_text("queued", exact=True).wait_for()
    assert outbox.get_by_text("karim@dhaka.example.com").count() == 0
    with crm_core.open(path) as ws:
        rows = ws.mail.outbox()
        assert rows[["state", "recipient"]].values.tolist() == [
            ["queued", "imran@indus.example.com"]
        ]
    assert smtpd.received == []  # queued: "Send now" or the server's sender sends it
    shoot(page, "mail-07-campaign")
    assert blocked == []
