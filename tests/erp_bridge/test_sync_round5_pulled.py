"""A deal's stage pulled from Odoo brings Odoo's probability (round 5 of testing
against Odoo 18): crm_core gives a deal moved to another stage that stage's default
probability, which left the two sides apart with nothing to push or pull.

Needs erp_bridge/reconcile.py's Reconciler.merge_pair to take the brought fields
along (``emap.taken_along(to_local, remote, to_remote)``): until then these tests are
expected to fail (strict: they say so once it is done)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


def _counts(report: Any) -> Any:
    return report.to_frame().set_index("model")


def test_a_stage_pulled_from_odoo_brings_odoos_probability(ws, odoo):  # noqa: F811
    odoo.stage["Proposition"] = odoo.add("crm.stage", name="Proposition", sequence=3)
    _, _, lead = seed_partners(odoo)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Proposition"], probability=70.0)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    assert ws.pipeline.get(deal)["probability"] == Decimal("70.00")
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"])  # Odoo keeps 70
    report = run(ws, odoo)
    got = ws.pipeline.get(deal)
    assert (got["stage"], got["probability"]) == ("Qualified", Decimal("70.00"))
    assert _counts(report).loc["opportunity", "pushed_updated"] == 0
    again = run(ws, odoo, full=True)
    assert _counts(again).loc["opportunity", "pushed_updated"] == 0
    assert _counts(again).loc["opportunity", "updated"] == 0
    assert odoo.get("crm.lead", lead)["probability"] == 70.0


def test_a_probability_edited_here_while_odoo_moved_the_stage_is_kept(ws, odoo):  # noqa: F811
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.update(deal, probability=Decimal("45"))
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"])
    run(ws, odoo)
    got = ws.pipeline.get(deal)
    assert (got["stage"], got["probability"]) == ("Qualified", Decimal("45.00"))
    assert odoo.get("crm.lead", lead)["probability"] == 45.0
    quiet = run(ws, odoo)
    assert _counts(quiet).loc["opportunity", "pushed_updated"] == 0
