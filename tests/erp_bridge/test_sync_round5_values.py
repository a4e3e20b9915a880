"""Values the sync carried wrongly or not at all (round 5 of testing against Odoo 18):
a decided conflict compares values in their normal form, a partner's salesperson is
its owner, a state is looked up within the record's country and pulled by its own
name, a company's mobile is kept, and a stage taken from Odoo on a decision brings
Odoo's probability."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.models import ExternalLink, SyncFailure
from erp_bridge.conflicts import decide, open_conflicts
from erp_bridge.odoo.mappings import ODOO_ONLY
from tests.erp_bridge.fake_odoo import FakeOdoo
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


def _counts(report: Any) -> Any:
    return report.to_frame().set_index("model")


def _synced(ws: Any, entity: str, local_id: int) -> dict[str, Any]:
    with ws.transaction() as s:
        link = s.scalars(
            select(ExternalLink).where(
                ExternalLink.entity == entity, ExternalLink.local_id == local_id
            )
        ).one()
        return dict(link.synced)


# -- 1. a decision compares values as the sync does: formatting is no edit ------------


def test_deciding_for_the_crm_restores_its_phone_though_odoo_wrote_the_kept_one_its_way(
    ws,
    odoo,  # noqa: F811
):
    indus, _, _ = seed_partners(odoo)
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    ws.companies.update(company, phone="+92 21 3456 7890")
    run(ws, odoo)  # both sides hold +922134567890
    ws.companies.update(company, phone="+92 21 3456 0001")
    odoo.tick(10)
    odoo.set("res.partner", indus, phone="+92 21 3456 0002")  # as Odoo formats it
    run(ws, odoo, policy="erp")
    (conflict,) = open_conflicts(ws).to_dict("records")
    assert (conflict["crm"], conflict["erp"], conflict["kept"]) == (
        "+922134560001",
        "+92 21 3456 0002",
        "remote",
    )
    assert ws.companies.get(company)["phone"] == "+922134560002"  # the kept one, in E.164

    assert decide(ws, odoo, int(conflict["id"]), "crm") == "+922134560001"
    assert ws.companies.get(company)["phone"] == "+922134560001"
    assert odoo.get("res.partner", indus)["phone"] == "+922134560001"
    quiet = run(ws, odoo)
    assert _counts(quiet).loc["company", "pushed_updated"] == 0
    assert _counts(quiet).loc["company", "updated"] == 0


def test_an_edit_made_since_still_wins_a_decision(ws, odoo):  # noqa: F811
    indus, _, _ = seed_partners(odoo)
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    ws.companies.update(company, phone="+92 21 3456 0001")
    odoo.tick(10)
    odoo.set("res.partner", indus, phone="+92 21 3456 0002")
    run(ws, odoo, policy="erp")
    (conflict,) = open_conflicts(ws)["id"].tolist()
    ws.companies.update(company, phone="+92 21 3456 0003")  # a real edit here since
    assert decide(ws, odoo, int(conflict), "crm") == "+922134560003"
    assert odoo.get("res.partner", indus)["phone"] == "+922134560003"


# -- 2. a stage taken from Odoo brings Odoo's probability ------------------------------


def test_deciding_for_odoos_stage_takes_odoos_probability_and_nothing_is_pushed_later(
    ws,
    odoo,  # noqa: F811
):
    odoo.stage["Proposition"] = odoo.add("crm.stage", name="Proposition", sequence=3)
    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    deal = local_of(ws, "opportunity", lead)
    ws.pipeline.move(deal, "Proposition")  # 60 here, the stage's default
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Qualified"], probability=70.0)
    run(ws, odoo)  # the stage is the CRM's: Proposition and 60 go to Odoo
    assert odoo.get("crm.lead", lead)["probability"] == 60.0
    stage = next(c for c in open_conflicts(ws).to_dict("records") if c["field"] == "stage_id")

    decide(ws, odoo, int(stage["id"]), "erp")
    got = ws.pipeline.get(deal)
    assert got["stage"] == "Qualified"
    assert got["probability"] == Decimal("60.00")  # Odoo's, not Qualified's 30
    assert odoo.get("crm.lead", lead)["stage_id"] == odoo.stage["Qualified"]
    assert odoo.get("crm.lead", lead)["probability"] == 60.0
    synced = _synced(ws, "opportunity", deal)
    assert synced["local"]["probability"] == synced["remote"]["probability"] == "60.00"
    later = run(ws, odoo, full=True)
    assert _counts(later).loc["opportunity", "pushed_updated"] == 0
    assert odoo.get("crm.lead", lead)["probability"] == 60.0


# -- 4. a partner's salesperson is its owner -------------------------------------------


def test_a_partners_salesperson_is_its_owner_both_ways(ws, odoo):  # noqa: F811
    indus, imran, _ = seed_partners(odoo)
    odoo.set("res.partner", indus, user_id=odoo.user)
    run(ws, odoo)
    company, contact = local_of(ws, "company", indus), local_of(ws, "contact", imran)
    ayesha = ws.users.get("ayesha")["id"]
    assert ws.companies.get(company)["owner_id"] == ayesha
    assert ws.contacts.get(contact)["owner_id"] is None

    ws.contacts.update(contact, owner_id=ayesha)
    ws.companies.update(company, owner_id=None)
    run(ws, odoo)
    assert odoo.get("res.partner", imran)["user_id"] == odoo.user
    assert odoo.get("res.partner", indus)["user_id"] is None
    assert ws.companies.get(company)["owner_id"] is None


# -- 5. a state is one of the record's country, and comes back by its own name ---------


class StatesByDisplayName(FakeOdoo):
    """A fake Odoo whose many2one of a state reads as Odoo 18's does: its display
    name names the country (``Amazonas (CO)``); the state's own name is ``name``."""

    def _out(self, model: str, rec: dict[str, Any], fields: Any) -> dict[str, Any]:
        out = super()._out(model, rec, fields)
        if out.get("state_id"):
            state = self.get("res.country.state", out["state_id"][0])
            code = self.get("res.country", state["country_id"])["code"]
            out["state_id"] = [state["id"], f"{state['name']} ({code})"]
        return out


@pytest.fixture
def states(odoo):  # noqa: F811
    """Odoo with Amazonas in Brazil (first) and in Colombia, and Tamil Nadu in India."""
    erp = StatesByDisplayName()
    erp.__dict__.update(odoo.__dict__)
    country = {
        code: erp.add("res.country", code=code, name=name)
        for code, name in (("BR", "Brazil"), ("CO", "Colombia"), ("IN", "India"))
    }
    erp.state = {
        (name, code): erp.add("res.country.state", name=name, country_id=country[code])
        for name, code in (("Amazonas", "BR"), ("Amazonas", "CO"), ("Tamil Nadu", "IN"))
    }
    erp.country = country
    return erp


def test_a_contacts_state_is_looked_up_in_its_own_country(ws, states):
    contact = ws.contacts.create(name="Camila Rojas", country="CO", state="Amazonas")["id"]
    report = run(ws, states)
    assert report.errors == []
    (partner,) = states.find("res.partner", name="Camila Rojas")
    assert partner["state_id"] == states.state[("Amazonas", "CO")]
    assert partner["country_id"] == states.country["CO"]
    # Pulled back under its own name: nothing changes on either side.
    again = run(ws, states)
    assert ws.contacts.get(contact)["state"] == "Amazonas"
    assert _counts(again).loc["contact", "updated"] == 0
    assert _counts(again).loc["contact", "pushed_updated"] == 0


def test_a_state_sent_alone_is_looked_up_in_the_records_country(ws, states):
    contact = ws.contacts.create(name="Camila Rojas", country="CO")["id"]
    run(ws, states)
    (partner,) = states.find("res.partner", name="Camila Rojas")
    ws.contacts.update(contact, state="Amazonas")  # the country is not sent again
    run(ws, states)
    assert states.get("res.partner", partner["id"])["state_id"] == states.state[("Amazonas", "CO")]


def test_a_state_odoo_lacks_in_that_country_is_not_sent_as_another(ws, states):
    contact = ws.contacts.create(name="Ravi Kumar", country="CO", state="Tamil Nadu")["id"]
    report = run(ws, states)
    assert states.find("res.partner", name="Ravi Kumar") == []  # not sent as India's
    (error,) = report.errors
    assert "Odoo has no state 'Tamil Nadu' of the country CO" in error
    with ws.transaction() as s:
        (failure,) = s.scalars(select(SyncFailure)).all()
        assert (failure.entity, failure.direction, failure.record_id) == (
            "contact",
            "push",
            contact,
        )
    ws.contacts.update(contact, state=None)  # corrected here: the next run sends it
    assert run(ws, states).errors == []
    (partner,) = states.find("res.partner", name="Ravi Kumar")
    assert partner["state_id"] is None and partner["country_id"] == states.country["CO"]


def test_a_pulled_state_takes_its_own_name_not_odoos_display_name(ws, states):
    rid = states.add(
        "res.partner",
        name="Lakshmi Textiles",
        is_company=True,
        country_id=states.country["IN"],
        state_id=states.state[("Tamil Nadu", "IN")],
        category_id=[],
    )
    run(ws, states)
    company = local_of(ws, "company", rid)
    assert ws.companies.get(company)["state"] == "Tamil Nadu"
    ws.companies.update(company, city="Chennai")
    run(ws, states)
    assert states.get("res.partner", rid)["state_id"] == states.state[("Tamil Nadu", "IN")]
    assert ws.companies.get(company)["state"] == "Tamil Nadu"


# -- 6. a company's mobile is kept where it shows --------------------------------------


def test_a_companys_mobile_shows_in_its_notes_and_stays_odoos(ws, odoo):  # noqa: F811
    indus, _, _ = seed_partners(odoo)
    odoo.set("res.partner", indus, mobile="+92 300 7654321")
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    assert ws.companies.get(company)["notes"] == (
        f"Since 1998\n\n{ODOO_ONLY}\nMobile: +92 300 7654321"
    )
    ws.companies.update(company, notes=f"Since 1998, family owned\n\n{ODOO_ONLY}\nMobile: x")
    run(ws, odoo)
    partner = odoo.get("res.partner", indus)
    assert partner["comment"] == "<p>Since 1998, family owned</p>"
    assert partner["mobile"] == "+92 300 7654321"
    odoo.tick(10)
    odoo.set("res.partner", indus, mobile="+92 300 1112223")
    run(ws, odoo)
    assert ws.companies.get(company)["notes"] == (
        f"Since 1998, family owned\n\n{ODOO_ONLY}\nMobile: +92 300 1112223"
    )
    assert json.dumps(_synced(ws, "company", company)["local"]["notes"]).count("Mobile") == 1


def test_without_a_partner_mobile_a_companys_notes_still_sync(ws, odoo):  # noqa: F811
    """Odoo 19 has no partner mobile: the company's notes are synced without it, and
    only the contact's mobile is said to be left out."""
    odoo.lacks = {"res.partner": {"mobile"}}
    indus, _, _ = seed_partners(odoo)
    report = run(ws, odoo)
    assert ws.companies.get(local_of(ws, "company", indus))["notes"] == "Since 1998"
    assert "contact: res.partner has no mobile in this ERP; not synced" in report.notes
    assert not any(n.startswith("company:") for n in report.notes)
