"""The background scheduler (crm_core.background): jobs on a timer from the settings,
errors recorded without ending it, and the mail jobs against real servers: two
schedulers on one database fetch a Dovecot mailbox once, the outbox reaches aiosmtpd
once."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

import crm_core
from crm_core.background import Job, Scheduler, drain_outbox, fetch_mailboxes
from crm_core.errors import ValidationError
from crm_core.models import EmailMessage, Interaction, OutboxMessage
from tests.crm_core.mail import conftest as mail_servers
from tests.crm_core.mail.conftest import IMRAN, OWN, message, when
from tests.crm_core.mail.smtpd import smtpd_fixture  # noqa: F401 (the fixture)

# the real Dovecot and the workspace with a mailbox on it (tests/crm_core/mail)
dovecot, crm = mail_servers.dovecot, mail_servers.crm


class Timer:
    """An injected monotonic timer the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def counting(name: str, setting: str, unit_s: float = 1.0, fail_first: int = 0) -> Job:
    calls: list[int] = []

    def run(ws) -> tuple[str, None]:
        calls.append(1)
        if len(calls) <= fail_first:
            raise RuntimeError(f"boom {len(calls)}")
        return f"run {len(calls)}", None

    job = Job(name, run, setting, unit_s)
    job.calls = calls  # type: ignore[attr-defined]
    return job


def test_settings_are_validated(ws):
    assert ws.setting("mail_fetch_minutes") == "5"
    assert ws.setting("mail_drain_seconds") == "30"
    ws.set_setting("mail_fetch_minutes", "2.5")
    ws.set_setting("mail_drain_seconds", "0")
    assert (ws.setting("mail_fetch_minutes"), ws.setting("mail_drain_seconds")) == ("2.5", "0")
    for key, bad, why in [
        ("mail_fetch_minutes", "0.01", "at least 0.05"),
        ("mail_fetch_minutes", "-1", "at least 0"),
        ("mail_fetch_minutes", "soon", "not a number"),
        ("mail_drain_seconds", "1.5", "whole number"),
        ("mail_drain_seconds", "90000", "at most 86400"),
    ]:
        with pytest.raises(ValidationError, match=why) as caught:
            ws.set_setting(key, bad)
        assert caught.value.errors[0].field == key
    assert ws.setting("mail_fetch_minutes") == "2.5"  # unchanged by the refusals


def test_jobs_run_when_due_by_the_settings(ws):
    timer = Timer()
    fetch = counting("fetch", "mail_fetch_minutes", 60)
    drain = counting("drain", "mail_drain_seconds")
    sched = Scheduler(ws, [fetch, drain], monotonic=timer, settings_every_s=100)
    assert sched.run_due() == ["fetch", "drain"]  # both at once on start
    timer.now += 29
    assert sched.run_due() == []
    timer.now += 1
    assert sched.run_due() == ["drain"]  # every 30 s
    timer.now += 270
    assert sched.run_due() == ["fetch", "drain"]  # 300 s = the default 5 minutes
    assert (len(fetch.calls), len(drain.calls)) == (2, 3)
    assert fetch.last_result == "run 2" and fetch.last_error is None
    assert fetch.last_finished_at == ws.clock()
    # a changed setting is seen once the settings are read again; 0 turns a job off
    ws.set_setting("mail_drain_seconds", "0")
    ws.set_setting("mail_fetch_minutes", "1")
    timer.now += 30
    assert sched.run_due() == ["drain"]  # still the old intervals (read 30 s ago)
    timer.now += 70
    assert sched.run_due() == ["fetch"]  # read again (100 s): every minute; drain off
    assert sched.due_in(drain) is None
    status = sched.status()
    assert status["running"] is False
    assert status["jobs"]["fetch"]["every_s"] == 60.0
    assert status["jobs"]["drain"]["every_s"] == 0.0
    assert status["jobs"]["fetch"]["runs"] == 3


def test_a_failing_job_keeps_the_scheduler_alive_with_its_error(ws):
    ws.set_setting("mail_drain_seconds", "5")  # x 0.01 s: every 0.05 s
    flaky = counting("flaky", "mail_drain_seconds", 0.01, fail_first=2)
    steady = counting("steady", "mail_drain_seconds", 0.01)
    sched = Scheduler(ws, [flaky, steady], poll_s=0.01).start()
    try:
        deadline = time.monotonic() + 20
        while len(flaky.calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sched.status()["running"] is True
    finally:
        assert sched.stop(timeout=10)
    assert len(flaky.calls) >= 4 and len(steady.calls) >= 2
    assert flaky.failures == 2
    assert flaky.last_error == "RuntimeError: boom 2"  # the last error is kept...
    assert flaky.last_result == f"run {len(flaky.calls)}"  # ...beside the later success
    assert flaky.last_error_at is not None
    assert steady.failures == 0 and steady.last_error is None
    status = sched.status()
    assert status["running"] is False
    assert status["jobs"]["flaky"]["last_error"] == "RuntimeError: boom 2"


def test_a_job_added_later_runs_by_its_own_setting_and_absent_ones_say_why(ws):
    timer = Timer()
    drain = counting("drain", "mail_drain_seconds")
    sched = Scheduler(ws, [drain], monotonic=timer, settings_every_s=100)
    sched.absent["sync"] = "not configured"
    assert sched.run_due() == ["drain"]
    # added after the intervals were read: its own is read at its first look
    ws.set_setting("sync_minutes", "2")
    sync = sched.add(counting("sync", "sync_minutes", 60))
    assert sched.run_due() == ["sync"]  # at once, the drain not due yet
    assert sched.every_s(sync) == 120.0
    timer.now += 120
    assert sched.run_due() == ["drain", "sync"]
    assert "sync" not in sched.absent  # added: no longer absent
    with pytest.raises(ValueError, match="a background job named 'drain' is already"):
        sched.add(counting("drain", "mail_drain_seconds"))
    other = Scheduler(ws, [], monotonic=timer)
    other.absent["sync"] = "not configured"
    assert other.status() == {"running": False, "jobs": {"sync": {"off": "not configured"}}}


def test_a_job_added_to_a_running_scheduler_gets_its_thread(ws):
    ws.set_setting("mail_drain_seconds", "5")  # x 0.01 s: every 0.05 s
    first = counting("first", "mail_drain_seconds", 0.01)
    sched = Scheduler(ws, [first], poll_s=0.01).start()
    try:
        later = sched.add(counting("later", "mail_drain_seconds", 0.01))
        deadline = time.monotonic() + 20
        while len(later.calls) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        names = {t.name for t in threading.enumerate()}
        assert {"crmbook-first", "crmbook-later"} <= names
    finally:
        assert sched.stop(timeout=10)
    assert len(later.calls) >= 2 and later.last_result == f"run {len(later.calls)}"
    assert not any(t.name == "crmbook-later" for t in threading.enumerate())
    # added while stopped: its thread starts with the others on the next start
    again = Scheduler(ws, [], poll_s=0.01)
    added = again.add(counting("added", "mail_drain_seconds", 0.01))
    assert not any(t.name == "crmbook-added" for t in threading.enumerate())
    again.start()
    try:
        deadline = time.monotonic() + 20
        while not added.calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        assert again.stop(timeout=10)
    assert added.calls


def test_no_mailboxes_and_nothing_queued_cost_one_query_each(ws):
    statements: list[str] = []
    from sqlalchemy import event

    def seen(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith(("SELECT", "UPDATE", "INSERT", "DELETE")):
            statements.append(statement)

    event.listen(ws.engine, "before_cursor_execute", seen)
    try:
        assert fetch_mailboxes(ws) == ("no mailboxes", None)
        assert drain_outbox(ws) == ("nothing queued", None)
    finally:
        event.remove(ws.engine, "before_cursor_execute", seen)
    assert len(statements) == 2, statements


def _fill(server, count: int) -> list[str]:
    mids = []
    with server.client() as c:
        for i in range(count):
            mid = f"<bg-{i}@karachi-traders.example.com>"
            raw = message(
                frm=f"Imran Khan <{IMRAN}>",
                to=OWN,
                subject=f"Order {i}",
                body=f"Please send item {i}.",
                mid=mid,
                date=when(10, 9, i % 60),
            )
            c.append("INBOX", raw)
            mids.append(mid)
    return mids


def test_two_schedulers_fetch_one_mailbox_at_once_storing_each_message_once(crm, backend, clock):
    ws = crm["ws"]
    mids = _fill(crm["server"], 120)
    # two workspaces on one database, as two `crmbook serve` processes have
    other = crm_core.open(backend, clock=clock)
    try:
        schedulers = [Scheduler(ws), Scheduler(other)]
        jobs = [next(j for j in s.jobs if j.name == "mail_fetch") for s in schedulers]
        go = threading.Barrier(2)

        def run(sched: Scheduler, job: Job) -> None:
            go.wait()
            sched.run(job)

        pairs = zip(schedulers, jobs, strict=True)
        threads = [threading.Thread(target=run, args=pair) for pair in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(j.runs == 1 and j.last_error is None for j in jobs), [
            (j.last_result, j.last_error) for j in jobs
        ]
        results = sorted(j.last_result or "" for j in jobs)
        # one fetched them all; the other found the lease taken, or nothing new after
        assert results in (
            ["sales: 0 new of 0", "sales: 120 new of 120"],
            ["sales: 120 new of 120", "sales: fetched by another process"],
        ), results
        with ws.transaction() as s:
            stored = s.scalars(select(EmailMessage.message_id)).all()
            interactions = s.scalar(select(func.count()).select_from(Interaction))
        assert sorted(stored) == sorted(mids)
        assert interactions == 120
        # the next runs find nothing new and store nothing twice
        for sched, job in zip(schedulers, jobs, strict=True):
            sched.run(job)
            assert job.last_result == "sales: 0 new of 0"
        with ws.transaction() as s:
            assert s.scalar(select(func.count()).select_from(EmailMessage)) == 120
    finally:
        other.close()


def test_a_mailbox_error_is_the_jobs_error(crm, monkeypatch):
    ws = crm["ws"]
    monkeypatch.setenv("CRMBOOK_TEST_IMAP_PASSWORD", "wrong")
    sched = Scheduler(ws)
    job = next(j for j in sched.jobs if j.name == "mail_fetch")
    sched.run(job)
    assert job.failures == 1
    assert job.last_error is not None and job.last_error.startswith("sales: ")
    assert "failed" in (job.last_result or "")


def test_the_scheduler_drains_the_outbox_exactly_once(ws, backend, clock, smtpd):
    ws.mail.configure(
        smtp_host=smtpd.host,
        smtp_port=smtpd.port,
        smtp_security="none",
        sender="Ayesha <ayesha@indus.example.com>",
        rate_per_minute=1000,
    )
    people = [ws.contacts.create(name=f"Customer {i}", email=f"c{i}@example.com") for i in range(6)]
    queued = [ws.mail.send(p["id"], "follow_up")["id"] for p in people]
    other = crm_core.open(backend, clock=clock)
    try:
        schedulers = [Scheduler(ws), Scheduler(other)]
        jobs = [next(j for j in s.jobs if j.name == "mail_drain") for s in schedulers]
        go = threading.Barrier(2)

        def run(sched: Scheduler, job: Job) -> None:
            go.wait()
            sched.run(job)

        pairs = zip(schedulers, jobs, strict=True)
        threads = [threading.Thread(target=run, args=pair) for pair in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert all(j.last_error is None for j in jobs), [j.last_error for j in jobs]
        got = sorted(r.rcpt_tos[0] for r in smtpd.received)
        assert got == sorted(p["email"] for p in people)  # each once, none twice
        with ws.transaction() as s:
            states = s.scalars(
                select(OutboxMessage.state).where(OutboxMessage.id.in_(queued))
            ).all()
        assert states == ["sent"] * 6
        schedulers[0].run(jobs[0])
        assert jobs[0].last_result == "nothing queued"
        assert len(smtpd.received) == 6
    finally:
        other.close()


def test_stop_ends_a_drain_waiting_for_the_rate_limit(ws, smtpd):
    ws.mail.configure(
        smtp_host=smtpd.host,
        smtp_port=smtpd.port,
        smtp_security="none",
        sender="Ayesha <ayesha@indus.example.com>",
        rate_per_minute=1,
    )
    for i in range(3):
        contact = ws.contacts.create(name=f"Customer {i}", email=f"c{i}@example.com")
        ws.mail.send(contact["id"], "follow_up")
    sched = Scheduler(ws, poll_s=0.05).start()
    job = next(j for j in sched.jobs if j.name == "mail_drain")
    deadline = time.monotonic() + 20
    while len(smtpd.received) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # now waiting a minute for the rate limit
    started = time.monotonic()
    assert sched.stop(timeout=10)
    assert time.monotonic() - started < 5
    assert len(smtpd.received) == 1
    assert job.last_error == "the server is stopping"
    assert ws.mail.outbox("queued").shape[0] == 2  # the rest still queued, none lost


def test_mailboxes_without_a_kept_password_are_left_alone(ws):
    ws.mail.add_mailbox(
        "asks", address=OWN, host="127.0.0.1", port=1, security="none", login="ayesha"
    )
    assert fetch_mailboxes(ws) == ("no mailboxes", None)
    status = ws.mail.status()
    assert status["last_run_at"].isna().all() and status["last_error"].isna().all()


def test_a_refused_send_is_the_drains_error(ws, smtpd):
    ws.mail.configure(smtp_host=smtpd.host, smtp_port=smtpd.port, smtp_security="none", sender=OWN)
    gone = ws.contacts.create(name="Gone", email="gone@example.com")
    here = ws.contacts.create(name="Here", email="here@example.com")
    smtpd.refuse("gone@example.com")
    refused = ws.mail.send(gone["id"], "follow_up")["id"]
    ws.mail.send(here["id"], "follow_up")
    result, error = drain_outbox(ws)
    assert result == "sent 1, failed 1"
    assert error is not None and error.startswith(
        f"not sent: #{refused}: gone@example.com: 554 5.7.1"
    )
    assert [r.rcpt_tos for r in smtpd.received] == [["here@example.com"]]
