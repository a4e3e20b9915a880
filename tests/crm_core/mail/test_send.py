"""Mail out against a real SMTP server on loopback (aiosmtpd): templates per language,
the outbox's states, failures and retries, a crash mid-send, the rate limit, access."""

from __future__ import annotations

import datetime as dt
import email
import os
import subprocess
import sys
import textwrap
from email.header import decode_header, make_header

import pytest
from sqlalchemy import select

from crm_core.errors import AccessDenied, NotFoundError, ValidationError
from crm_core.models import EmailMessage, Interaction, OutboxMessage
from tests.crm_core.mail.smtpd import (  # noqa: F401 (the fixtures)
    LOGIN,
    PASSWORD,
    Smtpd,
    smtpd_auth_fixture,
    smtpd_fixture,
)

OWN = "Ayesha Siddiqui <ayesha@indus.example.com>"
URDU_SUBJECT = "یاد دہانی: Cold storage expansion"


def configure(ws, server: Smtpd, **more) -> None:
    ws.mail.configure(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_security="none",
        sender=OWN,
        **more,
    )


@pytest.fixture
def people(ws):
    """A company with an Urdu-speaking contact (and an open deal), a Russian one and
    one who names no language."""
    company = ws.companies.create(name="Karachi Traders", country="PK")
    imran = ws.contacts.create(
        name="Imran Khan",
        email="imran@karachi-traders.example.com",
        company_id=company["id"],
        language="ur",
    )
    deal = ws.pipeline.create(
        "Cold storage expansion",
        company=company["id"],
        contact=imran["id"],
        expected_revenue="1500000.00",
        currency="PKR",
    )
    olga = ws.contacts.create(name="Olga Petrova", email="olga@volga.example.com", language="ru")
    sam = ws.contacts.create(name="Sam Lee <b>", email="sam@lee.example.com")
    return {"company": company, "imran": imran, "deal": deal, "olga": olga, "sam": sam}


def test_compose_renders_each_language_escaped_and_rtl_for_urdu(ws, people):
    urdu = ws.mail.compose(people["imran"]["id"], "follow_up")
    assert (urdu["language"], urdu["subject"]) == ("ur", URDU_SUBJECT)
    assert '<html lang="ur" dir="rtl">' in urdu["html"]
    assert "محترم Imran Khan،" in urdu["text"]
    assert "<strong>Cold storage expansion</strong>" in urdu["html"]
    russian = ws.mail.compose(people["olga"]["id"], "follow_up")
    assert (russian["language"], russian["subject"]) == ("ru", "Напоминание")
    assert '<html lang="ru" dir="ltr">' in russian["html"]
    # no language: English; the name is escaped in HTML, kept as written in text
    english = ws.mail.compose(people["sam"]["id"], "follow_up")
    assert english["language"] == "en"
    assert "Dear Sam Lee &lt;b&gt;," in english["html"]
    assert "Dear Sam Lee <b>," in english["text"]
    # the workspace's mail language comes before English
    ws.mail.configure(language="sd")
    sindhi = ws.mail.compose(people["sam"]["id"], "follow_up")
    assert (sindhi["language"], sindhi["subject"]) == ("sd", "ياد ڏياريندڙ")
    assert 'dir="rtl"' in sindhi["html"]
    with pytest.raises(NotFoundError, match="no_such"):
        ws.mail.compose(people["sam"]["id"], "no_such")


def test_a_users_template_beside_the_workspace_wins_and_runs_sandboxed(sqlite_ws, tmp_path):
    ws = sqlite_ws
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com", language="bn")
    folder = tmp_path / "templates" / "email" / "follow_up"
    folder.mkdir(parents=True)
    (folder / "en.toml").write_text(
        'subject = "Hi {{ contact.first_name }}"\ntext = "Text"\nhtml = "<p>{{ note }}</p>"\n'
    )
    mine = ws.mail.compose(sam["id"], "follow_up", note="<i>")
    # the contact's Bengali is still the built-in one; English is the user's
    assert mine["language"] == "bn"
    ws.contacts.update(sam["id"], language=None)
    mine = ws.mail.compose(sam["id"], "follow_up", note="<i>")
    assert (mine["subject"], mine["text"]) == ("Hi Sam", "Text")
    assert "<p>&lt;i&gt;</p>" in mine["html"]
    (folder / "en.toml").write_text(
        'subject = "{{ contact.__class__.__mro__ }}"\ntext = "t"\nhtml = "h"\n'
    )
    with pytest.raises(ValidationError, match="unsafe"):
        ws.mail.compose(sam["id"], "follow_up")
    (folder / "en.toml").write_text('subject = "{{ contact.nickname }}"\ntext = "t"\nhtml = "h"\n')
    with pytest.raises(ValidationError, match="nickname"):
        ws.mail.compose(sam["id"], "follow_up")


def test_send_puts_both_parts_rtl_html_and_the_message_id_on_the_wire(ws, people, smtpd):
    configure(ws, smtpd)
    queued = ws.mail.send(people["imran"]["id"], "follow_up")
    assert queued["state"] == "queued" and queued["message_id"].endswith("@indus.example.com>")
    assert smtpd.received == []  # queued, not sent

    report = ws.mail.drain()

    assert (report.sent, report.failed, report.in_doubt) == ([queued["id"]], {}, [])
    [got] = smtpd.received
    assert got.mail_from == "ayesha@indus.example.com"
    assert got.rcpt_tos == ["imran@karachi-traders.example.com"]
    raw = email.message_from_bytes(got.data)  # compat32: headers as on the wire
    got.data.decode("ascii")  # all 7-bit on the wire: encoded words, base64
    assert raw["Subject"].startswith("=?utf-8?")
    assert str(make_header(decode_header(raw["Subject"]))) == URDU_SUBJECT
    msg = got.message
    assert msg["Subject"] == URDU_SUBJECT
    assert msg["Message-ID"] == queued["message_id"]
    assert msg["From"] == OWN and msg["To"] == "imran@karachi-traders.example.com"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert "محترم Imran Khan،" in text
    assert '<html lang="ur" dir="rtl">' in html and "محترم Imran Khan،" in html

    [row] = ws.mail.outbox().to_dict("records")
    assert (row["state"], row["attempts"], row["language"]) == ("sent", 1, "ur")
    with ws.transaction() as s:
        logged = s.scalars(select(Interaction)).one()
        facts = s.scalars(select(EmailMessage)).one()
        assert (logged.channel, logged.direction, logged.subject) == ("email", "out", URDU_SUBJECT)
        assert (logged.contact_id, logged.company_id) == (
            people["imran"]["id"],
            people["company"]["id"],
        )
        assert logged.opportunity_id == people["deal"]["id"]  # the subject names the deal
        assert (facts.message_id, facts.interaction_id) == (queued["message_id"], logged.id)
        assert facts.thread_id == queued["message_id"]


def test_a_refused_recipient_fails_with_the_servers_words_and_a_retry_sends_it(ws, people, smtpd):
    configure(ws, smtpd)
    smtpd.refuse("olga@volga.example.com")  # 554 5.7.1: failed (an unknown user bounces)
    to_olga = ws.mail.send(people["olga"]["id"], "follow_up")
    to_sam = ws.mail.send(people["sam"]["id"], "follow_up")

    report = ws.mail.drain()  # the failure does not stop the batch

    assert report.sent == [to_sam["id"]]
    assert list(report.failed) == [to_olga["id"]]
    [failed] = ws.mail.outbox(state="failed").to_dict("records")
    assert failed["id"] == to_olga["id"]
    assert failed["reason"] == (
        "olga@volga.example.com: 554 5.7.1 <olga@volga.example.com>: "
        "Recipient address rejected: Access denied"
    )
    assert [r.rcpt_tos for r in smtpd.received] == [["sam@lee.example.com"]]
    with pytest.raises(ValidationError, match="only a failed message can be retried"):
        ws.mail.retry(to_sam["id"])

    smtpd.accept("olga@volga.example.com")
    assert ws.mail.retry(to_olga["id"])["state"] == "queued"
    again = ws.mail.drain()

    assert again.sent == [to_olga["id"]]
    assert [r.rcpt_tos for r in smtpd.received][-1] == ["olga@volga.example.com"]
    assert smtpd.received[-1].message["Message-ID"] == to_olga["message_id"]  # kept
    done = ws.mail.outbox().set_index("id")
    assert (done.loc[to_olga["id"], "state"], done.loc[to_olga["id"], "attempts"]) == ("sent", 2)
    assert done.loc[to_olga["id"], "reason"] is None


CRASHING_SENDER = textwrap.dedent(
    """
    import os, signal, sys
    import crm_core
    from crm_core.mail.smtp import SmtpTransport
    from crm_core.mail.smtp_config import load

    class DiesAfterTheServerAccepts(SmtpTransport):
        def send(self, msg, sender, recipients):
            super().send(msg, sender, recipients)
            os.kill(os.getpid(), signal.SIGKILL)  # before the outbox hears of it

    ws = crm_core.open(sys.argv[1])
    ws.mail.drain(transport=DiesAfterTheServerAccepts(load(ws)))
    """
)


def test_a_crash_between_the_servers_accept_and_sent_never_sends_twice(ws, backend, people, smtpd):
    configure(ws, smtpd)
    queued = ws.mail.send(people["olga"]["id"], "follow_up")
    later = ws.mail.send(people["sam"]["id"], "follow_up")

    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_SENDER, backend],
        capture_output=True,
        timeout=120,
        cwd=os.getcwd(),
    )

    assert killed.returncode == -9, killed.stderr.decode()
    assert len(smtpd.received) == 1  # the server has it ...
    states = ws.mail.outbox().set_index("id")["state"].to_dict()
    assert states == {queued["id"]: "sending", later["id"]: "queued"}  # ... the outbox not
    # Claimed a moment ago, it may still be on the wire (another process sending it):
    # not in doubt yet, and nobody may settle it.
    assert ws.mail.outbox().set_index("id")["in_doubt"].to_dict() == {
        queued["id"]: False,
        later["id"]: False,
    }
    with pytest.raises(ValidationError, match="is being sent now"):
        ws.mail.resolve(queued["id"], sent=False)
    with ws.transaction() as s:  # the next run, ten minutes after the crash
        row = s.get(OutboxMessage, queued["id"])
        row.sending_at = ws.clock() - dt.timedelta(minutes=10)
    assert ws.mail.outbox().set_index("id")["in_doubt"].to_dict()[queued["id"]] is True

    report = ws.mail.drain()  # the next run sends the rest, not that one again

    assert report.in_doubt == [queued["id"]]
    assert report.sent == [later["id"]]
    assert [r.message["Message-ID"] for r in smtpd.received] == [
        queued["message_id"],
        later["message_id"],
    ]
    assert "check the Sent folder" in str(report)
    assert ws.mail.drain().in_doubt == [queued["id"]]  # never lost, never re-sent
    assert len(smtpd.received) == 2

    settled = ws.mail.resolve(queued["id"], sent=True)  # found in the Sent folder

    assert settled["state"] == "sent" and settled["interaction_id"] is not None
    assert ws.mail.drain().in_doubt == []
    assert len(smtpd.received) == 2


def test_resolving_as_not_sent_queues_it_again(ws, people, smtpd):
    configure(ws, smtpd)
    queued = ws.mail.send(people["sam"]["id"], "follow_up")
    with ws.transaction() as s:  # as a killed run leaves it
        s.get(OutboxMessage, queued["id"]).state = "sending"
    assert ws.mail.resolve(queued["id"], sent=False)["state"] == "queued"
    assert ws.mail.drain().sent == [queued["id"]]
    assert len(smtpd.received) == 1


def test_the_rate_limit_spaces_sends_within_a_minute(ws, clock, people, smtpd):
    configure(ws, smtpd, rate_per_minute=2)
    ids = [ws.mail.send(people["sam"]["id"], "follow_up")["id"] for _ in range(5)]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:  # time passes only when the sender waits
        pauses.append(seconds)
        clock.advance(seconds=seconds)

    report = ws.mail.drain(sleep=sleep)

    assert report.sent == ids and len(smtpd.received) == 5
    # two at 09:30:00, then the window is full until 09:31:00, two more, then 09:32:00
    assert pauses == [60.0, 60.0] and report.waited == 120.0
    with ws.transaction() as s:
        times = list(s.scalars(select(OutboxMessage.sending_at).order_by(OutboxMessage.id)))
    start = times[0]
    assert [(t - start).total_seconds() for t in times] == [0, 0, 60, 60, 120]


def test_a_sales_user_writes_only_to_their_own_contacts(ws, people, smtpd):
    configure(ws, smtpd)
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal")
    ws.contacts.update(people["sam"]["id"], owner="bilal")
    mine = bilal.mail.send(people["sam"]["id"], "follow_up")
    assert mine["user_id"] == bilal.user_id
    with pytest.raises(AccessDenied, match=f"contact #{people['olga']['id']}"):
        bilal.mail.send(people["olga"]["id"], "follow_up")
    with pytest.raises(AccessDenied):
        bilal.mail.compose(people["olga"]["id"], "follow_up")
    ws.mail.send(people["olga"]["id"], "follow_up")  # the owner of the file may
    assert list(bilal.mail.outbox()["id"]) == [mine["id"]]
    assert len(ws.mail.outbox()) == 2
    campaign = ws.campaigns.create("Eid", channel="email")
    with pytest.raises(AccessDenied):
        bilal.mail.send_campaign(campaign["id"], "newsletter")

    # Bilal's own contact, a subject naming a deal that is not his: the message goes
    # out and is logged, without the link to the deal he may not see
    ws.contacts.update(people["imran"]["id"], owner="bilal")
    named = bilal.mail.send(
        people["imran"]["id"], subject="Cold storage expansion", text="Any news?"
    )
    report = bilal.mail.drain()  # his own messages: the owner's to Olga waits for theirs
    assert report.sent == [mine["id"], named["id"]]
    assert ws.mail.outbox(state="queued")["recipient"].tolist() == [people["olga"]["email"]]
    assert len(ws.mail.drain().sent) == 1
    with ws.transaction() as s:
        logged = s.scalars(
            select(Interaction).where(Interaction.contact_id == people["imran"]["id"])
        ).one()
        assert (logged.subject, logged.opportunity_id) == ("Cold storage expansion", None)


def test_settings_are_validated_and_sending_needs_a_server(ws, people, monkeypatch):
    with pytest.raises(ValidationError) as refused:
        ws.mail.configure(smtp_port=0, smtp_security="ssl3", colour="red")
    text = str(refused.value)
    assert "smtp_port" in text and "smtp_security" in text and "colour" in text
    with pytest.raises(ValidationError, match="sender"):
        ws.mail.send(people["sam"]["id"], "follow_up")
    ws.mail.configure(sender=OWN)
    ws.mail.send(people["sam"]["id"], "follow_up")
    with pytest.raises(ValidationError, match="smtp_host"):
        ws.mail.drain()
    assert ws.mail.outbox()["state"].tolist() == ["queued"]  # nothing lost
    monkeypatch.setenv("CRMBOOK_MAIL_RATE", "fast")
    with pytest.raises(ValidationError, match="CRMBOOK_MAIL_RATE"):
        ws.mail.settings()


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_the_password_from_the_environment(ws, people, smtpd_auth, monkeypatch):
    configure(ws, smtpd_auth, smtp_login=LOGIN, smtp_password_env="SALES_SMTP_PASSWORD")
    queued = ws.mail.send(people["sam"]["id"], "follow_up")
    monkeypatch.setenv("SALES_SMTP_PASSWORD", "wrong")
    refused = ws.mail.drain()
    assert refused.failed[queued["id"]].startswith("535 ")  # the server's words
    assert smtpd_auth.received == []
    assert "smtp-secret" not in str(ws.mail.settings())
    monkeypatch.setenv("SALES_SMTP_PASSWORD", PASSWORD)
    ws.mail.retry(queued["id"])
    assert ws.mail.drain().sent == [queued["id"]]
    assert [r.rcpt_tos for r in smtpd_auth.received] == [["sam@lee.example.com"]]
    assert ws.mail.settings()["smtp_password"] == "***"


@pytest.mark.parametrize("template", ["follow_up", "newsletter"])
def test_every_built_in_template_renders_in_its_six_languages(ws, people, template):
    assert ws.mail.templates()[template] == ["bn", "en", "ru", "sd", "ta", "ur"]
    seen = {}
    for lang in ("bn", "en", "ru", "sd", "ta", "ur"):
        ws.contacts.update(people["imran"]["id"], language=lang)
        done = ws.mail.compose(people["imran"]["id"], template, campaign={"name": "Eid"})
        rtl = lang in ("ur", "sd")
        assert done["language"] == lang
        assert f'<html lang="{lang}" dir="{"rtl" if rtl else "ltr"}">' in done["html"]
        assert "Imran Khan" in done["text"] and "Imran Khan" in done["html"]
        seen[lang] = done["subject"]
    assert len(set(seen.values())) == 6  # six different subjects: each is translated


def test_the_signature_falls_back_to_the_senders_address(ws, people):
    """A sender with no display name and a contact with no owner: the newsletter's
    "Eid from …" names the sending address, not nothing."""
    ws.mail.configure(sender="sales@indus.example.com")
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    done = ws.mail.compose(sam["id"], "newsletter", campaign={"name": "Eid"})
    assert done["subject"] == "Eid from sales@indus.example.com"
    ws.mail.configure(sender="Indus Textiles <sales@indus.example.com>")
    assert ws.mail.compose(sam["id"], "newsletter", campaign={"name": "Eid"})["subject"] == (
        "Eid from Indus Textiles"
    )
