"""``crmbook sync``: secrets never as arguments, status shows runs and conflicts."""

from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, load_plugins
from erp_bridge import sync
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
