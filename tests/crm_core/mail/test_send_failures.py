"""What a failed send makes of a message, against real SMTP servers on loopback
(aiosmtpd) that are slow, drop the line, answer 4xx or 5xx, or are not there:

- no answer after the whole message went (the server may have it): in doubt, never
  failed nor sent again;
- no connection, a timeout before the message went, a 4xx: queued again for the next
  drain, until MAX_ATTEMPTS tries or a day;
- a 5xx: failed; a recipient that does not exist: bounced, the address bouncing;
- a bad header given by a caller is refused when queued, and a message that cannot be
  built at drain time fails without stopping the batch.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.errors import ValidationError
from crm_core.mail import outbox, smtp
from crm_core.models import Contact, EmailBounce, OutboxMessage
from tests.crm_core.mail.smtpd import (  # noqa: F401 (the fixture)
    Recorder,
    Smtpd,
    free_port,
    serving,
    smtpd_fixture,
)
from tests.crm_core.mail.test_send import OWN, configure
from tests.crm_core.test_cli import crmbook

OLGA, SAM = "olga@volga.example.com", "sam@lee.example.com"
people_names = ("olga", "imran", "sam")


@dataclass
class Odd(Recorder):
    """A recorder that can be slow to answer RCPT or the end of DATA (``rcpt_delay``,
    ``data_delay`` seconds: it keeps the message first) or drop the connection once it
    has the message (``drop_after_data``)."""

    rcpt_delay: float = 0.0
    data_delay: float = 0.0
    drop_after_data: bool = False

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        answer = await super().handle_DATA(server, session, envelope)  # stored
        if self.drop_after_data:
            server.transport.close()
        if self.data_delay:
            await asyncio.sleep(self.data_delay)
        return answer


@pytest.fixture
def people(ws):
    """Three contacts: Imran (Urdu), Olga (Russian) and Sam (no language)."""
    imran = ws.contacts.create(
        name="Imran Khan", email="imran@karachi-traders.example.com", language="ur"
    )
    olga = ws.contacts.create(name="Olga Petrova", email=OLGA, language="ru")
    sam = ws.contacts.create(name="Sam Lee <b>", email=SAM)
    return {"imran": imran, "olga": olga, "sam": sam}


@pytest.fixture
def odd() -> Iterator[Smtpd]:
    """A fresh SMTP server whose handler is an :class:`Odd` recorder."""
    with serving(Odd()) as server:
        yield server


@pytest.fixture
def short_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 s SMTP timeout (30 s in use): the odd servers wait 3 s."""
    monkeypatch.setattr(smtp, "TIMEOUT", 1)


def states(ws) -> dict[int, str]:
    return ws.mail.outbox().set_index("id")["state"].to_dict()


def row(ws, ident: int) -> dict[str, Any]:
    return ws.mail.outbox().set_index("id").loc[ident].to_dict()


# -- 1. no answer after the whole message went: in doubt, never sent twice ------------


def test_a_timeout_after_the_message_went_leaves_it_in_doubt_never_sent_twice(
    ws, clock, people, odd, short_timeout
):
    configure(ws, odd)
    odd.recorder.data_delay = 3  # keeps the message, answers 250 after the timeout
    first = ws.mail.send(people["olga"]["id"], "follow_up")
    second = ws.mail.send(people["sam"]["id"], "follow_up")

    report = ws.mail.drain(check_sent=False)

    assert len(odd.received) == 2  # the server has both
    assert report.failed == {} and report.sent == []
    assert report.in_doubt == [first["id"], second["id"]]
    assert set(report.unanswered) == {first["id"], second["id"]}
    assert states(ws) == {first["id"]: "sending", second["id"]: "sending"}
    reason = row(ws, first["id"])["reason"]
    assert reason.startswith(outbox.NO_ANSWER) and "timed out" in reason
    assert row(ws, first["id"])["in_doubt"] is True  # no run is sending it: settle it now
    with pytest.raises(ValidationError, match="only a failed message can be retried"):
        ws.mail.retry(first["id"])

    odd.recorder.data_delay = 0
    clock.advance(minutes=10)  # the next scheduled drain: looks, never sends again
    again = ws.mail.drain()
    assert again.sent == [] and again.in_doubt == [first["id"], second["id"]]
    assert len(odd.received) == 2
    noted = row(ws, first["id"])["reason"]
    assert noted.startswith(outbox.NO_ANSWER) and "timed out" in noted  # cause kept
    assert "no mailbox with the sender's address" in noted  # and where it was looked for
    assert ws.mail.resolve(first["id"], sent=True)["state"] == "sent"
    assert len(odd.received) == 2


def test_a_disconnect_after_the_message_went_is_in_doubt(ws, people, odd, short_timeout):
    configure(ws, odd)
    odd.recorder.drop_after_data = True
    queued = ws.mail.send(people["sam"]["id"], "follow_up")

    report = ws.mail.drain(check_sent=False)

    assert len(odd.received) == 1
    assert report.failed == {} and list(report.unanswered) == [queued["id"]]
    assert states(ws) == {queued["id"]: "sending"}
    assert "SMTPServerDisconnected" in row(ws, queued["id"])["reason"]


def test_drain_from_the_command_line_says_in_doubt_not_failed(ws, backend, people, odd):
    configure(ws, odd)
    odd.recorder.data_delay = 3
    queued = ws.mail.send(people["sam"]["id"], "follow_up")
    # the child process gets the short timeout from a wrapper around crmbook
    script = (
        "import sys; from crm_core.mail import smtp; smtp.TIMEOUT = 1\n"
        "from crm_core.cli import main\n"
        "sys.argv = ['crmbook', 'mail', 'drain', '-w', sys.argv[1]]\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, backend], capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 1, done.stderr
    assert "failed #" not in done.stdout
    assert f"in doubt #{queued['id']}: {outbox.NO_ANSWER}" in done.stdout
    assert "1 in doubt" in done.stdout
    assert len(odd.received) == 1


# -- 2. temporary failures wait for the next drain; 5xx fail; unknown users bounce ----


def test_a_timeout_before_the_message_went_queues_it_again(ws, clock, people, odd, short_timeout):
    configure(ws, odd)
    odd.recorder.rcpt_delay = 3
    queued = ws.mail.send(people["sam"]["id"], "follow_up")

    report = ws.mail.drain()

    assert report.failed == {} and list(report.deferred) == [queued["id"]]
    assert odd.received == []
    left = row(ws, queued["id"])
    assert (left["state"], left["attempts"]) == ("queued", 1)
    assert "temporary failure (try 1 of 5)" in left["reason"] and "timed out" in left["reason"]
    assert "tried again from 2026-05-15 09:35 UTC" in left["reason"]

    odd.recorder.rcpt_delay = 0
    assert ws.mail.drain().sent == []  # not before its delay
    clock.advance(minutes=5)
    assert ws.mail.drain().sent == [queued["id"]]
    assert len(odd.received) == 1


def test_with_the_server_down_messages_stay_queued_then_fail_after_five_tries(ws, people, clock):
    ws.mail.configure(
        smtp_host="127.0.0.1", smtp_port=free_port(), smtp_security="none", sender=OWN
    )
    ids = [ws.mail.send(people[p]["id"], "follow_up")["id"] for p in ("imran", "olga", "sam")]

    report = ws.mail.drain()

    assert report.failed == {} and list(report.deferred) == [ids[0]]
    assert "cannot be reached" in str(report) and "ConnectionRefusedError" in str(report)
    assert states(ws) == dict.fromkeys(ids, "queued")
    first = row(ws, ids[0])
    assert first["attempts"] == 1 and "ConnectionRefusedError" in first["reason"]
    assert row(ws, ids[1])["attempts"] == 0  # not tried: the drain stopped

    clock.advance(seconds=30)  # the next scheduled drain: the first waits, the second tries
    assert list(ws.mail.drain().deferred) == [ids[1]]
    waits = [5, 15, 60, 240]  # minutes after the 1st, 2nd, 3rd and 4th try
    for minutes in waits:
        assert row(ws, ids[0])["state"] == "queued"
        clock.advance(minutes=minutes - 1)
        assert ids[0] not in ws.mail.drain().deferred  # not yet
        clock.advance(minutes=1)
        ws.mail.drain()
    gave_up = row(ws, ids[0])
    assert (gave_up["state"], gave_up["attempts"]) == ("failed", 5)
    assert gave_up["reason"].startswith("gave up after 5 tries")
    assert states(ws)[ids[1]] == "queued"
    again = ws.mail.retry(ids[0])  # by hand: tried by the next drain, no delay
    assert (again["state"], again["sending_at"]) == ("queued", None)


def test_a_temporary_failure_a_day_after_queueing_fails(ws, people, odd, clock):
    configure(ws, odd)
    odd.refuse(SAM, "451 4.3.0 <sam@lee.example.com>: Temporary lookup failure")
    queued = ws.mail.send(people["sam"]["id"], "follow_up")

    first = ws.mail.drain()
    assert list(first.deferred) == [queued["id"]] and first.failed == {}
    assert row(ws, queued["id"])["state"] == "queued"
    assert "451 4.3.0" in row(ws, queued["id"])["reason"]

    clock.advance(hours=25)  # a day after it was queued: no more waiting
    later = ws.mail.drain()
    assert list(later.failed) == [queued["id"]]
    assert row(ws, queued["id"])["state"] == "failed"
    assert odd.received == []


def test_a_refused_unknown_user_bounces_and_marks_the_address(ws, people, smtpd):
    configure(ws, smtpd)
    smtpd.unknown(OLGA)  # 550 5.1.1 ... User unknown
    smtpd.refuse(SAM, "550 5.7.1 <sam@lee.example.com>: Mailbox unavailable: spam policy")
    imran = people["imran"]["email"]
    smtpd.refuse(imran, "550 Requested action not taken: mailbox unavailable")
    to_olga = ws.mail.send(people["olga"]["id"], "follow_up")
    to_sam = ws.mail.send(people["sam"]["id"], "follow_up")
    to_imran = ws.mail.send(people["imran"]["id"], "follow_up")

    report = ws.mail.drain()

    assert set(report.bounced) == {to_olga["id"], to_imran["id"]}
    assert list(report.failed) == [to_sam["id"]]  # a policy refusal is no bounce
    assert states(ws) == {
        to_olga["id"]: "bounced",
        to_sam["id"]: "failed",
        to_imran["id"]: "bounced",
    }
    assert "User unknown" in row(ws, to_olga["id"])["reason"]
    with ws.transaction() as s:
        bouncing = {p: s.get(Contact, people[p]["id"]).email_bouncing for p in people_names}
        assert bouncing == {"olga": True, "imran": True, "sam": False}
        bounce = s.scalars(select(EmailBounce).where(EmailBounce.email_key == OLGA)).one()
        assert (bounce.status, bounce.bounced_message_id) == ("5.1.1", to_olga["message_id"])
    assert smtpd.received == []


# -- 3. bad header values: refused when queued; unbuildable ones fail alone ------------


def test_a_bad_in_reply_to_or_subject_is_refused_when_queued(ws, people):
    ws.mail.configure(sender=OWN)
    with pytest.raises(ValidationError) as refused:
        ws.mail.send(
            people["sam"]["id"], subject="Re: x", text="y", in_reply_to="<a@x>\r\nBcc: v@evil"
        )
    assert "in_reply_to" in str(refused.value) and "Message-ID" in str(refused.value)
    for bad in ("a@x", "<ax>", "<a@x> <b@y>", "<a@x\x00>"):
        with pytest.raises(ValidationError, match="in_reply_to"):
            ws.mail.send(people["sam"]["id"], subject="Re: x", text="y", in_reply_to=bad)
    with pytest.raises(ValidationError) as subject:
        ws.mail.send(people["sam"]["id"], subject="Hi\r\nBcc: v@evil", text="y")
    assert "subject" in str(subject.value) and "line breaks" in str(subject.value)
    assert ws.mail.outbox().empty
    ok = ws.mail.send(people["sam"]["id"], subject="Re: x", text="y", in_reply_to=" <a@x> ")
    assert ok["in_reply_to"] == "<a@x>"


def test_a_message_that_cannot_be_built_fails_without_stopping_the_batch(ws, people, smtpd):
    configure(ws, smtpd)
    bad = ws.mail.send(people["olga"]["id"], subject="Re: x", text="y", in_reply_to="<a@x>")
    good = ws.mail.send(people["sam"]["id"], "follow_up")
    with ws.transaction() as s:  # as a row queued before the check was made
        s.get(OutboxMessage, bad["id"]).in_reply_to = "<a@x>\r\nBcc: v@evil"

    report = ws.mail.drain()

    assert report.sent == [good["id"]] and list(report.failed) == [bad["id"]]
    assert states(ws) == {bad["id"]: "failed", good["id"]: "sent"}
    assert "cannot be built" in row(ws, bad["id"])["reason"]
    assert "linefeed" in row(ws, bad["id"])["reason"]
    assert [r.rcpt_tos for r in smtpd.received] == [[SAM]]


# -- 4. the preview on the command line ------------------------------------------------


def test_the_preview_prints_line_breaks(ws, backend, people):
    shown = crmbook(
        "mail", "send", SAM, "--template", "follow_up", "--preview", "-w", backend,
        cwd=Path(os.getcwd()),
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "\\n" not in shown.stdout
    lines = shown.stdout.splitlines()
    assert lines[0] == f"To: {SAM}" and lines[1].startswith("From: ")
    assert "Language: en" in lines and "" in lines
    assert any(line.startswith("Dear Sam Lee <b>,") for line in lines)
