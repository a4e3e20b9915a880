"""A lead without a partner keeps its prospect's details: Odoo's contact name, company
name, e-mail and phone show in the deal's description under a heading, are never sent
back into Odoo's notes, and no partner is created in Odoo for them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core.models import ExternalLink
from erp_bridge import sync
from erp_bridge.odoo.mappings import PROSPECT
from tests.erp_bridge.fake_odoo import FakeOdoo, seed

DETAILS = [
    "Contact: John Miller",
    "Company: The Kompany",
    "E-mail: contact@thekompany.example.com",
    "Phone: +1 555 754 3010",
]


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo())


def run(ws, erp):
    return sync(ws, erp, xmlid_prefix="crmbook_test")


def prospect(erp: FakeOdoo, **values) -> int:
    return erp.add(
        "crm.lead",
        name="Pricing for 25 desks",
        type="opportunity",
        stage_id=erp.stage["New"],
        expected_revenue=12000.0,
        probability=10.0,
        tag_ids=[],
        contact_name="John Miller",
        partner_name="The Kompany",
        email_from="contact@thekompany.example.com",
        phone="+1 555 754 3010",
        **values,
    )


def deal(ws, remote_id: int) -> dict:
    with ws.transaction() as s:
        local = s.scalars(
            select(ExternalLink.local_id).where(
                ExternalLink.entity == "opportunity", ExternalLink.remote_id == remote_id
            )
        ).one()
    return ws.pipeline.get(local)


def test_a_prospects_details_show_on_the_deal_and_stay_odoos(ws, odoo):
    rid = prospect(odoo, description="<p>Wants a quote by Friday</p>")
    partners = len(odoo.records["res.partner"])
    run(ws, odoo)
    assert deal(ws, rid)["description"].splitlines() == [
        "Wants a quote by Friday",
        "",
        PROSPECT,
        *DETAILS,
    ]
    assert deal(ws, rid)["company_id"] is None and deal(ws, rid)["contact_id"] is None
    # Notes edited here go to Odoo's notes alone; the details stay Odoo's fields.
    text = deal(ws, rid)["description"].replace("by Friday", "by Monday")
    ws.pipeline.update(deal(ws, rid)["id"], description=text)
    run(ws, odoo)
    lead = odoo.get("crm.lead", rid)
    assert lead["description"] == "<p>Wants a quote by Monday</p>"
    assert lead["contact_name"] == "John Miller"
    assert len(odoo.records["res.partner"]) == partners  # no partner made behind the back
    odoo.tick(10)
    odoo.set("crm.lead", rid, phone="+1 555 754 9999")
    run(ws, odoo)
    assert deal(ws, rid)["description"].splitlines()[-1] == "Phone: +1 555 754 9999"
    assert odoo.get("crm.lead", rid)["description"] == "<p>Wants a quote by Monday</p>"


def test_a_prospect_without_notes_and_a_lead_with_a_customer(ws, odoo):
    bare = prospect(odoo, description=False)
    (indus,) = odoo.find("res.partner", name="Indus Textiles")
    linked = prospect(odoo, description="<p>Repeat order</p>", partner_id=indus["id"])
    run(ws, odoo)
    assert deal(ws, bare)["description"].splitlines() == [PROSPECT, *DETAILS]
    assert deal(ws, linked)["description"] == "Repeat order"  # its customer says it all
    run(ws, odoo)
    assert not odoo.get("crm.lead", bare).get("description")  # nothing sent back
