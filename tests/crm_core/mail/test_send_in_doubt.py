"""Messages a crash left in ``sending``, checked against the Sent folder: a real Dovecot
(the mailbox "sales" of the sender's address) and a real SMTP server (aiosmtpd). Found
in Sent (over IMAP, or already fetched): settled as sent, never delivered twice. Not
found: still in doubt, with where and when it was looked for, and never sent again."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

from sqlalchemy import select

from crm_core.mail import outbox
from crm_core.mail.compose import build_mime
from crm_core.mail.smtp import SmtpTransport
from crm_core.mail.smtp_config import load
from crm_core.models import EmailMessage, Interaction, Mailbox, OutboxMessage
from tests.crm_core.mail.conftest import IMRAN, OWN, PASSWORD_ENV
from tests.crm_core.mail.smtpd import Smtpd, smtpd_fixture  # noqa: F401 (the fixture)
from tests.crm_core.mail.test_send import CRASHING_SENDER
from tests.crm_core.test_cli import crmbook

SENDER = f"Ayesha Siddiqui <{OWN}>"


def configure(ws, server: Smtpd) -> None:
    ws.mail.configure(
        smtp_host=server.host, smtp_port=server.port, smtp_security="none", sender=SENDER
    )


def long_ago(ws, message_id: int) -> None:
    """Date the message's claim ten minutes back: the run that claimed it is gone (a
    claim younger than SENDING_GRACE may still be on the wire, so nothing settles it)."""
    with ws.transaction() as s:
        s.get(OutboxMessage, message_id).sending_at = ws.clock() - dt.timedelta(minutes=10)


def crash_after_sending(ws, message_id: int) -> bytes:
    """What a killed drain leaves: the message claimed (``sending``, committed) and put
    on the wire, then nothing more, ten minutes ago. Returns the bytes the server
    accepted."""
    assert outbox.claim(ws, message_id)
    with ws.transaction() as s:
        msg = build_mime(s.get(OutboxMessage, message_id))
    transport = SmtpTransport(load(ws))
    transport.send(msg, OWN, [IMRAN])
    transport.close()
    long_ago(ws, message_id)
    return msg.as_bytes()


def test_a_crashed_send_found_in_the_sent_folder_is_settled_and_not_sent_again(crm, backend, smtpd):
    ws, server = crm["ws"], crm["server"]
    configure(ws, smtpd)
    queued = ws.mail.send(crm["imran"]["id"], "follow_up")
    later = ws.mail.send(crm["imran"]["id"], subject="Price list", text="Attached soon.")

    killed = subprocess.run(
        [sys.executable, "-c", CRASHING_SENDER, backend],
        capture_output=True,
        timeout=120,
        cwd=os.getcwd(),
    )
    assert killed.returncode == -9, killed.stderr.decode()
    long_ago(ws, queued["id"])
    [delivered] = smtpd.received
    assert delivered.message["Message-ID"] == queued["message_id"]
    assert ws.mail.outbox().set_index("id")["state"].to_dict() == {
        queued["id"]: "sending",
        later["id"]: "queued",
    }
    # the user's mail client (or the server) filed a copy in Sent
    server.append(delivered.data, folder="Sent")

    report = ws.mail.drain()

    assert report.settled == {queued["id"]: "found in Sent folder 'Sent' of mailbox 'sales'"}
    assert (report.in_doubt, report.sent) == ([], [later["id"]])
    assert "1 found in a Sent folder (settled as sent)" in str(report)
    # no second delivery: the server got the settled one once, and the next one
    assert [r.message["Message-ID"] for r in smtpd.received] == [
        queued["message_id"],
        later["message_id"],
    ]
    with ws.transaction() as s:
        row = s.get(OutboxMessage, queued["id"])
        assert (row.state, row.attempts, row.reason) == ("sent", 1, None)
        assert row.sent_at == row.sending_at  # when it went, not when it was found
        logged = s.get(Interaction, row.interaction_id)
        assert (logged.direction, logged.contact_id) == ("out", crm["imran"]["id"])
    assert ws.mail.drain().sent == [] and len(smtpd.received) == 2


def test_one_a_fetch_already_stored_is_settled_without_imap_and_linked_to_its_interaction(
    crm, smtpd
):
    ws, server = crm["ws"], crm["server"]
    configure(ws, smtpd)
    queued = ws.mail.send(crm["imran"]["id"], "follow_up")
    server.append(crash_after_sending(ws, queued["id"]), folder="Sent")
    [fetched] = ws.mail.fetch("sales")  # the Sent copy becomes Imran's outbound e-mail
    assert fetched.created == 1
    with ws.transaction() as s:
        facts = s.scalars(select(EmailMessage)).one()
        assert (facts.message_id, facts.folder) == (queued["message_id"], "Sent")
    server.root.joinpath("passwd").write_text("")  # IMAP would refuse every login now

    report = ws.mail.check_in_doubt()

    assert report.settled == {queued["id"]: "fetched from Sent of mailbox 'sales'"}
    assert report.in_doubt == {}
    with ws.transaction() as s:
        row = s.get(OutboxMessage, queued["id"])
        assert row.state == "sent" and row.interaction_id == facts.interaction_id
        assert len(s.scalars(select(Interaction)).all()) == 1  # not logged twice
    assert len(smtpd.received) == 1


def test_another_users_own_mailbox_is_not_believed(crm, smtpd):
    """The mailbox of the sender's address is bilal's own (a server he may run): its
    Sent folder, over IMAP or as fetched, settles no message he did not queue."""
    ws, server = crm["ws"], crm["server"]
    configure(ws, smtpd)
    ws.mail.configure(allowed_mail_hosts=[server.host])  # his mailbox: on loopback
    bilal = ws.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    with ws.transaction() as s:
        s.scalars(select(Mailbox)).one().owner_id = bilal["id"]
    queued = ws.mail.send(crm["imran"]["id"], "follow_up")  # by the workspace's owner
    server.append(crash_after_sending(ws, queued["id"]), folder="Sent")

    report = ws.mail.check_in_doubt()

    assert report.settled == {} and list(report.in_doubt) == [queued["id"]]
    ws.mail.fetch("sales")  # the copy fetched from his Sent folder: not believed either
    assert ws.mail.check_in_doubt().settled == {}
    assert ws.mail.outbox()["state"].tolist() == ["sending"]
    with ws.transaction() as s:  # a shared mailbox is
        s.scalars(select(Mailbox)).one().owner_id = None
    assert ws.mail.check_in_doubt().settled == {
        queued["id"]: "fetched from Sent of mailbox 'sales'"
    }


def test_one_not_in_the_sent_folder_stays_in_doubt_with_a_note_and_is_never_resent(
    crm, backend, clock, smtpd, tmp_path, monkeypatch
):
    ws = crm["ws"]
    configure(ws, smtpd)
    queued = ws.mail.send(crm["imran"]["id"], "follow_up")
    crash_after_sending(ws, queued["id"])  # sent, but the server filed no copy in Sent
    clock.advance(minutes=5)

    report = ws.mail.drain()

    note = "not found in Sent folder 'Sent' of mailbox 'sales' at 2026-05-15 09:35 UTC"
    assert (report.settled, report.in_doubt, report.sent) == ({}, [queued["id"]], [])
    assert report.doubts == {queued["id"]: note}
    assert len(smtpd.received) == 1
    row = ws.mail.outbox(state="sending").to_dict("records")
    assert [(r["id"], r["reason"]) for r in row] == [(queued["id"], note)]

    # the check on its own, and from the command line: still in doubt, exit 1
    assert ws.mail.check_in_doubt().in_doubt == {queued["id"]: note}
    checked = crmbook("mail", "check", "-w", backend, cwd=tmp_path)
    assert checked.returncode == 1, (checked.stdout, checked.stderr)
    assert checked.stdout, checked.stderr
    assert "0 found in a Sent folder (now sent), 1 still in doubt" in checked.stdout
    assert f"in doubt #{queued['id']}: not found in Sent folder 'Sent'" in checked.stdout
    assert f"crmbook mail resolve {queued['id']} --sent" in checked.stdout
    drained = crmbook("mail", "drain", "-w", backend, cwd=tmp_path)
    assert drained.returncode == 1, drained.stderr  # a cron job sees a message in doubt
    assert "sent 0, failed 0, 1 in doubt" in drained.stdout
    assert len(smtpd.received) == 1  # never re-sent

    # a mailbox whose password cannot be had: said so, still in doubt
    monkeypatch.delenv(PASSWORD_ENV)
    [why] = ws.mail.check_in_doubt().in_doubt.values()
    assert why.startswith("could not look in the Sent folder of mailbox 'sales' at ")
    assert f"${PASSWORD_ENV}" in why
    # a person settles it; then it is sent and logged
    assert ws.mail.resolve(queued["id"], sent=True)["state"] == "sent"
    assert ws.mail.check_in_doubt().in_doubt == {} and len(smtpd.received) == 1


def test_a_sender_with_no_mailbox_is_said_so(ws, smtpd):
    configure(ws, smtpd)
    ws.mail.configure(sender="Other <other@elsewhere.example.com>")
    sam = ws.contacts.create(name="Sam Lee", email="sam@lee.example.com")
    queued = ws.mail.send(sam["id"], subject="Hello", text="Hello Sam")
    assert outbox.claim(ws, queued["id"])  # and the process died
    long_ago(ws, queued["id"])
    report = ws.mail.check_in_doubt()
    assert report.in_doubt == {
        queued["id"]: "no mailbox with the sender's address other@elsewhere.example.com to "
        "look in: check its Sent folder, then resolve it"
    }
    assert ws.mail.drain().in_doubt == [queued["id"]] and smtpd.received == []
