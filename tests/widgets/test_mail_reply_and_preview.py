"""Replying to one e-mail from a contact's page, editing a proposed contact before it
is added, and the recipients a campaign preview lists: the view-models (and their
views) against a real SMTP server (aiosmtpd) and a real Dovecot on loopback, on SQLite
and PostgreSQL (the ``ws`` fixture)."""

# ruff: noqa: F811 (the fixtures "team" and "eid" come from test_mail_page)

from __future__ import annotations

import pandas as pd
import panel as pn
import pytest

from tests.crm_core.mail.conftest import OWN, PASSWORD_ENV, add_box, message, when
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from tests.widgets.test_mail_page import SENDER, configure, eid, team  # noqa: F401
from widgets import i18n, mail_model
from widgets.compose import ComposeForm
from widgets.mail_model import MailModel
from widgets.mail_page import MailPage, _errors_html
from widgets.record_model import RecordModel

IMRAN = "imran@karachi.example.com"


@pytest.fixture
def thread(ws, team, smtpd: Smtpd, dovecot, monkeypatch):
    """Bilal wrote "Sizes for 2027" to Imran (sent through aiosmtpd); Imran's answer
    "Re: Sizes for 2027" is in the shared mailbox "sales" (Dovecot), fetched."""
    configure(ws, smtpd)
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    add_box(ws, dovecot, "sales")
    first = team["bilal"].mail.send(
        team["imran"]["id"], subject="Sizes for 2027", text="Which sizes next year?"
    )
    assert ws.mail.drain().sent == [first["id"]]
    dovecot.append(
        message(
            frm=f"Imran Khan <{IMRAN}>",
            to=OWN,
            subject="Re: Sizes for 2027",
            body="XL and XXL, 400 each.",
            mid="<answer-1@karachi.example.com>",
            date=when(20, 10),
            in_reply_to=first["message_id"],
            references=first["message_id"],
        )
    )
    [fetched] = ws.mail.fetch("sales")
    assert fetched.created == 1
    return {"first": first, "answer": "<answer-1@karachi.example.com>"}


def test_reply_from_the_timeline_goes_in_the_same_thread(ws, team, smtpd, thread):
    record = RecordModel(team["bilal"])
    assert record.open("contact", team["imran"]["id"])
    choices = record.reply_choices()
    assert [label.split(" · ", 1)[1] for label in choices] == [
        "in · Re: Sizes for 2027",
        "out · Sizes for 2027",
    ]
    answered = next(iter(choices.values()))
    assert record.reply(answered)
    form = record.compose
    assert form.contact_id == team["imran"]["id"] and form.recipient == IMRAN
    assert form.subject == "Re: Sizes for 2027"  # not "Re: Re:"
    assert form.in_reply_to == thread["answer"]
    assert form.replying_to == "Re: Sizes for 2027"
    assert form.text == "" and form.template == ""
    # the draft stays while the page is read again (after any change on it)
    record.refresh()
    assert form.in_reply_to == thread["answer"]
    form.text = "Noted: 400 XL and 400 XXL."
    row = form.send()
    assert row is not None and row["in_reply_to"] == thread["answer"]
    assert (form.in_reply_to, form.replying_to, form.subject) == ("", "", "")

    MailModel(ws).drain()
    got = smtpd.received[-1].message
    assert str(got["Subject"]) == "Re: Sizes for 2027"
    assert got["In-Reply-To"] == thread["answer"]
    assert got["References"].split() == [thread["first"]["message_id"], thread["answer"]]
    assert got["To"] == IMRAN
    # in crmbook: the same thread, the answer on the timeline
    chain = ws.mail.thread(row["message_id"])  # (in time order: the clocks differ here)
    assert set(chain["message_id"]) == {
        thread["first"]["message_id"],
        thread["answer"],
        row["message_id"],
    }
    record.refresh()
    assert "out · Re: Sizes for 2027" in " | ".join(record.reply_choices())


def test_reply_to_a_sent_message_and_what_cannot_be_answered(ws, team, smtpd, thread):
    record = RecordModel(team["bilal"])
    record.open("contact", team["imran"]["id"])
    sent_one = list(record.reply_choices().values())[1]
    assert record.reply(sent_one)
    assert record.compose.subject == "Re: Sizes for 2027"
    assert record.compose.in_reply_to == thread["first"]["message_id"]
    # an e-mail logged by hand has no message to answer: said, naming the field
    logged = team["bilal"].interactions.log(
        "email", "in", contact=team["imran"]["id"], subject="By phone, really"
    )
    record.refresh()
    assert record.reply(logged["id"]) is False
    assert record.message_kind == "danger" and "message_id" in record.message
    assert record.reply(None) is False and record.message == "Choose an e-mail to reply to."
    # Olga may not answer Bilal's customer
    other = RecordModel(team["olga"])
    other.open("contact", team["imran"]["id"])
    assert other.reply(sent_one) is False and "may not reply to contact" in other.message
    # a company's page offers no reply (its timeline is several contacts')
    firm = ws.companies.create(name="Karachi Traders")
    ws.contacts.update(team["imran"]["id"], company=firm["id"])
    company = RecordModel(ws)
    company.open("company", firm["id"])
    assert company.reply_choices() == {}


def test_the_reply_form_says_what_it_answers(ws, team, thread):
    record = RecordModel(team["bilal"])
    record.open("contact", team["imran"]["id"])
    record.reply(next(iter(record.reply_choices().values())))
    built = ComposeForm(model=record.compose).__panel__()
    [note] = [o for o in built.objects if "crm-compose-reply-to" in o.css_classes]
    assert note.visible
    assert "In reply to: Re: Sizes for 2027" in html_of(note)
    # a template's text may fill a reply; its subject stays the reply's
    assert record.compose.choose("follow_up")
    assert record.compose.subject == "Re: Sizes for 2027" and "Dear" in record.compose.text
    record.compose.stop_replying()
    assert not note.visible and record.compose.subject == "Re: Sizes for 2027"


def html_of(pane) -> str:
    shown = pane.object
    return shown() if callable(shown) else str(shown)


# -- proposed contacts, edited before they are added ---------------------------------------
@pytest.fixture
def proposed(ws, dovecot, monkeypatch):
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    add_box(ws, dovecot, "all", only_known=False)
    dovecot.append(
        message(
            frm="sara.m <sara@new.example.com>",
            to=OWN,
            subject="Price list?",
            mid="<p1@new.example.com>",
            date=when(11, 9),
        )
    )
    page = MailModel(ws)
    page.fetch("all")
    [pid] = page.proposal_choices().values()
    return page, pid


def test_a_proposed_contact_is_renamed_and_given_a_company_before_it_is_added(ws, proposed):
    page, pid = proposed
    assert page.proposed_name(pid) == "sara.m"
    # refusals name the field, and nothing is added
    assert page.accept(pid, "  ", "") is None
    assert page.proposal_errors == {"name": "is required"}
    assert page.message == "Name: is required" and page.message_kind == "danger"
    assert _errors_html(page.proposal_errors) == (
        '<span class="crm-field-error">Name: is required</span>'
    )
    assert page.accept(pid, "Sara Malik", "Lahore Looms") is None
    assert page.proposal_errors == {
        "company": "no company is called 'Lahore Looms': add it first, or leave the field empty"
    }
    assert page.message.startswith("Company: no company is called 'Lahore Looms'")
    assert len(page.proposals) == 1 and ws.contacts.search(email="sara@new.example.com").empty

    looms = ws.companies.create(name="Lahore Looms")
    made = page.accept(pid, " Sara Malik ", "lahore looms")
    assert made["name"] == "Sara Malik" and made["company_id"] == looms["id"]
    assert made["email"] == "sara@new.example.com"
    assert page.message == "Added Sara Malik as a contact." and page.proposal_errors == {}
    assert page.proposals.empty
    timeline = ws.interactions.timeline(company_id=looms["id"])
    assert timeline["subject"].tolist() == ["Price list?"]  # her waiting mail, on the company


def test_a_proposed_contact_is_added_as_proposed_when_nothing_is_edited(ws, proposed):
    page, pid = proposed
    made = page.accept(pid)
    assert made["name"] == "sara.m" and made["company_id"] is None


def test_the_proposals_form_prefills_the_name(ws, proposed):
    page, _pid = proposed
    built = MailPage(model=page).__panel__()
    [name] = [w for w in built.select(pn.widgets.TextInput) if w.name == "Name"]
    assert name.value == "sara.m"


# -- the campaign preview's recipients -------------------------------------------------------
def test_the_preview_lists_recipients_and_who_is_skipped_and_why(ws, team, eid):
    page = MailModel(ws.as_user("ayesha"))
    assert page.campaign_recipients.empty and page.campaign_skipped.empty
    page.preview_campaign("Eid offer", "newsletter")
    assert page.campaign_recipients.values.tolist() == [
        ["Nadia Shah", "nadia@hyderabad.example.com", "English (en)"],
        ["Sara Malik", "sara@lahore.example.com", "English (en)"],
    ]
    assert page.campaign_skipped.values.tolist() == [
        ["Omar Out", "omar@example.org", "opted out"],
        ["Nomail Naveed", "", "no e-mail address"],
    ]
    assert page.campaign_more == ""
    with i18n.speaking("ru"):
        page.preview_campaign("Eid offer", "newsletter")
        assert page.campaign_recipients["language"].tolist()[0] == "английский (en)"
        assert page.campaign_skipped["why"].tolist() == [
            "отказались от рассылки",
            "нет адреса e-mail",
        ]
    # queueing empties the lists (they were a preview's)
    page.queue_campaign("Eid offer", "newsletter")
    assert page.campaign_recipients.empty and page.campaign_skipped.empty


def test_a_long_preview_lists_the_first_rows_and_says_how_many_more(ws, team, eid, monkeypatch):
    monkeypatch.setattr(mail_model, "PREVIEW_ROWS", 1)
    page = MailModel(ws.as_user("ayesha"))
    page.preview_campaign("Eid offer", "newsletter")
    assert page.campaign_recipients["name"].tolist() == ["Nadia Shah"]
    assert page.campaign_skipped["name"].tolist() == ["Omar Out"]
    assert page.campaign_more == "and 1 more recipient; and 1 more skipped contact"
    with i18n.speaking("ur"):
        page.preview_campaign("Eid offer", "newsletter")
        assert "1" in page.campaign_more and "and" not in page.campaign_more


def test_the_preview_tables_show_on_the_page(ws, team, eid):
    view = MailPage(ws.as_user("ayesha"))
    view.__panel__()
    tables = {
        css: t for t in view.campaign_section.select(pn.widgets.Tabulator) for css in t.css_classes
    }
    recipients = tables["crm-mail-campaign-recipients"]
    skipped = tables["crm-mail-campaign-skipped"]
    assert not recipients.visible and not skipped.visible
    view.model.preview_campaign("Eid offer", "newsletter")
    assert recipients.visible and skipped.visible
    assert isinstance(recipients.value, pd.DataFrame) and len(recipients.value) == 2
    assert recipients.page_size == 10
    assert skipped.value["why"].tolist() == ["opted out", "no e-mail address"]
    assert skipped.titles["why"] == "Why skipped" and recipients.titles["recipient"] == "To"
