"""Nothing lost when the ERP fails: fault injection on the in-memory ERP.

An ERP that cannot be reached, refuses the login, times out or fails in the middle of a
page; one that refuses a single record; a syncing user who loses sight of records; a
run killed in its tracks. After every fault the run is stored as failed (or its records
listed), no cursor passes an unapplied page, nothing is archived that was not deleted,
and once the ERP is back both sides end equal with nothing duplicated.
"""

from __future__ import annotations

import contextlib
import random
import signal
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import func, select

import crm_core
from crm_core.models import Company, Contact, ExternalLink, SyncFailure, SyncRun, SyncState
from erp_bridge import RunBusy, Unavailable, resync_from, runs, sync
from erp_bridge.adapter import RemoteError
from erp_bridge.failures import listed
from tests.erp_bridge.fake_odoo import FakeOdoo, _stamp, seed


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo(), countries=[("PK", "Pakistan"), ("BD", "Bangladesh")], partners=False)


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


def outage(*_: Any) -> None:
    raise Unavailable("res.partner.search_read: cannot reach http://erp:8069: refused")


def after(calls: int, method: str = "changed_since") -> Any:
    """A fault that lets ``calls`` calls of ``method`` through, then takes the ERP down."""
    seen = {"n": 0}

    def fault(_model: str, called: str) -> None:
        if called == method:
            seen["n"] += 1
            if seen["n"] > calls:
                raise Unavailable(f"{called}: no answer from http://erp:8069 within 30 s")

    return fault


def statuses(ws) -> list[str]:
    with ws.transaction() as s:
        return list(s.scalars(select(SyncRun.status).order_by(SyncRun.id)))


def state(ws, key: str) -> str | None:
    with ws.transaction() as s:
        row = s.get(SyncState, ("fake:test@localhost", key))
        return row.value if row else None


def partners_here(ws) -> dict[int, tuple[str, str | None, bool]]:
    """remote id -> (name, city, active) of every linked company and contact."""
    out = {}
    with ws.transaction() as s:
        for model, entity in ((Company, "company"), (Contact, "contact")):
            rows = s.execute(
                select(ExternalLink.remote_id, model.name, model.city, model.active)
                .join(model, model.id == ExternalLink.local_id)
                .where(ExternalLink.entity == entity)
            )
            out.update({int(rid): (name, city, bool(active)) for rid, name, city, active in rows})
    return out


def partners_there(erp: FakeOdoo) -> dict[int, tuple[str, str | None, bool]]:
    return {
        rid: (r["name"], r.get("city") or None, r["active"] is not False)
        for rid, r in erp.records.get("res.partner", {}).items()
    }


def test_an_unreachable_erp_fails_the_run_moves_nothing_and_loses_nothing(ws, odoo):
    odoo.add("res.partner", name="Indus Textiles", is_company=True)
    run(ws, odoo)
    local = ws.companies.create(name="Made While Offline")
    odoo.fault = outage
    with pytest.raises(Unavailable, match="cannot reach"):
        run(ws, odoo)
    assert statuses(ws) == ["done", "failed"]
    with ws.transaction() as s:
        failed = s.scalars(select(SyncRun).order_by(SyncRun.id.desc())).first()
        assert failed.reason == "res.partner.search_read: cannot reach http://erp:8069: refused"
        assert failed.report["status"] == "failed"
    assert state(ws, "push:journal:company") is not None  # from the first run, unmoved:
    odoo.fault = None
    report = run(ws, odoo)
    assert report.status == "done"
    (made,) = odoo.find("res.partner", name="Made While Offline")
    assert made["is_company"] is True
    assert ws.companies.get(local["id"])["name"] == "Made While Offline"


def test_a_first_run_against_an_unreachable_erp_pushes_everything_later(ws, odoo):
    """The reproduction from the issue: a failed run must not move the push position
    past records that never reached the ERP."""
    before = ws.companies.create(name="Created Before Any Sync")
    odoo.fault = outage
    with pytest.raises(Unavailable):
        run(ws, odoo)
    assert state(ws, "push:journal:company") is None
    odoo.fault = None
    ws.companies.create(name="Created After The Failure")
    run(ws, odoo)
    assert {r["name"] for r in odoo.records["res.partner"].values()} == {
        "Created Before Any Sync",
        "Created After The Failure",
    }
    assert ws.companies.get(before["id"])["active"] is True


def test_a_failure_mid_pull_keeps_the_pages_applied_and_the_next_run_takes_the_rest(ws, odoo):
    ids = [odoo.add("res.partner", name=f"Co {i:03d}", is_company=True) for i in range(25)]
    for i, rid in enumerate(ids):
        odoo.records["res.partner"][rid]["_wd"] += i  # a second each
    odoo.fault = after(2)  # two pages of companies, then the ERP goes away
    with pytest.raises(Unavailable, match="no answer"):
        run(ws, odoo, models=["company"], page_size=10)
    assert statuses(ws) == ["failed"]
    applied = partners_here(ws)
    assert len(applied) == 20  # exactly the two pages read
    # The second of the last record read may hold more (unread) records: the saved
    # position is the newest second known complete, the one before it.
    assert state(ws, "pull:company") == _stamp(odoo.get("res.partner", ids[18])["_wd"])
    odoo.fault = None
    odoo.calls.clear()
    report = run(ws, odoo, models=["company"], page_size=10)
    assert report.models["company"].created == 5
    assert partners_here(ws) == partners_there(odoo)


def test_a_killed_first_run_never_moves_the_saved_read_position_back(ws, odoo):
    ids = [odoo.add("res.partner", name=f"Co {i}", is_company=True) for i in range(30)]
    for i, rid in enumerate(ids):
        odoo.records["res.partner"][rid]["_wd"] += i
    run(ws, odoo, models=["company"])
    newest = state(ws, "pull:company")
    odoo.tick(100)
    odoo.set("res.partner", ids[0], city="Sukkur")  # newer than everything else
    odoo.fault = after(0, "search_read")  # dies re-checking the rewind window
    with pytest.raises(Unavailable):
        run(ws, odoo, models=["company"])
    assert state(ws, "pull:company") == newest
    odoo.fault = None
    run(ws, odoo, models=["company"])
    assert state(ws, "pull:company") > newest
    assert partners_here(ws)[ids[0]][1] == "Sukkur"


def test_a_record_the_erp_refuses_is_listed_retried_and_cleared(ws, odoo):
    run(ws, odoo, models=["company"])
    refused = ws.companies.create(name="Refused Remotely")
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    report = run(ws, odoo, models=["company"])
    assert report.status == "done_with_errors"
    assert statuses(ws)[-1] == "done_with_errors"
    waiting = listed(ws)
    assert waiting[["entity", "direction", "record", "attempts"]].values.tolist() == [
        ["company", "push", f"local #{refused['id']}", 1]
    ]
    assert "name refused" in waiting["error"].iloc[0]
    run(ws, odoo, models=["company"])  # still refused: one more attempt, not a new row
    assert listed(ws)["attempts"].tolist() == [2]
    odoo.refuse.clear()
    report = run(ws, odoo, models=["company"])
    assert report.status == "done" and report.models["company"].pushed_created == 1
    assert listed(ws).empty
    assert len(odoo.find("res.partner", name="Refused Remotely")) == 1


def test_a_record_that_fails_to_pull_is_read_again_by_later_runs(ws, odoo, monkeypatch):
    from erp_bridge.reconcile import Reconciler

    good = odoo.add("res.partner", name="Good Co", is_company=True)
    bad = odoo.add("res.partner", name="Bad Co", is_company=True)
    real = Reconciler.pull_many

    def failing(self, s, emap, records, rep):
        if any(r["id"] == bad for r in records):
            raise RuntimeError("disk full")
        return real(self, s, emap, records, rep)

    monkeypatch.setattr(Reconciler, "pull_many", failing)
    real_new = Reconciler.pull_new

    def failing_new(self, s, emap, record, rep):
        if record["id"] == bad:
            raise RuntimeError("disk full")
        return real_new(self, s, emap, record, rep)

    monkeypatch.setattr(Reconciler, "pull_new", failing_new)
    report = run(ws, odoo, models=["company"])
    assert report.status == "done_with_errors"
    assert report.models["company"].created == 1
    assert listed(ws)[["direction", "record"]].values.tolist() == [["pull", f"remote #{bad}"]]
    odoo.tick(1000)  # the cursor is long past the bad record: only the list brings it back
    monkeypatch.undo()
    report = run(ws, odoo, models=["company"])
    assert report.status == "done" and report.models["company"].created == 1
    assert listed(ws).empty
    assert set(partners_here(ws)) == {good, bad}


def test_records_hidden_from_the_syncing_user_are_never_archived_nor_duplicated(ws, odoo):
    mine = odoo.add("res.partner", name="Mine Co", is_company=True)
    theirs = odoo.add("res.partner", name="Reassigned Co", is_company=True)
    gone = odoo.add("res.partner", name="Deleted Co", is_company=True)
    run(ws, odoo)
    odoo.hidden["res.partner"] = {theirs}  # reassigned to someone this user may not see
    odoo.delete("res.partner", gone)
    report = run(ws, odoo, full=True)
    here = partners_here(ws)
    assert here[theirs] == ("Reassigned Co", None, True)  # not archived, still linked
    assert report.models["company"].archived == 1  # only the deleted one
    assert here[mine][2] is True and gone not in here
    assert report.models["company"].hidden == 1
    assert any("1 linked record(s) are not visible" in n for n in report.notes)
    # A local change to the hidden record waits, listed, instead of archiving it.
    company = ws.companies.search("reassigned")["id"].iloc[0]
    ws.companies.update(int(company), city="Larkana")
    report = run(ws, odoo)
    assert report.status == "done_with_errors"
    assert "not visible to the ERP user" in listed(ws)["error"].iloc[0]
    assert ws.companies.get(int(company))["active"] is True
    # Visible again: the same record, linked once, the waiting change pushed.
    odoo.hidden.clear()
    report = run(ws, odoo, full=True)
    assert report.status == "done"
    assert odoo.get("res.partner", theirs)["city"] == "Larkana"
    with ws.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Company)) == 3  # no second copy
        assert s.scalar(select(func.count()).select_from(SyncFailure)) == 0


def test_a_killed_run_shows_as_interrupted_and_the_next_run_goes_on(ws, odoo, clock):
    odoo.add("res.partner", name="Indus", is_company=True)
    dead = runs.start(ws, odoo.backend)  # a run whose process was then SIGKILLed
    with pytest.raises(RunBusy, match=f"run #{dead}"):
        run(ws, odoo)  # it still beats, as far as anyone can tell
    clock.advance(seconds=runs.STALE + 1)
    with ws.transaction() as s:
        assert runs.shown_status(s.get(SyncRun, dead), clock()) == "interrupted"
    report = run(ws, odoo)
    assert report.status == "done"
    assert statuses(ws) == ["interrupted", "done"]
    with ws.transaction() as s:
        assert "killed" in s.get(SyncRun, dead).reason


def read_in_full(erp: FakeOdoo) -> list[int]:
    """The partner ids the ERP sends whole (not just id and date) from now on."""
    read: list[int] = []
    real = erp._out

    def counting(model: str, rec: dict[str, Any], fields: Any) -> dict[str, Any]:
        if model == "res.partner" and "name" in fields:
            read.append(rec["id"])
        return real(model, rec, fields)

    erp._out = counting  # type: ignore[method-assign]
    return read


def test_a_run_whose_process_was_sigkilled_is_interrupted_at_once(backend, odoo):
    """A real SIGKILL: the child stores its running run and kills itself. No minute
    to wait: this machine can tell its process is gone."""
    child = (
        "import os, signal, crm_core\n"
        "from erp_bridge import runs\n"
        f"ws = crm_core.open({backend!r})\n"
        "ws.pipeline.ensure_default()\n"
        f"runs.start(ws, {odoo.backend!r})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", child], check=False, timeout=120)
    assert done.returncode == -signal.SIGKILL
    ws = crm_core.open(backend)
    try:
        with ws.transaction() as s:
            (killed,) = s.scalars(select(SyncRun)).all()
            assert runs.shown_status(killed, ws.clock()) == "interrupted"
        report = run(ws, odoo)
        assert report.status == "done", report.errors
        assert statuses(ws) == ["interrupted", "done"]
    finally:
        ws.close()


def test_a_quiet_run_reads_nothing_it_has_applied(ws, odoo):
    ids = [odoo.add("res.partner", name=f"Bulk {i}", is_company=True) for i in range(300)]
    odoo.tick(5)
    run(ws, odoo, models=["company"])
    odoo.tick(400)  # past the rewind window
    read = read_in_full(odoo)
    odoo.calls.clear()
    report = run(ws, odoo, models=["company"])
    assert report.models["company"].skipped + report.models["company"].updated == 0
    # one light re-check of the window the first run left open, nothing read in full
    assert read == [] and odoo.calls.count(("res.partner", "search_read")) == 1
    odoo.calls.clear()
    run(ws, odoo, models=["company"])
    assert read == [] and odoo.calls.count(("res.partner", "search_read")) == 0
    assert len(partners_here(ws)) == len(ids)


def test_right_after_a_bulk_import_an_incremental_run_reads_only_what_changed(ws, odoo):
    ids = [odoo.add("res.partner", name=f"Bulk {i}", is_company=True) for i in range(2000)]
    odoo.tick(3)
    run(ws, odoo, models=["company"])  # the first pull, within seconds of the import
    if ws.engine.dialect.name == "sqlite":  # the planner was told about the new rows
        with ws.engine.connect() as conn:
            stats = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_stat1 WHERE tbl = 'companies'"
            )
            assert stats.scalar() > 0
    odoo.tick(5)
    for rid in ids[:100]:
        odoo.set("res.partner", rid, city="Lahore")
    read = read_in_full(odoo)
    report = run(ws, odoo, models=["company"])
    assert report.models["company"].updated == 100
    assert sorted(read) == sorted(ids[:100])  # the import is re-checked by id and date only


def test_two_changes_in_one_second_around_a_run_are_both_pulled(ws, odoo):
    """``write_date`` has whole seconds: a change read in the same second as another
    one is not taken as applied until it has settled, so the later one is not lost
    although both carry the same ``write_date``."""
    rid = odoo.add("res.partner", name="Indus", is_company=True, city="Karachi")
    odoo.tick(10)
    run(ws, odoo, models=["company"])
    odoo.tick(10)
    odoo.set("res.partner", rid, city="Lahore")
    run(ws, odoo, models=["company"])  # reads Lahore in the second it was written
    odoo.tick(0.4)
    odoo.set("res.partner", rid, city="Sukkur")  # the same second, a moment later
    odoo.tick(30)
    run(ws, odoo, models=["company"])
    assert partners_here(ws)[rid][1] == "Sukkur"
    odoo.tick(400)
    read = read_in_full(odoo)
    run(ws, odoo, models=["company"])
    run(ws, odoo, models=["company"])
    assert read == []  # settled now: nothing read again


def test_copies_are_not_copied_again_when_unchanged(ws, odoo):
    odoo.add("product.product", name="Cotton", default_code="C1", list_price=10.0, currency_id=1)
    odoo.tick(5)
    first = run(ws, odoo, models=["product"])
    assert first.models["product"].created == 1
    odoo.tick(400)
    again = run(ws, odoo, models=["product"])
    assert again.models["product"].created + again.models["product"].updated == 0


def test_resync_from_a_date_reads_again_what_changed_since(ws, odoo):
    rid = odoo.add("res.partner", name="Indus", is_company=True, city="Karachi")
    run(ws, odoo, models=["company"])
    company = int(ws.companies.search("indus")["id"].iloc[0])
    # A change the link believes applied but the record does not hold (a lost write):
    with ws.transaction() as s:
        s.get(Company, company).city = "Wrong"
    odoo.tick(1000)
    import datetime as dt

    resync_from(ws, odoo.backend, dt.date(1970, 1, 1), ["company"])
    report = run(ws, odoo, models=["company"])
    assert report.status == "done"
    assert rid in partners_here(ws)
    with pytest.raises(ValueError, match="unknown models: nope"):
        resync_from(ws, odoo.backend, dt.date(2026, 1, 1), ["nope"])


@pytest.mark.parametrize("seed", range(6))
def test_random_faults_never_lose_duplicate_or_wrongly_archive(ws, odoo, seed):
    """Edits on both sides and an ERP failing at random calls, run after run; once it
    is back, both sides hold the same partners, once each, archived only if deleted."""
    rng = random.Random(seed)
    for i in range(12):
        odoo.add("res.partner", name=f"Remote {i}", is_company=True, city="Karachi")
    deleted: set[int] = set()
    for _round in range(6):
        odoo.tick(rng.choice([1, 2, 400]))
        for _ in range(rng.randint(0, 4)):
            choice = rng.random()
            alive = [r for r in odoo.records["res.partner"] if r not in deleted]
            if choice < 0.4 and alive:
                odoo.set("res.partner", rng.choice(alive), city=f"City {rng.random():.6f}")
            elif choice < 0.6:
                odoo.add("res.partner", name=f"Remote new {rng.random():.6f}", is_company=True)
            elif choice < 0.75 and alive:
                victim = rng.choice(alive)
                odoo.delete("res.partner", victim)
                deleted.add(victim)
            else:
                ws.companies.create(name=f"Local {rng.random():.6f}", city="Dhaka")
        calls = {"n": 0, "limit": rng.randint(1, 12)}

        def flaky(_model: str, _method: str, calls: dict = calls) -> None:
            calls["n"] += 1
            if calls["n"] >= calls["limit"]:
                raise Unavailable("no answer from http://erp:8069 within 30 s")

        odoo.fault = flaky if rng.random() < 0.7 else None
        with contextlib.suppress(Unavailable, RemoteError):
            run(ws, odoo, full=rng.random() < 0.3, page_size=3)
    odoo.fault = None
    odoo.tick(1)
    report = run(ws, odoo, full=True, page_size=3)
    assert report.status == "done", report.errors
    here, there = partners_here(ws), partners_there(odoo)
    assert here == there  # equal, each linked once
    with ws.transaction() as s:
        archived = s.scalar(select(func.count()).select_from(Company).where(~Company.active))
        total = s.scalar(select(func.count()).select_from(Company))
    # every local company is either linked to a live ERP partner or archived because
    # its partner was deleted; none is archived that still exists there
    assert total - archived == len(there)
    assert all(active for *_, active in here.values())


def test_a_sales_user_may_not_run_a_sync(ws, odoo):
    ws.users.add("Bilal", "bilal", role="sales")
    with pytest.raises(crm_core.AccessDenied, match="bilal"):
        sync(ws.as_user("bilal"), odoo)
    assert statuses(ws) == []
