"""The Mail page and the e-mail form of a contact's page, without a browser: their
view-models against a real SMTP server (aiosmtpd) and a real Dovecot on loopback, on
SQLite and PostgreSQL (the ``ws`` fixture)."""

from __future__ import annotations

import datetime as dt
import email
import html
import re
from email.policy import default

import panel as pn
import pytest
from sqlalchemy import update

from crm_core.models import OutboxMessage
from tests.crm_core.mail.conftest import IMRAN, OWN, message, when
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from widgets import i18n
from widgets.app import PAGES, StaffApp
from widgets.compose import ComposeForm, errors_html
from widgets.compose_model import ComposeModel, preview_html
from widgets.mail_model import IN_DOUBT, MailModel
from widgets.mail_page import MailPage
from widgets.record_model import RecordModel

SENDER = "Ayesha Siddiqui <ayesha@indus.example.com>"
XSS = "<img src=x onerror=alert(1)>"


def configure(ws, server: Smtpd) -> None:
    ws.mail.configure(
        smtp_host=server.host, smtp_port=server.port, smtp_security="none", sender=SENDER
    )


@pytest.fixture
def team(ws):
    """A manager and two sales users; a contact each salesperson owns, and one with
    an HTML injection for a name."""
    ws.users.add("Ayesha", "ayesha", role="manager", password="pw-123456789")
    ws.users.add("Bilal", "bilal", role="sales", password="pw-123456789")
    ws.users.add("Olga", "olga", role="sales", password="pw-123456789")
    bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
    imran = ws.contacts.create(name="Imran Khan", email="imran@karachi.example.com", owner="bilal")
    ivan = ws.contacts.create(name="Ivan Petrov", email="ivan@volga.example.com", owner="olga")
    xss = ws.contacts.create(name=XSS, email="xss@example.com")
    return {"bilal": bilal, "olga": olga, "imran": imran, "ivan": ivan, "xss": xss}


def _subjects(server: Smtpd) -> list[str]:
    return [str(r.message["Subject"]) for r in server.received]


# -- writing from a contact's page ----------------------------------------------------------
def test_compose_from_template_edit_send_then_send_now_delivers_once(ws, team, smtpd):
    configure(ws, smtpd)
    record = RecordModel(team["bilal"])
    assert record.open("contact", team["imran"]["id"])
    form = record.compose
    assert record.writable and form.contact_id == team["imran"]["id"]
    assert form.recipient == "imran@karachi.example.com"
    assert set(form.load_templates()) >= {"follow_up", "newsletter"}

    assert form.choose("follow_up")
    assert form.subject == "Following up" and "Dear Imran Khan," in form.text
    assert form.html.startswith("<!DOCTYPE html>") and not form.text_edited
    form.subject = "Sizes for 2027"
    row = form.send()
    assert row is not None and row["state"] == "queued"
    assert row["subject"] == "Sizes for 2027" and row["template"] == "follow_up"
    assert form.message_kind == "success" and "Sizes for 2027" in form.message
    # the form is ready for the next message
    assert (form.template, form.subject, form.text, form.html) == ("", "", "", "")
    assert smtpd.received == []  # queued, not sent

    page = MailModel(team["bilal"])
    assert page.outbox["state"].tolist() == ["queued"]
    report = page.drain()
    assert str(report) == "sent 1, failed 0"
    assert page.report == "sent 1, failed 0" and page.message_kind == "success"
    assert _subjects(smtpd) == ["Sizes for 2027"]
    got = smtpd.received[0]
    assert got.rcpt_tos == ["imran@karachi.example.com"]
    parts = [p.get_content_type() for p in got.message.walk()]
    assert "text/html" in parts  # the template's HTML part went along
    assert page.outbox[["state", "recipient", "subject"]].values.tolist() == [
        ["sent", "imran@karachi.example.com", "Sizes for 2027"]
    ]
    assert page.outbox["sent"].tolist()[0] != ""
    assert page.drain() is not None and len(smtpd.received) == 1  # nothing twice
    # the send is on the contact's timeline
    record.refresh()
    assert record.detail["timeline"]["subject"].tolist()[0] == "Sizes for 2027"


def test_an_edited_text_goes_as_plain_text_and_without_template_too(ws, team, smtpd):
    configure(ws, smtpd)
    form = ComposeModel(team["bilal"])
    form.open(team["imran"]["id"], "imran@karachi.example.com")
    form.choose("follow_up")
    form.text = "Dear Imran,\n\nThe XL sizes are in.\n"
    assert form.text_edited and form.html_part() == ""
    assert form.preview() == (
        '<pre class="crm-compose-text">Dear Imran,\n\nThe XL sizes are in.\n</pre>'
    )
    assert form.send()["body_html"] == ""
    # no template: subject and text as written
    form.subject, form.text = "Quick question", "Do you need navy too?"
    assert form.template == "" and form.preview().startswith("<pre")
    assert form.send()["template"] is None
    MailModel(ws).drain()
    assert _subjects(smtpd) == ["Following up", "Quick question"]
    for got in smtpd.received:
        assert [p.get_content_type() for p in got.message.walk()] == ["text/plain"]
    assert "The XL sizes are in." in smtpd.received[0].message.get_content()


def test_preview_never_puts_the_html_into_the_page(ws, team):
    form = ComposeModel(ws)
    form.open(team["xss"]["id"], "xss@example.com")
    assert form.choose("follow_up")
    assert "Dear &lt;img src=x onerror=alert(1)&gt;," in form.html  # crm_core escapes it
    shown = form.preview()
    # one element: the sandboxed frame; everything of the message is in its attribute
    assert re.findall(r"<[a-z!/][^>]*>", shown.replace(_srcdoc(shown), "")) == [
        '<iframe class="crm-compose-frame" sandbox="" referrerpolicy="no-referrer" '
        'title="Preview" srcdoc="">',
        "</iframe>",
    ]
    assert html.unescape(_srcdoc(shown)) == form.html
    # the text preview is text
    assert preview_html("", XSS) == (
        '<pre class="crm-compose-text">&lt;img src=x onerror=alert(1)&gt;</pre>'
    )
    assert preview_html("", "") == ""


def _srcdoc(shown: str) -> str:
    return re.search(r'srcdoc="([^"]*)"', shown).group(1)


def test_refusals_are_shown_under_the_form_and_nothing_is_queued(ws, team, smtpd):
    configure(ws, smtpd)
    # a sales user writes only to their own contacts: crm_core refuses, the form says so
    form = ComposeModel(team["bilal"])
    form.open(team["ivan"]["id"], "ivan@volga.example.com")
    assert not form.choose("follow_up")
    assert form.message_kind == "danger" and "may not write to contact" in form.message
    form.subject, form.text = "Hello", "Hi Ivan"
    assert form.send() is None
    assert "may not write to contact" in form.message
    # missing parts: per field, under the form
    mine = ComposeModel(team["bilal"])
    mine.open(team["imran"]["id"], "imran@karachi.example.com")
    mine.subject, mine.text = "  ", ""
    assert mine.send() is None
    assert mine.field_errors == {"subject": "is required", "text": "is required"}
    assert errors_html(mine.field_errors) == (
        '<span class="crm-field-error">Subject: is required</span> '
        '<span class="crm-field-error">Text: is required</span>'
    )
    # no sender configured: the reason names the setting
    ws.mail.configure(sender=None)
    mine.subject, mine.text = "Hello", "Hi"
    assert mine.send() is None and "sender" in mine.field_errors
    assert ws.mail.outbox().empty
    # an unknown template
    assert not mine.choose("no_such_template") and mine.message_kind == "danger"


def test_only_a_contact_with_an_address_has_the_form(ws, team):
    company = ws.companies.create(name="Indus Textiles")
    nameless = ws.contacts.create(name="No Address")
    record = RecordModel(ws)
    record.open("company", company["id"])
    assert not record.writable and record.compose.contact_id is None
    record.open("contact", nameless["id"])
    assert not record.writable and record.compose.contact_id is None
    record.open("contact", team["imran"]["id"])
    assert record.writable and record.compose.contact_id == team["imran"]["id"]
    record.compose.subject = "Draft"
    record.refresh()  # the page read again (after a save): the draft stays
    assert record.compose.subject == "Draft"
    record.open("contact", team["ivan"]["id"])  # another contact: a new message
    assert record.compose.subject == "" and record.compose.recipient == "ivan@volga.example.com"


def test_the_form_and_the_page_build(ws, team):
    record = RecordModel(ws)
    record.open("contact", team["imran"]["id"])
    ComposeForm(model=record.compose).__panel__()
    MailPage(ws).__panel__()
    assert ("Mail", "widgets.mail_page", "MailPage") in PAGES
    app = StaffApp(ws)
    app.show("Mail")
    assert isinstance(app.page("Mail"), MailPage) and app.current == "Mail"


# -- the outbox --------------------------------------------------------------------------------
def test_a_failed_send_shows_the_servers_reason_and_retry_sends_it(ws, team, smtpd):
    configure(ws, smtpd)
    smtpd.refuse("imran@karachi.example.com")
    bilal = team["bilal"]
    bilal.mail.send(team["imran"]["id"], subject="Catalogue", text="Attached.")
    page = MailModel(bilal)
    report = page.drain()
    assert str(report) == "sent 0, failed 1" and page.message_kind == "warning"
    [row] = page.outbox.to_dict("records")
    assert row["state"] == "failed"
    assert "554 5.7.1 <imran@karachi.example.com>: Recipient address rejected" in row["reason"]
    [(label, failed_id)] = page.failed().items()
    assert label == f"#{failed_id} · imran@karachi.example.com · Catalogue"
    smtpd.accept("imran@karachi.example.com")
    assert page.retry(failed_id) is not None
    assert page.outbox["state"].tolist() == ["queued"] and page.failed() == {}
    page.drain()
    assert page.outbox["state"].tolist() == ["sent"]
    assert _subjects(smtpd) == ["Catalogue"]
    assert page.retry(None) is None and "Choose a failed message" in page.message


def test_a_sales_user_sees_and_retries_only_their_own_messages(ws, team, smtpd):
    configure(ws, smtpd)
    smtpd.refuse("ivan@volga.example.com")
    team["bilal"].mail.send(team["imran"]["id"], subject="From Bilal", text="Hi")
    team["olga"].mail.send(team["ivan"]["id"], subject="From Olga", text="Hi")
    MailModel(ws).drain()
    bilal, olga = MailModel(team["bilal"]), MailModel(team["olga"])
    assert bilal.outbox["subject"].tolist() == ["From Bilal"]
    assert olga.outbox["subject"].tolist() == ["From Olga"]
    assert MailModel(ws).outbox["subject"].tolist() == ["From Olga", "From Bilal"]
    olgas = int(ws.mail.outbox(state="failed")["id"].iloc[0])
    assert bilal.retry(olgas) is None
    assert bilal.message_kind == "danger" and "may not retry" in bilal.message
    assert ws.mail.outbox(state="failed")["id"].tolist() == [olgas]


def test_a_message_in_doubt_is_settled_by_a_manager_only(ws, team, smtpd):
    configure(ws, smtpd)
    first = team["bilal"].mail.send(team["imran"]["id"], subject="Crashed", text="Hi")
    second = team["bilal"].mail.send(team["imran"]["id"], subject="Also crashed", text="Hi")
    with ws.transaction() as s:  # a send that stopped between the server and the outbox
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([first["id"], second["id"]]))
            .values(state="sending", sending_at=ws.clock() - dt.timedelta(minutes=10))
        )
    bilal = MailModel(team["bilal"])
    assert bilal.outbox["state"].tolist() == [i18n.gettext_(IN_DOUBT)] * 2
    assert bilal.resolve(first["id"], sent=True) is None
    assert "may not resolve" in bilal.message
    manager = MailModel(ws.as_user("ayesha"))
    assert set(manager.in_doubt().values()) == {first["id"], second["id"]}
    assert manager.resolve(first["id"], sent=True) is not None
    assert manager.message == "Recorded as sent: Crashed."
    assert manager.resolve(second["id"], sent=False) is not None
    assert manager.in_doubt() == {}
    states = dict(zip(manager.outbox["subject"], manager.outbox["state"], strict=True))
    assert states == {"Crashed": "sent", "Also crashed": "queued"}
    manager.drain()
    assert _subjects(smtpd) == ["Also crashed"]  # the one settled as sent is not sent again


def test_send_now_in_the_background_reports_when_done(ws, team, smtpd):
    configure(ws, smtpd)
    team["bilal"].mail.send(team["imran"]["id"], subject="Background", text="Hi")
    page = MailModel(ws, background=True)
    assert page.drain() is None and page.running and page.work == "drain"
    assert page.drain() is None and "Wait for the running" in page.message
    page.thread.join(30)
    assert not page.running and page.work == "" and page.progress == 100
    assert page.report == "sent 1, failed 0"
    assert page.outbox["state"].tolist() == ["sent"]
    assert _subjects(smtpd) == ["Background"]


def test_an_unreachable_server_is_reported_and_the_message_kept(ws, team):
    ws.mail.configure(smtp_host="127.0.0.1", smtp_port=1, smtp_security="none", sender=SENDER)
    team["bilal"].mail.send(team["imran"]["id"], subject="Nowhere", text="Hi")
    page = MailModel(ws)
    page.drain()
    # a server that cannot be reached is a temporary failure: the message waits in the
    # queue for the next drain, with the reason, and the page says it did not go
    assert page.report.startswith("sent 0, failed 0, 1 left queued after a temporary failure")
    assert page.message_kind == "warning"
    [row] = page.outbox.to_dict("records")
    assert row["state"] == "queued" and "Connection refused" in row["reason"]


# -- mailboxes ----------------------------------------------------------------------------------
def test_fetch_now_reads_the_mailbox_and_shows_its_run(crm):
    ws, server = crm["ws"], crm["server"]
    server.append(
        message(
            frm=f"Imran Khan <{IMRAN}>",
            to=OWN,
            subject="Quote for the cold storage expansion",
            mid="<q1@karachi-traders.example.com>",
            date=when(10, 9),
        )
    )
    page = MailModel(ws)
    [before] = page.mailboxes.to_dict("records")
    assert (before["name"], before["address"]) == ("sales", OWN)
    assert (before["last_run"], before["lag"], before["errors"]) == ("never", "never", "")
    assert page.mailbox_names() == ["sales"]
    report = page.fetch("sales")
    assert (report.fetched, report.created) == (1, 1)
    assert page.report == str(report) and page.message_kind == "success"
    assert page.progress == 100 and not page.running
    [after] = page.mailboxes.to_dict("records")
    assert after["last_run"] != "never" and after["lag"] == "0 seconds ago"
    assert after["errors"] == ""
    timeline = ws.interactions.timeline(contact_id=crm["imran"]["id"])
    assert timeline["subject"].tolist() == ["Quote for the cold storage expansion"]
    # again: nothing new
    assert page.fetch("sales").created == 0
    assert page.fetch("") is None and "Choose a mailbox" in page.message


def test_a_failed_fetch_shows_its_error_and_sales_users_may_not_fetch(crm, monkeypatch):
    ws = crm["ws"]
    ws.users.add("Bilal", "bilal", role="sales", password="pw-123456789")
    bilal = MailModel(ws.as_user("bilal"))
    assert bilal.mailbox_names() == ["sales"]  # a shared mailbox: seen
    assert bilal.fetch("sales") is None
    assert bilal.message_kind == "danger" and "may not fetch" in bilal.message
    monkeypatch.setenv("CRMBOOK_TEST_IMAP_PASSWORD", "wrong")
    page = MailModel(ws)
    report = page.fetch("sales")
    assert report.error and page.message_kind == "warning"
    [row] = page.mailboxes.to_dict("records")
    assert row["errors"] == report.error and row["lag"] == "never"


def three_boxes(ws) -> None:
    """A shared mailbox and one each of bilal and olga (added by the workspace: an
    admin's doing, so a loopback host is allowed)."""
    for name, owner in (("shared", None), ("bilal", "bilal"), ("olga", "olga")):
        ws.mail.add_mailbox(
            name,
            address=f"{name}@indus.example.com",
            host="127.0.0.1",
            login=name,
            security="none",
            password_env="NO_SUCH_PASSWORD",
            owner=owner,
        )


def test_a_sales_user_sees_shared_and_own_mailboxes_only(ws, team):
    three_boxes(ws)
    assert MailModel(team["bilal"]).mailbox_names() == ["bilal", "shared"]
    assert MailModel(ws).mailbox_names() == ["bilal", "olga", "shared"]


def test_proposed_senders_are_accepted_or_dismissed(ws, dovecot, monkeypatch):
    monkeypatch.setenv("CRMBOOK_TEST_IMAP_PASSWORD", dovecot.password)
    ws.mail.add_mailbox(
        "all",
        address=OWN,
        host=dovecot.host,
        port=dovecot.port,
        security="none",
        login=dovecot.user,
        password_env="CRMBOOK_TEST_IMAP_PASSWORD",
        only_known=False,
    )
    for n, sender in enumerate(("Sara Malik <sara@new.example.com>", "spam@junk.example.com")):
        dovecot.append(
            message(frm=sender, to=OWN, subject=f"Hello {n}", mid=f"<p{n}@x>", date=when(11, 9))
        )
    page = MailModel(ws)
    page.fetch("all")
    assert page.proposals[["email", "messages"]].values.tolist() == [
        ["sara@new.example.com", 1],
        ["spam@junk.example.com", 1],
    ]
    choices = page.proposal_choices()
    assert list(choices) == [
        "Sara Malik <sara@new.example.com>",
        "spam@junk.example.com <spam@junk.example.com>",
    ]
    made = page.accept(choices["Sara Malik <sara@new.example.com>"])
    assert made["name"] == "Sara Malik" and page.message == "Added Sara Malik as a contact."
    assert ws.interactions.timeline(contact_id=made["id"])["subject"].tolist() == ["Hello 0"]
    assert page.dismiss(choices["spam@junk.example.com <spam@junk.example.com>"])
    assert page.proposals.empty
    ws.users.add("Bilal", "bilal", role="sales", password="pw-123456789")
    assert MailModel(ws.as_user("bilal")).proposals.empty  # not a sales user's


def test_the_received_message_is_well_formed(ws, team, smtpd):
    """What the form queued reaches the server as the contact reads it."""
    configure(ws, smtpd)
    form = ComposeModel(team["bilal"])
    form.open(team["imran"]["id"], "imran@karachi.example.com")
    form.choose("follow_up")
    form.send()
    MailModel(ws).drain()
    parsed = email.message_from_bytes(smtpd.received[0].data, policy=default)
    assert parsed["To"] == "imran@karachi.example.com" and parsed["From"] == SENDER


def test_times_in_the_workspace_timezone_and_the_pages_language():
    import datetime as dt

    from widgets.mail_model import lag_text, when_text

    at = dt.datetime(2026, 5, 1, 6, 0, tzinfo=dt.UTC)
    assert when_text(at, "Asia/Karachi") == "5/1/26, 11:00\u202fAM"
    assert when_text(None) == "" and when_text(float("nan")) == ""
    assert lag_text(None) == "never"
    assert lag_text(dt.timedelta(minutes=5)) == "5 minutes ago"
    with i18n.speaking("ru"):
        assert lag_text(dt.timedelta(minutes=5)) == "5 минут назад"
        assert lag_text(None) == "никогда"
    with i18n.speaking("ur"):
        assert lag_text(None) == "کبھی نہیں"


# -- campaigns ----------------------------------------------------------------------------------
@pytest.fixture
def eid(ws, team, smtpd):
    """The segment "Pakistan": Nadia and Sara (with addresses), Omar (opted out) and
    Naveed (no address); the campaign "Eid offer" with that segment, and "Spring" with
    none."""
    configure(ws, smtpd)
    nadia = ws.contacts.create(name="Nadia Shah", email="nadia@hyderabad.example.com", country="PK")
    sara = ws.contacts.create(name="Sara Malik", email="sara@lahore.example.com", country="PK")
    omar = ws.contacts.create(name="Omar Out", email="omar@example.org", country="PK")
    ws.contacts.update(omar["id"], no_marketing=True)
    ws.contacts.create(name="Nomail Naveed", country="PK")
    ws.contacts.create(name="Elsewhere Ed", email="ed@example.org", country="GB")
    ws.segments.create("Pakistan", "contact", country="PK")
    ws.segments.create("Britain", "contact", country="GB")
    made = ws.campaigns.create("Eid offer", channel="email", starts_on="2026-05-15")
    ws.campaigns.add_contacts(made["id"], segment="Pakistan")  # becomes its segment
    ws.campaigns.create("Spring", channel="email", starts_on="2026-03-01")
    return {"nadia": nadia, "sara": sara, "omar": omar, "campaign": made}


def test_a_manager_previews_then_queues_a_campaign(ws, team, eid, smtpd):
    page = MailModel(ws.as_user("ayesha"))
    assert page.may_manage
    assert page.campaign_names() == ["Eid offer", "Spring"]  # the latest first
    assert page.segment_choices() == {
        "The campaign's own segment": "",
        "Britain": "Britain",
        "Pakistan": "Pakistan",
    }
    assert {"follow_up", "newsletter"} <= set(page.template_names())

    preview = page.preview_campaign("Eid offer", "newsletter")
    expected = ws.mail.send_campaign("Eid offer", "newsletter", dry_run=True)
    assert preview.dry_run and preview.to_send == expected.to_send == 2
    assert (
        dict(preview.skipped)
        == dict(expected.skipped)
        == {
            "opted out": 1,
            "no e-mail address": 1,
        }
    )
    assert [p["recipient"] for p in preview.previews] == [
        "nadia@hyderabad.example.com",
        "sara@lahore.example.com",
    ]
    first = preview.previews[0]["subject"]
    assert page.campaign_report == (
        "Campaign Eid offer: 2 messages would be queued. "
        "2 contacts skipped (1 no e-mail address, 1 opted out). "
        f"First subject: {first}"
    )
    assert page.message == page.campaign_report and page.message_kind == "success"
    assert ws.mail.outbox().empty and page.outbox.empty  # nothing queued

    queued = page.queue_campaign("Eid offer", "newsletter", "")
    assert len(queued.queued) == 2 and not queued.dry_run
    assert dict(queued.skipped) == {"opted out": 1, "no e-mail address": 1}
    assert page.campaign_report == (
        "Campaign Eid offer: 2 messages queued. "
        "2 contacts skipped (1 no e-mail address, 1 opted out)."
    )
    assert sorted(page.outbox["recipient"]) == [
        "nadia@hyderabad.example.com",
        "sara@lahore.example.com",
    ]
    assert page.outbox["state"].tolist() == ["queued", "queued"]
    assert sorted(int(i) for i in page.outbox["id"]) == sorted(queued.queued)
    assert "omar@example.org" not in set(ws.mail.outbox()["recipient"])
    with i18n.speaking("ru"):
        assert page.campaign_text(preview).startswith(
            "Кампания Eid offer: в очередь встанут 2 сообщения. "
            "Пропущено 2 контакта (1 нет адреса e-mail, 1 отказались от рассылки)."
        )
    # a second run reaches nobody new: both already sent
    again = page.queue_campaign("Eid offer", "newsletter")
    assert again.queued == [] and again.skipped["already sent"] == 2
    assert "2 already sent this campaign" in page.campaign_report
    assert len(page.outbox) == 2
    # "Send now" sends them
    assert str(page.drain()) == "sent 2, failed 0"
    assert sorted(r.rcpt_tos[0] for r in smtpd.received) == [
        "nadia@hyderabad.example.com",
        "sara@lahore.example.com",
    ]


def test_another_segment_and_missing_choices(ws, team, eid):
    page = MailModel(ws.as_user("ayesha"))
    report = page.preview_campaign("Spring", "newsletter", "Britain")
    assert [p["recipient"] for p in report.previews] == ["ed@example.org"]
    assert page.campaign_report.startswith("Campaign Spring: 1 message would be queued.")
    assert page.preview_campaign("Spring", "newsletter").to_send == 0  # no segment, no member
    assert page.preview_campaign("", "newsletter") is None
    assert page.message == "Choose a campaign." and page.message_kind == "warning"
    assert page.queue_campaign("Spring", None) is None and page.message == "Choose a template."
    assert page.preview_campaign("No such", "newsletter") is None
    assert page.message_kind == "danger" and "No such" in page.message
    assert page.campaign_report == ""
    assert ws.mail.outbox().empty


def test_a_sales_user_has_no_campaign_section_and_may_not_send_one(ws, team, eid):
    page = MailModel(team["bilal"])
    assert not page.may_manage
    assert page.campaign_names() == [] and page.template_names() == []
    assert page.segment_choices() == {}
    assert page.queue_campaign("Eid offer", "newsletter") is None
    assert page.message_kind == "danger" and "may not send" in page.message
    assert page.preview_campaign("Eid offer", "newsletter") is None
    assert ws.mail.outbox().empty
    view = MailPage(team["bilal"])
    view.__panel__()
    assert not view.campaign_section.visible
    manager = MailPage(ws.as_user("ayesha"))
    manager.__panel__()
    assert manager.campaign_section.visible
    [choice] = [
        w for w in manager.campaign_section.select(pn.widgets.Select) if w.name == "Campaign"
    ]
    assert choice.options == ["Eid offer", "Spring"]
    ws.campaigns.create("Autumn", channel="email", starts_on="2026-09-01")
    manager.model.refresh()  # "Refresh" reads the campaigns again
    assert choice.options == ["Autumn", "Eid offer", "Spring"]
