"""Reference data added here reaches Odoo, Odoo's inactive users stay inactive, and a
value kept marked is said as such, not as a failure to retry (round 5 findings).

- A stage Odoo lacks (crmbook's Negotiation) is created there (with its sequence) as
  tags are, and the deal moves to it; one Odoo has by name is linked, not duplicated.
- A lost reason entered here is created in Odoo (or found by name) and set on the lead.
- Odoo's inactive users (OdooBot, the default user template) arrive inactive.
- An amount too large to keep is kept marked: the run says so, ends ``done``, exits 0,
  and ``sync status`` lists nothing to retry.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app, load_plugins
from crm_core.models import ExternalLink
from erp_bridge import sync
from erp_bridge.failures import listed
from tests.erp_bridge.fake_odoo import FakeOdoo, seed

BACKEND = "fake:test@localhost"
runner = CliRunner()


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo(), partners=False)


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


def remote_of(ws, entity: str, local_id: int) -> int | None:
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.backend == BACKEND,
                ExternalLink.entity == entity,
                ExternalLink.local_id == local_id,
            )
        ).first()


def a_synced_deal(ws, erp) -> tuple[int, int]:
    """A deal made here and pushed: (local id, remote id)."""
    deal = ws.pipeline.create(name="s2-Bigger order", currency="PKR")
    run(ws, erp)
    rid = remote_of(ws, "opportunity", deal["id"])
    assert rid is not None
    assert erp.get("crm.lead", rid)["stage_id"] == erp.stage["New"]
    return deal["id"], rid


def test_a_stage_odoo_lacks_is_created_there_and_the_deal_moves_to_it(ws, odoo):
    deal, rid = a_synced_deal(ws, odoo)
    odoo.tick(5)
    ws.pipeline.move(deal, "Negotiation")
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    (stage,) = odoo.find("crm.stage", name="Negotiation")
    # crmbook keeps its stages ten steps apart (Negotiation 40): Odoo's step is 4.
    assert (stage["sequence"], bool(stage["is_won"])) == (4, False)
    lead = odoo.get("crm.lead", rid)
    assert (lead["stage_id"], lead["probability"]) == (stage["id"], 80.0)
    # Linked: the next runs neither create it again nor move the deal back.
    odoo.tick(5)
    assert run(ws, odoo).status == "done"
    assert len(odoo.find("crm.stage", name="Negotiation")) == 1
    assert odoo.get("crm.lead", rid)["stage_id"] == stage["id"]
    assert ws.pipeline.get(deal)["stage"] == "Negotiation"


def test_a_stage_odoo_has_by_name_is_linked_not_created_again(ws, odoo):
    deal, rid = a_synced_deal(ws, odoo)
    # Made in Odoo after the stages were read, in another case.
    qualified = odoo.add("crm.stage", name="QUALIFIED", sequence=2, is_won=False)
    ws.pipeline.move(deal, "Qualified")
    run(ws, odoo, models=["opportunity"])  # the stages are not read again first
    assert [
        r["id"] for r in odoo.records["crm.stage"].values() if "ualif" in r["name"].lower()
    ] == [qualified]
    assert odoo.get("crm.lead", rid)["stage_id"] == qualified


def test_a_stage_odoo_refuses_fails_the_deal_listed_with_the_stage_named(ws, odoo):
    deal, rid = a_synced_deal(ws, odoo)
    odoo.tick(5)
    ws.pipeline.move(deal, "Negotiation")
    odoo.refuse["crm.stage.sequence"] = "ValidationError: stages are managed by sales"
    report = run(ws, odoo)
    assert report.status == "done_with_errors"
    (row,) = listed(ws).to_dict("records")
    assert (row["entity"], row["record"]) == ("opportunity", f"local #{deal}")
    assert "stage 'Negotiation'" in row["error"] and "stages are managed" in row["error"]
    # Once Odoo takes it, the retry gets the deal through.
    del odoo.refuse["crm.stage.sequence"]
    odoo.tick(5)
    assert run(ws, odoo).status == "done"
    (stage,) = odoo.find("crm.stage", name="Negotiation")
    assert odoo.get("crm.lead", rid)["stage_id"] == stage["id"]


def test_a_lost_reason_entered_here_reaches_odoo(ws, odoo):
    deal, rid = a_synced_deal(ws, odoo)
    known = odoo.add("crm.lost.reason", name="Too expensive")
    odoo.tick(5)
    ws.pipeline.lose(deal, "s2-too slow")
    assert run(ws, odoo).status == "done"
    (reason,) = odoo.find("crm.lost.reason", name="s2-too slow")
    lead = odoo.get("crm.lead", rid)
    assert (lead["active"], lead["lost_reason_id"]) == (False, reason["id"])
    assert lead["stage_id"] == odoo.stage["New"]  # Odoo has no lost stage: none made
    assert odoo.find("crm.stage", name="Lost") == []
    # A reason Odoo has (by name, any case) is linked, not created again.
    other, other_rid = a_synced_deal(ws, odoo)
    odoo.tick(5)
    ws.pipeline.lose(other, "too EXPENSIVE")
    run(ws, odoo)
    assert odoo.get("crm.lead", other_rid)["lost_reason_id"] == known
    assert len(odoo.find("crm.lost.reason")) == 2


def test_inactive_odoo_users_arrive_inactive(ws, odoo):
    odoo.add("res.users", name="OdooBot", login="__system__", email=False, active=False)
    odoo.add("res.users", name="Default User Template", login="default", email=False, active=False)
    odoo.add("res.users", name="Portal", login="portal", email=False, share=True)
    run(ws, odoo)
    users = ws.users.list().set_index("login")
    assert not users.loc["__system__", "active"]
    assert not users.loc["default", "active"]
    assert bool(users.loc["ayesha", "active"])
    assert "portal" not in users.index


def huge_lead(erp: FakeOdoo) -> int:
    return erp.add(
        "crm.lead",
        name="s2-Huge deal",
        type="opportunity",
        stage_id=erp.stage["New"],
        expected_revenue=12345678901234.0,
        probability=10.0,
        tag_ids=[],
    )


def test_an_amount_kept_marked_is_said_by_the_run_not_a_failure_to_retry(ws, odoo):
    rid = huge_lead(odoo)
    report = run(ws, odoo)
    assert (report.status, report.errors) == ("done", [])
    (line,) = report.kept
    assert line.startswith("opportunity: opportunity #")
    assert "12345678901234" in line and "not validated" in line
    assert "not validated: opportunity" in str(report)
    assert listed(ws).empty
    issues = ws.quality.issues("opportunity")
    assert list(issues["field"]) == ["expected_revenue"]
    assert odoo.get("crm.lead", rid)["expected_revenue"] == 12345678901234.0
    # The next run has nothing new to say.
    odoo.tick(10)
    assert run(ws, odoo).kept == []


def test_the_cli_exits_0_and_says_the_value_is_kept_marked(tmp_path, monkeypatch):
    import erp_bridge

    load_plugins()
    path = tmp_path / "w.sqlite"
    ws = crm_core.open(path)
    ws.pipeline.ensure_default()
    ws.close()
    erp = seed(FakeOdoo(), partners=False)
    huge_lead(erp)
    real = erp_bridge.sync
    # The command's adapter is swapped for the in-memory ERP; the run is the real one.
    monkeypatch.setattr(
        erp_bridge, "sync", lambda ws, _adapter, **kw: real(ws, erp, xmlid_prefix="t", **kw)
    )
    args = ["sync", "odoo", "-w", str(path), "--url", "http://127.0.0.1:9", "--db", "x"]
    result = runner.invoke(app, [*args, "--user", "y"], env={"CRMBOOK_ODOO_PASSWORD": "x"})
    assert result.exit_code == 0, result.output
    assert "record(s) failed" not in result.output
    assert "1 value(s) from the ERP kept marked as not validated" in result.output
    status = runner.invoke(app, ["sync", "status", "-w", str(path)], env={"COLUMNS": "250"})
    assert "0 record(s) waiting to be retried" in status.output, status.output
