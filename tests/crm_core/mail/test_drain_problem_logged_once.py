"""A background job stopped by the settings (crm_core.background): the drain of an outbox
with a message queued, a sender set and no SMTP host logs one line naming what to set,
without a traceback, once rather than on every run; a bug still logs its traceback
every time."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import update

from crm_core.background import PROBLEM_REPEAT_S, Job, Scheduler
from crm_core.models import OutboxMessage

LOGGER = "crm_core.background"


class Timer:
    """An injected monotonic timer the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged(caplog: pytest.LogCaptureFixture, job: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == LOGGER and r.levelno >= logging.WARNING and job in r.getMessage()
    ]


def test_a_missing_smtp_host_is_logged_once_in_a_line(ws, caplog, monkeypatch):
    monkeypatch.delenv("CRMBOOK_SMTP_HOST", raising=False)
    ws.mail.configure(sender="Shop <sales@shop.example>")
    contact = ws.contacts.create(name="Imran Khan", email="imran@indus.example.com")
    ws.mail.send(contact["id"], subject="Prices", text="Our prices")
    timer = Timer()
    sched = Scheduler(ws, monotonic=timer)
    drain = next(j for j in sched.jobs if j.name == "mail_drain")
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    for _ in range(9):  # 4.5 minutes of a drain every 30 s
        sched.run(drain)
        timer.now += 30
    assert (drain.runs, drain.failures) == (9, 9)
    assert drain.last_error is not None and "smtp_host" in drain.last_error
    lines = logged(caplog, "mail_drain")
    assert len(lines) == 1
    assert lines[0].levelno == logging.ERROR and lines[0].exc_info is None
    said = lines[0].getMessage()
    assert "smtp_host" in said and "ws.mail.configure(smtp_host=...)" in said
    assert "Traceback" not in caplog.text
    assert ws.mail.outbox("queued").shape[0] == 1  # nothing lost
    # Still not set an hour later: said again, once.
    timer.now += PROBLEM_REPEAT_S
    sched.run(drain)
    sched.run(drain)
    assert len(logged(caplog, "mail_drain")) == 2
    # A clean run (the message gone) and the problem back: news again.
    with ws.transaction() as session:
        session.execute(update(OutboxMessage).values(state="sent"))
    sched.run(drain)
    assert drain.last_result == "nothing queued"
    ws.mail.send(contact["id"], subject="Prices again", text="Our prices")
    sched.run(drain)
    assert len(logged(caplog, "mail_drain")) == 3


def test_a_bug_still_logs_its_traceback_every_run(ws, caplog):
    def broken(_ws):
        raise RuntimeError("a bug")

    job = Job("broken", broken, "mail_drain_seconds")
    sched = Scheduler(ws, [job], monotonic=Timer())
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    sched.run(job)
    sched.run(job)
    lines = logged(caplog, "broken")
    assert len(lines) == 2 and all(r.exc_info is not None for r in lines)
    assert job.last_error == "RuntimeError: a bug"
