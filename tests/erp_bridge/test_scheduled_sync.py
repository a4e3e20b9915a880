"""The sync as a server's background job (erp_bridge.scheduled) against the in-memory
ERP (tests/erp_bridge/fake_odoo.py): it syncs on its own every ``sync_minutes``; two
servers on one database never sync at once (the second records that it skipped) nor
create anything twice; an unreachable ERP is an error recorded on the job, and the next
run goes on; ``sync_minutes`` 0 turns it off; without an ERP the job is absent."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from sqlalchemy import select

import crm_core
from crm_core.background import Job, Scheduler
from crm_core.errors import ValidationError
from crm_core.models import Company, Contact, ExternalLink, SyncRun
from erp_bridge import Unavailable
from erp_bridge.scheduled import (
    JOB,
    NOT_CONFIGURED,
    SKIPPED,
    run_sync,
    schedule_sync,
    summary,
)
from tests.erp_bridge.fake_odoo import FakeOdoo, seed

DONE = re.compile(
    r"run #(\d+) (done|done with errors): (\d+) created, (\d+) updated, (\d+) archived, "
    r"(\d+) pushed, (\d+) conflicts in \d+\.\d s"
)
#: The first call of a workspace's first run: the database's identity (erp_bridge.backends).
REFUSED = "ir.config_parameter.search_read: cannot reach http://erp:8069: connection refused"


class Timer:
    """An injected monotonic timer the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo())


def outage(model: str, method: str) -> None:
    raise Unavailable(f"{model}.{method}: cannot reach http://erp:8069: connection refused")


def stored_runs(ws) -> list[tuple[str, str | None, dict[str, Any]]]:
    with ws.transaction() as s:
        rows = s.execute(
            select(SyncRun.status, SyncRun.reason, SyncRun.report).order_by(SyncRun.id)
        )
        return [(status, reason, report or {}) for status, reason, report in rows]


def created_in(report: dict[str, Any]) -> int:
    return sum(m["created"] for m in report["models"].values())


def partners_here(ws) -> list[str]:
    with ws.transaction() as s:
        names = [*s.scalars(select(Company.name)), *s.scalars(select(Contact.name))]
    return sorted(names)


def links(ws) -> tuple[int, int]:
    """(links, distinct remote partners linked): equal when nothing is linked twice."""
    with ws.transaction() as s:
        rows = s.execute(select(ExternalLink.entity, ExternalLink.remote_id)).all()
    return len(rows), len(set(rows))


def wait(until, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_setting_is_validated_and_defaults_to_15_minutes(ws):
    assert ws.setting("sync_minutes") == "15"
    ws.set_setting("sync_minutes", "60")
    ws.set_setting("sync_minutes", "0")
    assert ws.setting("sync_minutes") == "0"
    for bad, why in [
        ("0.01", "at least 0.05"),
        ("-5", "at least 0"),
        ("often", "not a number"),
        ("2000", "at most 1440"),
        ("", "is required"),
    ]:
        with pytest.raises(ValidationError, match=why) as caught:
            ws.set_setting("sync_minutes", bad)
        assert caught.value.errors[0].field == "sync_minutes"
    assert ws.setting("sync_minutes") == "0"  # unchanged by the refusals


def test_the_job_syncs_on_its_own_every_sync_minutes(ws, odoo):
    ws.set_setting("sync_minutes", "0.05")  # every 3 seconds
    sched = Scheduler(ws, [], poll_s=0.05)
    job = schedule_sync(sched, lambda: odoo)
    assert job is not None and sched.jobs == [job] and job.name == JOB == "sync"
    sched.start()
    try:
        wait(lambda: job.runs >= 1 and not job.running)
        assert job.last_error is None, job.last_error
        first = DONE.fullmatch(job.last_result or "")
        assert first is not None, job.last_result
        ((_, _, report),) = stored_runs(ws)
        # the counts are the stored run's report: what it created, nothing else
        assert first.groups()[:3] == ("1", "done", str(created_in(report)))
        assert first.groups()[3:] == ("0", "0", "0", "0")
        assert partners_here(ws) == ["Indus Textiles", "عمران خان"]
        # between two runs, both sides change: the next run takes both across
        odoo.tick(10)
        odoo.add("res.partner", name="Sindh Cotton", is_company=True, category_id=[])
        ws.companies.create(name="Karachi Looms")
        wait(lambda: job.runs >= 2 and not job.running)
        status = sched.status()["jobs"][JOB]
    finally:
        assert sched.stop(timeout=30)
    assert job.last_error is None and job.failures == 0
    second = DONE.fullmatch(job.last_result or "")
    assert second is not None, job.last_result
    assert second.groups() == ("2", "done", "1", "0", "0", "1", "0")
    assert partners_here(ws) == ["Indus Textiles", "Karachi Looms", "Sindh Cotton", "عمران خان"]
    assert [r["name"] for r in odoo.find("res.partner", name="Karachi Looms")] == ["Karachi Looms"]
    assert status["every_s"] == 3.0 and status["runs"] >= 2
    assert status["last_result"].startswith("run #") and status["last_started_at"] is not None
    assert [s for s, _, _ in stored_runs(ws)][:2] == ["done", "done"]


def test_two_servers_at_once_one_syncs_the_other_skips(ws, backend, clock, odoo):
    other = crm_core.open(backend, clock=clock)  # a second process's workspace
    try:
        entered, release = threading.Event(), threading.Event()

        def hold(model: str, method: str) -> None:  # the first run waits in the ERP
            if method == "context_get" and not entered.is_set():
                entered.set()
                assert release.wait(60)

        odoo.fault = hold
        first, second = Scheduler(ws, []), Scheduler(other, [])
        one, two = schedule_sync(first, lambda: odoo), schedule_sync(second, lambda: odoo)
        running = threading.Thread(target=first.run, args=(one,))
        running.start()
        try:
            assert entered.wait(60)
            second.run(two)  # while the first one syncs
        finally:
            release.set()
            running.join(60)
        assert (two.last_result, two.last_error, two.failures) == (SKIPPED, None, 0)
        assert second.status()["jobs"][JOB]["last_result"] == "skipped: another process is syncing"
        assert one.last_error is None and DONE.fullmatch(one.last_result or "")
        assert [s for s, _, _ in stored_runs(ws)] == ["done"]  # the skipped one stored none
        # the next turns, one after the other: nothing new, nothing twice
        second.run(two)
        first.run(one)
        # (PostgreSQL's sequence gave the refused run's number away: ids may skip one)
        for job in (two, one):
            again = DONE.fullmatch(job.last_result or "")
            assert again is not None and again.groups()[1:] == ("done", *"00000"), job.last_result
        assert partners_here(ws) == ["Indus Textiles", "عمران خان"]
        total, remote = links(ws)
        assert total == remote
    finally:
        other.close()


def test_two_servers_racing_never_sync_twice_at_once_nor_duplicate(ws, backend, clock, odoo):
    other = crm_core.open(backend, clock=clock)
    try:
        schedulers = [Scheduler(ws, []), Scheduler(other, [])]
        jobs = [schedule_sync(s, lambda: odoo) for s in schedulers]
        for round_ in range(3):
            odoo.tick(10)
            odoo.add("res.partner", name=f"Partner {round_}", is_company=True, category_id=[])
            go = threading.Barrier(2)

            def turn(sched: Scheduler, job: Job, go: threading.Barrier = go) -> None:
                go.wait()
                sched.run(job)

            threads = [
                threading.Thread(target=turn, args=pair)
                for pair in zip(schedulers, jobs, strict=True)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            results = [j.last_result or "" for j in jobs]
            assert all(j.last_error is None for j in jobs), [j.last_error for j in jobs]
            # both ran (one after the other) or one ran and the other skipped
            assert all(r == SKIPPED or DONE.fullmatch(r) for r in results), results
            assert any(DONE.fullmatch(r) for r in results), results
        assert partners_here(ws) == [
            "Indus Textiles",
            "Partner 0",
            "Partner 1",
            "Partner 2",
            "عمران خان",
        ]
        total, remote = links(ws)
        assert total == remote
        assert {s for s, _, _ in stored_runs(ws)} == {"done"}
    finally:
        other.close()


def test_an_unreachable_erp_is_an_error_on_the_job_and_the_next_run_tries_again(ws, odoo):
    ws.set_setting("sync_minutes", "1")
    timer = Timer()
    sched = Scheduler(ws, [], monotonic=timer)
    job = schedule_sync(sched, lambda: odoo)
    odoo.fault = outage
    assert sched.run_due() == ["sync"]  # at once on start
    assert (job.last_result, job.last_error) == ("run #1 failed", REFUSED)
    assert (job.runs, job.failures) == (1, 1) and job.last_error_at == ws.clock()
    assert stored_runs(ws)[-1][:2] == ("failed", REFUSED)  # the run report's failure
    timer.now += 59
    assert sched.run_due() == []
    timer.now += 1
    assert sched.run_due() == ["sync"]  # a minute on: tried again, still down
    assert (job.last_result, job.runs, job.failures) == ("run #2 failed", 2, 2)
    odoo.fault = None  # the ERP is back
    timer.now += 60
    assert sched.run_due() == ["sync"]
    assert job.last_result.startswith("run #3 done: ") and job.failures == 2
    assert job.last_error == REFUSED  # the last error is kept beside the later success
    assert partners_here(ws) == ["Indus Textiles", "عمران خان"]
    assert [s for s, _, _ in stored_runs(ws)] == ["failed", "failed", "done"]
    shown = sched.status()["jobs"]["sync"]
    assert (shown["runs"], shown["failures"], shown["last_error"]) == (3, 2, REFUSED)


def test_sync_minutes_0_turns_the_job_off(ws, odoo):
    ws.set_setting("sync_minutes", "0")
    timer = Timer()
    sched = Scheduler(ws, [], monotonic=timer)
    job = schedule_sync(sched, lambda: odoo)
    assert sched.run_due() == []
    timer.now += 86_400
    assert sched.run_due() == [] and sched.due_in(job) is None
    assert job.runs == 0 and stored_runs(ws) == [] and odoo.calls == []
    assert sched.status()["jobs"]["sync"]["every_s"] == 0.0
    # started, its thread sleeps: no run
    sched.start()
    try:
        time.sleep(0.5)
    finally:
        assert sched.stop(timeout=10)
    assert job.runs == 0 and odoo.calls == []


def test_without_an_erp_the_job_is_absent_and_said_not_configured(ws):
    sched = Scheduler(ws, [])
    assert schedule_sync(sched, lambda: None) is None
    assert sched.jobs == [] and sched.run_due() == []
    assert sched.status() == {"running": False, "jobs": {"sync": {"off": NOT_CONFIGURED}}}
    assert NOT_CONFIGURED == "not configured"


def test_a_connection_that_cannot_be_made_is_an_error_on_each_run(ws, odoo):
    made: list[int] = []

    def factory() -> FakeOdoo:
        made.append(1)
        if len(made) <= 2:
            raise ValueError("not a server address: 'erp example com' (use http://host:8069)")
        return odoo

    timer = Timer()
    sched = Scheduler(ws, [], monotonic=timer)
    job = schedule_sync(sched, factory)  # the first try, at registration, failed
    assert job is not None
    assert sched.run_due() == ["sync"]
    assert job.last_result is None and job.last_error == (
        "ValueError: not a server address: 'erp example com' (use http://host:8069)"
    )
    timer.now += 900  # the default 15 minutes
    assert sched.run_due() == ["sync"]
    assert job.last_result.startswith("run #1 done: ") and len(made) == 3


def test_records_that_fail_are_the_error_beside_the_counts(ws, odoo):
    sched = Scheduler(ws, [], monotonic=Timer())
    job = schedule_sync(sched, lambda: odoo)
    sched.run_due()
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    refused = ws.companies.create(name="Refused Remotely")
    sched.run(job)
    match = DONE.fullmatch(job.last_result or "")
    assert match is not None and match.group(2) == "done with errors", job.last_result
    assert job.last_error == (
        "1 record(s) not synced (tried again by the next run; `crmbook sync status` lists "
        f"them): company: local #{refused['id']}: RemoteError: ValidationError: name refused"
    )
    assert job.failures == 1 and stored_runs(ws)[-1][0] == "done_with_errors"
    odoo.refuse.clear()  # the next run gets it through, and says nothing went wrong
    sched.run(job)
    assert job.last_result.startswith("run #3 done: 0 created, 0 updated, 0 archived, 1 pushed")
    assert len(odoo.find("res.partner", name="Refused Remotely")) == 1


def test_summary_and_skip_from_run_sync_directly(ws, odoo):
    result, error = run_sync(ws, odoo)
    assert error is None and DONE.fullmatch(result)
    ((status, _, stored),) = stored_runs(ws)
    assert status == "done" and result.startswith(f"run #1 done: {created_in(stored)} created")
    from erp_bridge.report import SyncReport

    empty = SyncReport("x")
    empty.status = "done"
    assert (
        summary(empty)
        == "run done: 0 created, 0 updated, 0 archived, 0 pushed, 0 conflicts in 0.0 s"
    )


def test_a_stopping_server_ends_the_run_between_two_pages(ws, odoo):
    sched = Scheduler(ws, [], monotonic=Timer())
    job = schedule_sync(sched, lambda: odoo)

    def stop_midway(model: str, method: str) -> None:
        if model == "res.partner" and not sched.stopping:
            sched.stop(timeout=0)  # Ctrl+C on the server while the run reads

    odoo.fault = stop_midway
    sched.run(job)
    assert (job.last_result, job.last_error) == (None, "the server is stopping")
    assert stored_runs(ws)[-1][:2] == ("failed", "the server is stopping")
    # the server's next start goes on where it stopped, creating nothing twice
    odoo.fault = None
    again = Scheduler(ws, [], monotonic=Timer())
    assert again.run_due() == [] and schedule_sync(again, lambda: odoo) is not None
    assert again.run_due() == ["sync"]
    assert DONE.fullmatch(again.jobs[0].last_result or ""), again.jobs[0].last_result
    assert partners_here(ws) == ["Indus Textiles", "عمران خان"]


@pytest.mark.postgres
def test_two_server_processes_on_postgresql_one_syncs_the_other_skips(pg_url, tmp_path):
    """Two processes (as two `crmbook serve`) on one PostgreSQL and one ERP: while one
    syncs, the other's turn is skipped (its run refused by the database, the running
    one not taken for dead: its process is alive); nothing is created twice."""
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import _reset_pg
    from tests.erp_bridge.shared_erp import ErpManager

    _reset_pg(pg_url)
    with crm_core.open(pg_url) as ws:
        ws.pipeline.ensure_default()
    key = os.urandom(16)
    manager = ErpManager(address=("127.0.0.1", 0), authkey=key)
    manager.start()
    try:
        host, port = manager.address
        erp = manager.erp()
        erp.hold_next_clock()

        def server() -> subprocess.Popen:
            return subprocess.Popen(
                [
                    *(sys.executable, "-m", "tests.erp_bridge.shared_erp"),
                    *(pg_url, f"{host}:{port}", key.hex()),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )

        def said(process: subprocess.Popen) -> dict[str, Any]:
            out, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
            return json.loads(out.strip().splitlines()[-1])

        first = server()
        try:
            assert erp.wait_held(60)  # the first one is syncing, held in the ERP
            second = said(server())
        finally:
            erp.release()
        assert second == {"last_result": SKIPPED, "last_error": None, "runs": 1, "failures": 0}
        one = said(first)
        assert one["last_error"] is None and DONE.fullmatch(one["last_result"]), one
        # the next turn, by the other process: nothing new, nothing twice
        again = said(server())
        match = DONE.fullmatch(again["last_result"] or "")
        assert match is not None and match.groups()[1:] == ("done", *"00000"), again
        with crm_core.open(pg_url) as ws:
            assert partners_here(ws) == ["Indus Textiles", "عمران خان"]
            total, remote = links(ws)
            assert total == remote
            assert [s for s, _, _ in stored_runs(ws)] == ["done", "done"]
        assert erp.partner_names() == ["Indus Textiles", "عمران خان"]
    finally:
        manager.shutdown()
