"""Round 6 of testing against Odoo 18: a contact's own address is not replaced by its
company's. Odoo gives a person of type ``contact`` with a parent the parent's address
(``res.partner._fields_sync``; its form shows that address read-only), so a contact
whose address differs from its company's is created there as an "Other Address" of
the company, which keeps its own, and the run report says so."""

from __future__ import annotations

from sqlalchemy import select

from crm_core.models import ExternalLink
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


def remote_of(ws, entity, local_id):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.entity == entity, ExternalLink.local_id == local_id
            )
        ).one()


def _company_with_address(odoo):  # noqa: F811
    indus, _, _ = seed_partners(odoo)
    odoo.set("res.partner", indus, street="پلاٹ ۱۲، سائٹ ایریا", zip="75700", city="Karachi")
    return indus


def test_a_contacts_own_address_survives_the_push_and_the_next_pull(ws, odoo):  # noqa: F811
    indus = _company_with_address(odoo)
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    contact = ws.contacts.create(
        name="Sana Mirza", company_id=company, street="گلشن اقبال", city="Karachi"
    )["id"]
    report = run(ws, odoo)
    assert report.status == "done", report.errors
    rid = remote_of(ws, "contact", contact)
    pushed = odoo.get("res.partner", rid)
    assert (pushed["street"], pushed["zip"], pushed["type"]) == ("گلشن اقبال", None, "other")
    notes = report.models["contact"].notes
    assert len(notes) == 1 and "Sana Mirza" in notes[0] and "Other Address" in notes[0]
    assert "Other Address" in str(report)
    odoo.tick(10)
    run(ws, odoo, full=True)
    got = ws.contacts.get(contact)
    assert (got["street"], got["zip"]) == ("گلشن اقبال", None)


def test_a_contact_with_its_companys_address_stays_a_contact(ws, odoo):  # noqa: F811
    indus = _company_with_address(odoo)
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    same = ws.contacts.create(
        name="Sana Mirza",
        company_id=company,
        street="پلاٹ ۱۲، سائٹ ایریا",
        zip="75700",
        city="Karachi",
    )["id"]
    bare = ws.contacts.create(name="Bilal Ahmed", company_id=company)["id"]
    report = run(ws, odoo)
    assert report.models["contact"].notes == []
    assert odoo.get("res.partner", remote_of(ws, "contact", same))["type"] == "contact"
    # No address of its own: it takes the company's, as in Odoo.
    assert odoo.get("res.partner", remote_of(ws, "contact", bare))["type"] == "contact"
