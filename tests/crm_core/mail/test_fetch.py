"""Fetching a real Dovecot mailbox into a workspace: first and incremental runs,
threading, deals, UIDVALIDITY changes, import-since and unknown senders."""

from __future__ import annotations

import datetime as dt
import socket
import time

import pandas as pd
import pytest
from sqlalchemy import func, select

from crm_core.mail.run import fetch_mailbox
from crm_core.models import EmailMessage, Interaction, JournalEntry, Mailbox, MailboxFolder
from tests.crm_core.mail.conftest import IMRAN, OWN, message, when

STRANGER = "Farhan Ali <farhan@elsewhere.example.org>"


def _count(ws, model) -> int:
    with ws.transaction() as s:
        return int(s.scalar(select(func.count()).select_from(model)))


def _facts(ws, mid: str) -> EmailMessage:
    with ws.transaction() as s:
        found = s.scalars(select(EmailMessage).where(EmailMessage.message_id == mid)).one()
        s.expunge(found)
        return found


def _fill(server) -> None:
    server.append(
        message(
            frm=f"Imran Khan <{IMRAN}>",
            to=OWN,
            subject="Quote for the cold storage expansion",
            body="Please send your best price for 40 tonnes.",
            mid="<q1@karachi-traders.example.com>",
            date=when(10, 9),
        )
    )
    server.append(
        message(
            frm=STRANGER,
            to=OWN,
            subject="Partnership?",
            mid="<p1@elsewhere.example.org>",
            date=when(10, 10),
        )
    )
    server.append(
        message(
            frm=f"Ayesha Siddiqui <{OWN}>",
            to=f"Imran Khan <{IMRAN}>",
            subject="Re: Quote for the cold storage expansion",
            body="Thanks Imran, our quote is attached.\n\n> Please send your best price",
            mid="<r1@indus.example.com>",
            in_reply_to="<q1@karachi-traders.example.com>",
            references="<q1@karachi-traders.example.com>",
            date=when(10, 11, 30),
            attachments=(("quote.pdf", b"%PDF-1.4 " + b"x" * 1225),),
        ),
        folder="Sent",
    )


def test_first_fetch_links_threads_and_a_rerun_changes_nothing(crm):
    ws, server = crm["ws"], crm["server"]
    _fill(server)

    [report] = ws.mail.fetch("sales")

    assert report.error is None and not report.busy
    assert (report.planned, report.fetched, report.created) == (3, 3, 2)
    assert (report.unknown, report.known, report.skipped) == (1, 0, [])
    timeline = ws.interactions.timeline(contact_id=crm["imran"]["id"])
    assert timeline["direction"].tolist() == ["out", "in"]
    assert timeline["subject"].tolist() == [
        "Re: Quote for the cold storage expansion",
        "Quote for the cold storage expansion",
    ]
    # 09:00 and 11:30 in Karachi (UTC+5)
    assert [t.isoformat() for t in timeline["occurred_at"]] == [
        "2026-05-10T06:30:00+00:00",
        "2026-05-10T04:00:00+00:00",
    ]
    # the quoted line is not the reply's own words
    assert timeline["summary"].tolist()[0] == "Thanks Imran, our quote is attached."
    # the subject names the open deal; the reply follows its thread onto it
    assert timeline["opportunity_id"].tolist() == [crm["deal"]["id"]] * 2
    with ws.transaction() as s:
        companies = set(s.scalars(select(Interaction.company_id)))
    assert companies == {crm["company"]["id"]}

    reply = _facts(ws, "<r1@indus.example.com>")
    assert reply.in_reply_to == "<q1@karachi-traders.example.com>"
    assert reply.thread_id == "<q1@karachi-traders.example.com>"
    assert reply.folder == "Sent" and reply.from_address == OWN
    assert reply.attachments == [{"name": "quote.pdf", "size": 1234, "type": "application/pdf"}]
    thread = ws.mail.thread("<r1@indus.example.com>")
    assert thread["message_id"].tolist() == [
        "<q1@karachi-traders.example.com>",
        "<r1@indus.example.com>",
    ]
    assert thread["direction"].tolist() == ["in", "out"]

    journal_rows = _count(ws, JournalEntry)
    [again] = ws.mail.fetch("sales")
    assert (again.planned, again.fetched, again.created, again.error) == (0, 0, 0, None)
    assert _count(ws, Interaction) == 2
    assert _count(ws, EmailMessage) == 2
    assert _count(ws, JournalEntry) == journal_rows

    server.append(
        message(
            frm=IMRAN,
            to=OWN,
            subject="Re: Quote for the cold storage expansion",
            body="Agreed. Please send the contract.",
            mid="<q2@karachi-traders.example.com>",
            in_reply_to="<r1@indus.example.com>",
            references="<q1@karachi-traders.example.com> <r1@indus.example.com>",
            date=when(11, 9),
        )
    )
    [third] = ws.mail.fetch("sales")
    assert (third.planned, third.fetched, third.created) == (1, 1, 1)
    assert _facts(ws, "<q2@karachi-traders.example.com>").thread_id == (
        "<q1@karachi-traders.example.com>"
    )
    assert len(ws.mail.thread("<q1@karachi-traders.example.com>")) == 3
    with ws.transaction() as s:
        folders = {n: u for n, u in s.execute(select(MailboxFolder.name, MailboxFolder.last_uid))}
    assert folders == {"INBOX": 3, "Sent": 1}
    status = ws.mail.status().iloc[0]
    assert status["last_error"] is None and status["last_report"]["created"] == 1
    assert status["lag"] == dt.timedelta(0)  # the fake clock stands still


def test_a_changed_uidvalidity_reads_the_folder_again_without_duplicates(crm):
    ws, server = crm["ws"], crm["server"]
    sent = message(
        frm=OWN,
        to=IMRAN,
        subject="Delivery schedule",
        mid="<d1@indus.example.com>",
        date=when(12, 9),
    )
    server.append(sent, folder="Sent")
    [first] = ws.mail.fetch("sales")
    assert first.created == 1
    with ws.transaction() as s:
        before = s.scalar(select(MailboxFolder.uidvalidity).where(MailboxFolder.name == "Sent"))

    with server.client() as c:  # the server renumbers the folder
        c.delete_folder("Sent")
        time.sleep(1.1)  # Dovecot's new UIDVALIDITY is the time in seconds
        c.create_folder("Sent")
    server.append(sent, folder="Sent")
    server.append(
        message(
            frm=OWN,
            to=IMRAN,
            subject="Delivery schedule, corrected",
            mid="<d2@indus.example.com>",
            date=when(12, 10),
        ),
        folder="Sent",
    )

    [second] = ws.mail.fetch("sales")
    assert second.renumbered == ["Sent"]
    assert (second.fetched, second.known, second.created) == (2, 1, 1)
    assert _count(ws, Interaction) == 2
    with ws.transaction() as s:
        after = s.scalar(select(MailboxFolder.uidvalidity).where(MailboxFolder.name == "Sent"))
    assert after != before
    assert _facts(ws, "<d1@indus.example.com>").uid == 1


def test_only_messages_since_the_import_date_are_read(crm):
    ws, server = crm["ws"], crm["server"]
    for day, mid in ((3, "<old@k.example.com>"), (20, "<new@k.example.com>")):
        raw = message(frm=IMRAN, to=OWN, subject=f"Order {day}", mid=mid, date=when(day, 9))
        with server.client() as c:
            c.append("INBOX", raw, msg_time=when(day, 9))
    ws.mail.add_mailbox(
        "recent",
        address=OWN,
        host=server.host,
        port=server.port,
        security="none",
        login=server.user,
        password_env="CRMBOOK_TEST_IMAP_PASSWORD",
        folders=["INBOX"],
        import_since="2026-05-15",
    )
    [report] = ws.mail.fetch("recent")
    assert (report.fetched, report.created) == (1, 1)
    assert ws.interactions.timeline(contact_id=crm["imran"]["id"])["subject"].tolist() == [
        "Order 20"
    ]


def test_unknown_senders_are_skipped_or_proposed_as_contacts(crm):
    ws, server = crm["ws"], crm["server"]
    for n in (1, 2):
        server.append(
            message(
                frm=STRANGER,
                to=OWN,
                subject=f"Enquiry {n}",
                mid=f"<e{n}@x.example.org>",
                date=when(12, 9 + n),
            )
        )
    [known_only] = ws.mail.fetch("sales")
    assert (known_only.fetched, known_only.unknown, known_only.created) == (2, 2, 0)
    assert _count(ws, EmailMessage) == 0

    ws.mail.add_mailbox(
        "everyone",
        address=OWN,
        host=server.host,
        port=server.port,
        security="none",
        login=server.user,
        password_env="CRMBOOK_TEST_IMAP_PASSWORD",
        only_known=False,
    )
    [everyone] = ws.mail.fetch("everyone")
    assert (everyone.proposed, everyone.new_proposals, everyone.created) == (2, 1, 0)
    proposals = ws.mail.proposals()
    assert proposals[["email", "name", "messages"]].values.tolist() == [
        ["farhan@elsewhere.example.org", "Farhan Ali", 2]
    ]
    contact = ws.mail.accept_proposal(int(proposals["id"][0]))
    assert (contact["name"], contact["email"]) == ("Farhan Ali", "farhan@elsewhere.example.org")
    timeline = ws.interactions.timeline(contact_id=contact["id"])
    assert timeline["subject"].tolist() == ["Enquiry 2", "Enquiry 1"]
    assert ws.mail.proposals().empty


def test_a_run_stopped_between_batches_resumes_without_duplicates_or_losses(crm):
    ws, server = crm["ws"], crm["server"]
    for n in range(5):
        server.append(
            message(
                frm=IMRAN,
                to=OWN,
                subject=f"Order {n}",
                mid=f"<o{n}@k.example.com>",
                date=when(12, 9, n),
            )
        )
    with ws.transaction() as s:
        box = s.scalars(select(Mailbox)).one()
        s.expunge(box)

    def crash(report, done, total):
        if done == 2:
            raise KeyboardInterrupt  # the process is stopped after the first batch

    with pytest.raises(KeyboardInterrupt):
        fetch_mailbox(ws, box, batch=2, progress=crash)
    assert _count(ws, Interaction) == 2
    [resumed] = ws.mail.fetch("sales")
    assert (resumed.planned, resumed.created, resumed.known) == (3, 3, 0)
    assert ws.interactions.timeline(contact_id=crm["imran"]["id"])["subject"].tolist() == [
        f"Order {n}" for n in (4, 3, 2, 1, 0)
    ]
    with ws.transaction() as s:
        origins = set(
            s.scalars(select(JournalEntry.origin).where(JournalEntry.entity == "interactions"))
        )
    assert origins == {"mail:sales"}  # journaled like any interaction, saying by what


def test_a_server_that_cannot_be_reached_is_reported_not_raised(ws, monkeypatch):
    monkeypatch.setenv("NOWHERE_PASSWORD", "x")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ws.mail.add_mailbox(
        "nowhere",
        address=OWN,
        host="127.0.0.1",
        port=port,
        security="none",
        login="x",
        password_env="NOWHERE_PASSWORD",
    )
    [report] = ws.mail.fetch("nowhere")
    assert report.error == "[Errno 111] Connection refused"
    status = ws.mail.status().iloc[0]
    assert status["last_error"] == report.error and status["last_run_at"] is not None
    assert pd.isna(status["lag"])  # never read to the end


def test_someone_else_answering_in_a_thread_is_not_put_on_its_deal(crm):
    """Imran's message names his deal; Faisal of another company answers in the thread
    (In-Reply-To Imran's): Faisal's message is his own, on no deal of Imran's company,
    in the same batch and in a later fetch alike."""
    ws, server = crm["ws"], crm["server"]
    other = ws.companies.create(name="Quetta Fruit")
    faisal = ws.contacts.create(
        name="Faisal", email="faisal@quetta.example.com", company=other["id"]
    )
    first = message(
        frm=IMRAN,
        to=OWN,
        subject="Quote for the cold storage expansion",
        mid="<q1@karachi-traders.example.com>",
        date=when(10, 9),
    )
    server.append(first)
    for n, day in ((1, 10), (2, 11)):  # one in the batch of Imran's, one fetched later
        server.append(
            message(
                frm="faisal@quetta.example.com",
                to=OWN,
                subject="Re: Quote for the cold storage expansion",
                mid=f"<f{n}@quetta.example.com>",
                in_reply_to="<q1@karachi-traders.example.com>",
                date=when(day, 10),
            )
        )
        ws.mail.fetch("sales")
    imran = ws.interactions.timeline(contact_id=crm["imran"]["id"])
    assert imran["opportunity_id"].tolist() == [crm["deal"]["id"]]
    theirs = ws.interactions.timeline(contact_id=faisal["id"])
    assert len(theirs) == 2 and theirs["opportunity_id"].isna().all()


def test_another_senders_message_under_a_stored_message_id_is_skipped_with_why(crm):
    """A copy of a stored message (same sender) is known; someone else's message under
    the same Message-ID (a forger's, a broken mailer's) is listed as skipped, saying so,
    not dropped unseen and not put on the first one's thread."""
    ws, server = crm["ws"], crm["server"]
    mid = "<q1@karachi-traders.example.com>"
    server.append(message(frm=IMRAN, to=OWN, subject="Quote", mid=mid, date=when(10, 9)))
    ws.mail.fetch("sales")
    server.append(message(frm=IMRAN, to=OWN, subject="Quote", mid=mid, date=when(10, 9)))
    server.append(
        message(frm="zahid@quetta.example.com", to=OWN, subject="Hi", mid=mid, date=when(11, 9))
    )

    [report] = ws.mail.fetch("sales")

    assert (report.known, report.created) == (1, 0)
    [skipped] = report.skipped
    assert skipped.reason == (
        f"its Message-ID is that of a message from {IMRAN} stored already: a second "
        "message under one ID is not stored"
    )
    assert ws.mail.skipped("sales")["reason"].tolist() == [skipped.reason]
