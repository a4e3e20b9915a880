"""Round 6 of testing against Odoo 18: deals lost and restored.

- A lost deal restored in Odoo (``action_unarchive``: active again, lost reason
  cleared, in its stage) comes back open here in Odoo's stage, not in the local Lost
  stage.
"""

from __future__ import annotations

from decimal import Decimal

from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


def test_a_lost_deal_restored_in_odoo_is_open_here_in_odoos_stage(ws, odoo):  # noqa: F811
    _, _, lead = seed_partners(odoo)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"], probability=30.0)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.lose(deal, "Too expensive")
    assert ws.pipeline.get(deal)["stage"] == "Lost"
    run(ws, odoo)
    assert odoo.get("crm.lead", lead)["active"] is False
    odoo.tick(10)
    # Odoo's restore: active again, no lost reason, its automated probability.
    odoo.set("crm.lead", lead, active=True, lost_reason_id=None, probability=80.11)
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    got = ws.pipeline.get(deal)
    assert (got["status"], got["stage"], got["probability"]) == (
        "open",
        "Qualified",
        Decimal("80.11"),
    )
    assert got["lost_reason"] is None
    odoo.tick(10)
    again = run(ws, odoo).to_frame().set_index("model")
    assert again.loc["opportunity", ["updated", "pushed_updated", "conflicts"]].sum() == 0
    assert odoo.get("crm.lead", lead)["stage_id"] == odoo.stage["Qualified"]


def _remote_of(ws, entity, local_id):
    from sqlalchemy import select

    from crm_core.models import ExternalLink

    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.entity == entity, ExternalLink.local_id == local_id
            )
        ).first()


def test_a_deal_pushed_before_its_customer_gets_it_once_the_customer_is_there(
    ws,
    odoo,  # noqa: F811
):
    run(ws, odoo)
    company = ws.companies.create(name="Karachi Jute Mills", vat="PK-123")["id"]
    deal = ws.pipeline.create(name="Jute bags", company_id=company, currency="PKR")["id"]
    odoo.refuse["res.partner.vat"] = "ValidationError: the VAT number is not valid"
    first = run(ws, odoo)
    assert _remote_of(ws, "company", company) is None  # its push failed
    lead = _remote_of(ws, "opportunity", deal)
    assert odoo.get("crm.lead", lead)["partner_id"] is None
    (note,) = first.models["opportunity"].notes
    assert "Jute bags" in note and "company" in note
    del odoo.refuse["res.partner.vat"]
    odoo.tick(10)
    second = run(ws, odoo)
    assert second.status == "done", second.errors
    partner = _remote_of(ws, "company", company)
    assert partner is not None
    assert odoo.get("crm.lead", lead)["partner_id"] == partner
    assert second.models["opportunity"].notes == []
    odoo.tick(10)
    third = run(ws, odoo).to_frame().set_index("model")
    assert third.loc["opportunity", ["updated", "pushed_updated"]].sum() == 0


def test_a_deal_lost_before_its_first_push_reaches_odoo_in_its_stage(ws, odoo):  # noqa: F811
    (pkr,) = odoo.find("res.currency", name="PKR")
    odoo.add("res.company", name="Indus Holdings", currency_id=pkr["id"])
    run(ws, odoo)
    deal = ws.pipeline.create(name="Jute bags", currency="PKR")["id"]
    ws.pipeline.move(deal, "Qualified")
    ws.pipeline.lose(deal, "Too expensive")
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    lead = odoo.get("crm.lead", _remote_of(ws, "opportunity", deal))
    (reason,) = odoo.find("crm.lost.reason", name="Too expensive")
    assert (lead["active"], lead["lost_reason_id"], lead["stage_id"]) == (
        False,
        reason["id"],
        odoo.stage["Qualified"],
    )
    odoo.tick(10)
    again = run(ws, odoo).to_frame().set_index("model")
    assert again.loc["opportunity", ["updated", "pushed_updated", "conflicts"]].sum() == 0
    got = ws.pipeline.get(deal)
    assert (got["status"], got["stage"]) == ("lost", "Lost")
