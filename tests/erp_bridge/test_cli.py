"""``crmbook sync``: secrets never as arguments, exit codes that tell a failed run from
one with failed records, status shows runs (killed ones as interrupted), records to
retry and conflicts."""

import datetime as dt
import socket
import time

from sqlalchemy import select
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, load_plugins
from crm_core.models import SyncRun, SyncState
from erp_bridge import runs, sync
from tests.erp_bridge.fake_odoo import FakeOdoo

runner = CliRunner()


def test_sync_refuses_to_run_without_a_secret_and_takes_none_as_argument(tmp_path):
    load_plugins()
    crm_core.open(tmp_path / "w.sqlite").close()
    args = [
        "sync",
        "odoo",
        "-w",
        str(tmp_path / "w.sqlite"),
        "--url",
        "http://127.0.0.1:9",
        "--db",
        "x",
        "--user",
        "admin",
    ]
    result = runner.invoke(app, args, env={"CRMBOOK_ODOO_PASSWORD": ""})
    assert result.exit_code == 1
    assert "CRMBOOK_ODOO_PASSWORD" in result.output
    assert runner.invoke(app, [*args, "--password", "x"]).exit_code == 2  # no such option
    bad = runner.invoke(app, [*args, "--protocol", "soap"], env={"CRMBOOK_ODOO_PASSWORD": "s"})
    assert bad.exit_code == 1 and "protocol must be one of" in bad.output


def test_status_lists_runs_and_open_conflicts(tmp_path):
    load_plugins()
    path = tmp_path / "w.sqlite"
    ws = crm_core.open(path)
    erp = FakeOdoo()
    rid = erp.add("res.partner", name="Karachi Cotton", is_company=True, city="Karachi")
    sync(ws, erp, xmlid_prefix="t", models=["company"])
    company = int(ws.companies.search("karachi")["id"].iloc[0])
    ws.companies.update(company, city="Hyderabad")
    erp.tick(10)
    erp.set("res.partner", rid, city="Sukkur")
    sync(ws, erp, xmlid_prefix="t", models=["company"])
    ws.close()
    result = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "fake:test@localhost" in result.output and "done" in result.output
    assert "1 open conflict(s)" in result.output
    assert '"Hyderabad"' in result.output and '"Sukkur"' in result.output


def _sync_args(path, url="http://127.0.0.1:9"):
    return ["sync", "odoo", "-w", str(path), "--url", url, "--db", "x", "--user", "y"]


def test_an_unreachable_erp_exits_1_is_stored_as_failed_and_moves_no_position(tmp_path):
    """The reproduction from the issue, then the created company reaches the ERP."""
    load_plugins()
    path = tmp_path / "s.sqlite"
    crm_core.open(path).close()
    result = runner.invoke(app, _sync_args(path), env={"CRMBOOK_ODOO_PASSWORD": "x"})
    assert result.exit_code == 1, result.output
    assert "cannot reach http://127.0.0.1:9" in result.output
    status = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "250"})
    assert " failed " in status.output and "cannot reach http://127.0.0.1:9" in status.output
    ws = crm_core.open(path)
    with ws.transaction() as s:
        assert s.scalars(select(SyncState.key)).all() == []  # no position moved
    ws.companies.create(name="Created After The Failure")
    erp = FakeOdoo()
    sync(ws, erp, xmlid_prefix="t", models=["company"])
    assert [r["name"] for r in erp.records["res.partner"].values()] == ["Created After The Failure"]
    ws.close()


def test_a_silent_erp_fails_within_the_timeout(tmp_path):
    """A port that accepts connections and never answers: no retries, no 40 minutes."""
    load_plugins()
    path = tmp_path / "s.sqlite"
    crm_core.open(path).close()
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        started = time.monotonic()
        result = runner.invoke(
            app, [*_sync_args(path, url), "--timeout", "1"], env={"CRMBOOK_ODOO_PASSWORD": "x"}
        )
        took = time.monotonic() - started
    assert result.exit_code == 1
    assert f"no answer from {url} within 1 s" in result.output
    assert took < 5


def test_a_run_with_failed_records_exits_3(tmp_path, monkeypatch):
    import erp_bridge
    from erp_bridge.report import SyncReport

    load_plugins()
    path = tmp_path / "s.sqlite"
    crm_core.open(path).close()
    report = SyncReport("odoo:x@127.0.0.1:9", status="done_with_errors")
    report.model("company").errors.append("local #7: RemoteError: name refused \x1b[2J")
    monkeypatch.setattr(erp_bridge, "sync", lambda *a, **k: report)
    result = runner.invoke(app, _sync_args(path), env={"CRMBOOK_ODOO_PASSWORD": "x"})
    assert result.exit_code == 3
    assert "company: local #7: RemoteError: name refused \\x1b[2J" in result.output
    assert "\x1b[2J" not in result.output  # never a raw control character
    assert "1 record(s) failed" in result.output


def test_status_shows_killed_runs_as_interrupted_and_records_to_retry(tmp_path):
    load_plugins()
    path = tmp_path / "w.sqlite"
    ws = crm_core.open(path)
    erp = FakeOdoo()
    dead = runs.start(ws, "fake:other@localhost")
    with ws.transaction() as s:  # its process died a while ago
        s.get(SyncRun, dead).heartbeat_at = ws.clock() - dt.timedelta(minutes=5)
    ws.companies.create(name="Refused Co")
    erp.refuse["res.partner.name"] = "ValidationError: name refused"
    sync(ws, erp, xmlid_prefix="t", models=["company"])
    ws.close()
    result = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "interrupted" in result.output and "running" not in result.output
    assert "done_with_errors" in result.output
    assert "1 record(s) waiting to be retried" in result.output
    assert "ValidationError: name refused" in result.output
