"""Round 6 of testing against Odoo 18: conflicts on a stage (or an owner) are shown by
the stage's (or the user's) name, by ``open_conflicts`` and ``crmbook sync status``,
not by local ids."""

from __future__ import annotations

from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, load_plugins
from erp_bridge.conflicts import open_conflicts
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401

runner = CliRunner()


def test_a_stage_conflict_shows_the_stages_names(tmp_path, odoo):  # noqa: F811
    load_plugins()
    path = tmp_path / "w.sqlite"
    ws = crm_core.open(path)
    odoo.stage["Proposition"] = odoo.add("crm.stage", name="Proposition", sequence=3)
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.move(deal, "Proposition")
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"], probability=30.0)
    run(ws, odoo)
    stage = next(c for c in open_conflicts(ws).to_dict("records") if c["field"] == "stage_id")
    assert (stage["crm"], stage["erp"]) == ("Proposition", "Qualified")
    ws.close()
    result = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    line = next(x for x in result.output.splitlines() if "stage_id" in x)
    assert '"Proposition"' in line and '"Qualified"' in line, line
