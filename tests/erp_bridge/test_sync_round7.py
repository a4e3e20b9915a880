"""Round 7 of testing against Odoo 18: a new partner is never merged into a contact
whose partner was deleted, nor by a phone that differs by its extension; phones with
an extension are kept as written and marked, never cut; a lead of a second company
arrives in that company's currency; a lead won in Odoo while moved here (the stage
conflict kept here) stays open here."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_core import ValidationError
from crm_core.models import Contact
from erp_bridge.failures import listed
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401

EXT_PHONE = "+1 614-555-0142 ext. 345"
EXT_MOBILE = "(614) 555-0199 x12"


def _us(erp) -> int:
    return erp.add("res.country", code="US", name="United States")


def _contacts(ws) -> list[dict]:
    with ws.transaction() as s:
        return [
            {"id": c.id, "name": c.name, "email": c.email, "active": c.active, "phone": c.phone}
            for c in s.scalars(select(Contact).order_by(Contact.id))
        ]


def test_a_new_partner_is_not_merged_into_a_contact_whose_partner_was_deleted(
    ws,
    odoo,  # noqa: F811
):
    us = _us(odoo)
    bob = odoo.add(
        "res.partner",
        name="Bob Smith",
        is_company=False,
        country_id=us,
        phone="(614) 555-0142",
        email="bob@smith.example",
        category_id=[],
    )
    run(ws, odoo)
    bob_here = local_of(ws, "contact", bob)
    odoo.delete("res.partner", bob)
    odoo.tick(10)
    run(ws, odoo, full=True)
    assert ws.contacts.get(bob_here)["active"] is False
    # A different person, found by Bob's e-mail would be the same one: still not him.
    odoo.tick(10)
    ext = odoo.add(
        "res.partner",
        name="Ext Person",
        is_company=False,
        country_id=us,
        phone="(614) 555-0142",
        email="bob@smith.example",
        category_id=[],
    )
    report = run(ws, odoo)
    contacts = report.to_frame().set_index("model").loc["contact"]
    assert (contacts["matched"], contacts["pushed_updated"], contacts["created"]) == (0, 0, 1)
    new_here = local_of(ws, "contact", ext)
    assert new_here != bob_here
    old = ws.contacts.get(bob_here)
    assert (old["name"], old["active"]) == ("Bob Smith", False)
    assert ws.contacts.get(new_here)["name"] == "Ext Person"


def test_a_phone_with_another_extension_is_no_match_and_is_kept_as_written(
    ws,
    odoo,  # noqa: F811
):
    us = _us(odoo)
    # A local contact (never synced) with Bob's number, no extension.
    local = ws.contacts.create(name="Bob Smith", country="US", phone="(614) 555-0142")["id"]
    odoo.add(
        "res.partner",
        name="Ext Person",
        is_company=False,
        country_id=us,
        phone=EXT_PHONE,
        mobile=EXT_MOBILE,
        category_id=[],
    )
    report = run(ws, odoo)
    contacts = report.to_frame().set_index("model").loc["contact"]
    assert (contacts["matched"], contacts["created"]) == (0, 1)
    assert ws.contacts.get(local)["name"] == "Bob Smith"
    ext = next(c for c in _contacts(ws) if c["name"] == "Ext Person")
    got = ws.contacts.get(ext["id"])
    # Never cut to +16145550142 / +16145550199: kept as Odoo writes them, and marked.
    assert (got["phone"], got["mobile"]) == (EXT_PHONE, EXT_MOBILE)
    issues = ws.quality.issues("contact")
    marked = issues[issues["id"] == ext["id"]].set_index("field")
    assert set(marked.index) >= {"phone", "mobile"}
    assert "extension 345" in marked.loc["phone", "reason"]
    assert "extension 12" in marked.loc["mobile", "reason"]


def test_a_lead_of_a_second_company_is_in_that_companys_currency(
    ws,
    odoo,  # noqa: F811
):
    # Odoo computes a lead's company_currency (its company's; for a lead without a
    # company the user's company's): the fake holds it as Odoo answers it.
    usd = odoo.add("res.currency", name="USD")
    eur = odoo.add("res.currency", name="EUR")
    odoo.add("res.company", name="YourCompany", currency_id=usd)
    euro = odoo.add("res.company", name="Euro Branch SARL", currency_id=eur)

    def lead(name: str, amount: float, **values) -> int:
        return odoo.add(
            "crm.lead",
            name=name,
            type="opportunity",
            stage_id=odoo.stage["New"],
            expected_revenue=amount,
            probability=10.0,
            tag_ids=[],
            **values,
        )

    paris = lead("Paris fit-out", 42000.0, company_id=euro, company_currency=[eur, "EUR"])
    desks = lead("Desks", 1000.0, company_currency=[usd, "USD"])  # no company: the user's
    unknown = lead("No currency", 5.0)
    report = run(ws, odoo)
    deal = ws.pipeline.get(local_of(ws, "opportunity", paris))
    assert (deal["currency"], deal["expected_revenue"]) == ("EUR", Decimal("42000.00"))
    main = ws.pipeline.get(local_of(ws, "opportunity", desks))
    assert (main["currency"], main["expected_revenue"]) == ("USD", Decimal("1000.00"))
    # A lead whose currency cannot be told is not taken in a guessed one: it fails,
    # saying why, and is listed for the next runs.
    assert any(f"#{unknown}" in e and "no currency" in e for e in report.errors), report.errors
    assert f"remote #{unknown}" in set(listed(ws)["record"]), listed(ws)
    # A later run reads a new lead's currency too.
    odoo.tick(10)
    later = lead("Lyon", 7000.0, company_id=euro, company_currency=[eur, "EUR"])
    run(ws, odoo)
    deal = ws.pipeline.get(local_of(ws, "opportunity", later))
    assert (deal["currency"], deal["expected_revenue"]) == ("EUR", Decimal("7000.00"))


def test_a_lead_won_in_odoo_while_moved_here_stays_open_in_the_stage_kept(
    ws,
    odoo,  # noqa: F811
):
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.move(deal, "Qualified")
    odoo.tick(10)
    odoo.set(
        "crm.lead",
        lead,
        stage_id=odoo.stage["Won"],
        probability=100.0,
        date_closed="2026-12-01 10:00:00",
    )
    run(ws, odoo)
    got = ws.pipeline.get(deal)
    assert got["stage"] == "Qualified"
    assert (got["status"], got["closed_at"], got["probability"]) == ("open", None, Decimal("30"))
    pushed = odoo.get("crm.lead", lead)
    assert (pushed["stage_id"], pushed["probability"]) == (odoo.stage["Qualified"], 30.0)
    assert pushed["active"] is True
    odoo.tick(10)
    run(ws, odoo)  # the next run finds both sides agreeing
    again = ws.pipeline.get(deal)
    assert (again["stage"], again["status"], again["probability"]) == (
        "Qualified",
        "open",
        Decimal("30"),
    )


def test_a_lead_lost_in_odoo_while_moved_here_is_reopened_there_in_the_stage_kept(
    ws,
    odoo,  # noqa: F811
):
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.move(deal, "Qualified")
    odoo.tick(10)
    reason = min(odoo.records["crm.lost.reason"])
    odoo.set("crm.lead", lead, active=False, lost_reason_id=reason, probability=0.0)
    run(ws, odoo)
    got = ws.pipeline.get(deal)
    assert (got["stage"], got["status"], got["active"]) == ("Qualified", "open", True)
    there = odoo.get("crm.lead", lead)
    # The stage kept here goes with this side's outcome: the two sides agree.
    assert (there["stage_id"], there["active"]) == (odoo.stage["Qualified"], True)
    odoo.tick(10)
    run(ws, odoo)
    again = ws.pipeline.get(deal)
    assert (again["stage"], again["status"], again["active"]) == ("Qualified", "open", True)


def test_a_typed_phone_with_an_extension_is_refused_naming_it(ws):
    with pytest.raises(ValidationError, match=r"phone.*has the extension 345"):
        ws.contacts.create(name="Typed", country="US", phone=EXT_PHONE)
