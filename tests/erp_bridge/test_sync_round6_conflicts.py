"""Round 6 of testing against Odoo 18: a field both sides changed while the local value
is one Odoo does not know yet (a stage added here, a user with no Odoo login) is a
conflict like any other: the local value stays, the conflict is listed, and a stage Odoo
lacks is created there first."""

from __future__ import annotations

from decimal import Decimal

from erp_bridge.conflicts import open_conflicts
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


def test_both_moved_the_stage_to_one_odoo_lacks_keeps_it_and_lists_a_conflict(
    ws,
    odoo,  # noqa: F811
):
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.move(deal, "Negotiation")  # not in Odoo yet
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"], probability=30.0)
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    assert ws.pipeline.get(deal)["stage"] == "Negotiation"
    (stage,) = odoo.find("crm.stage", name="Negotiation")
    got = odoo.get("crm.lead", lead)
    assert (got["stage_id"], got["probability"]) == (stage["id"], 80.0)
    conflicts = open_conflicts(ws).to_dict("records")
    # As for a stage Odoo has: the stage and the probability it brings.
    assert sorted((c["field"], c["kept"]) for c in conflicts) == [
        ("probability", "local"),
        ("stage_id", "local"),
    ]
    # Settled: the next run moves nothing either way.
    odoo.tick(10)
    again = run(ws, odoo).to_frame().set_index("model")
    assert again.loc["opportunity", ["updated", "pushed_updated"]].sum() == 0
    assert ws.pipeline.get(deal)["stage"] == "Negotiation"
    assert ws.pipeline.get(deal)["probability"] == Decimal("80.00")


def test_both_changed_the_owner_to_one_odoo_lacks_keeps_it_and_lists_a_conflict(
    ws,
    odoo,  # noqa: F811
):
    _, _, lead = seed_partners(odoo)
    other = odoo.add("res.users", name="Bilal", login="bilal", email="bilal@example.com")
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    olga = ws.users.add("Olga Smirnova", "olga", role="sales")  # no Odoo user
    ws.pipeline.update(deal, owner_id=olga["id"] if isinstance(olga, dict) else olga)
    odoo.tick(10)
    odoo.set("crm.lead", lead, user_id=other)
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    assert ws.pipeline.get(deal)["owner_id"] == ws.users.get("olga")["id"]
    conflicts = open_conflicts(ws).to_dict("records")
    assert [(c["field"], c["kept"]) for c in conflicts] == [("owner_id", "local")]
    # Odoo's salesperson is not blanked (there is no one to put there).
    assert odoo.get("crm.lead", lead)["user_id"] == other
    odoo.tick(10)
    again = run(ws, odoo).to_frame().set_index("model")
    assert again.loc["opportunity", ["updated", "pushed_updated", "conflicts"]].sum() == 0
    assert ws.pipeline.get(deal)["owner_id"] == ws.users.get("olga")["id"]


def test_an_owner_with_no_odoo_user_is_said_once_per_owner(ws, odoo):  # noqa: F811
    run(ws, odoo)
    olga = ws.users.add("Olga Smirnova", "olga", role="sales")
    olga_id = olga["id"] if isinstance(olga, dict) else olga
    company = ws.companies.create(name="Karachi Jute Mills", owner_id=olga_id)["id"]
    for name in ("Jute bags", "Jute rope"):
        ws.pipeline.create(name=name, company_id=company, owner_id=olga_id, currency="PKR")
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    lines = [n for n in str(report).splitlines() if "Olga Smirnova" in n]
    assert len(lines) == 1, str(report)
    assert "no user in the ERP" in lines[0]
    # Said again by a later run that sends such a record, not by one that sends none.
    odoo.tick(10)
    assert "Olga Smirnova" not in str(run(ws, odoo))
