"""Deciding a conflict writes the chosen side's value as it is now, not the one
recorded with the conflict: an edit made since on that side is never undone. A
conflict is decided once."""

from __future__ import annotations

import pytest

from crm_core import ValidationError
from erp_bridge.conflicts import decide, open_conflicts
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


@pytest.fixture
def city(ws, odoo):  # noqa: F811
    """A conflict on a company's city: "Hyderabad" here, "Sukkur" in the ERP (kept)."""
    indus, _, _ = seed_partners(odoo)
    run(ws, odoo)
    company = local_of(ws, "company", indus)
    ws.companies.update(company, city="Hyderabad")
    odoo.tick(10)
    odoo.set("res.partner", indus, city="Sukkur")
    run(ws, odoo, policy="erp")
    (conflict,) = open_conflicts(ws)["id"].tolist()
    return ws, odoo, indus, company, int(conflict)


def test_the_erp_side_chosen_is_its_value_now(city):
    ws, erp, indus, company, conflict = city
    erp.tick(10)
    erp.set("res.partner", indus, city="Sukkur Cantonment")  # renamed in the ERP since
    assert decide(ws, erp, conflict, "erp") == "Sukkur Cantonment"
    assert erp.get("res.partner", indus)["city"] == "Sukkur Cantonment"
    assert ws.companies.get(company)["city"] == "Sukkur Cantonment"
    assert open_conflicts(ws).empty


def test_the_crm_side_chosen_is_its_value_now(city):
    ws, erp, indus, company, conflict = city
    ws.companies.update(company, city="Hyderabad Sindh")  # renamed here since
    assert decide(ws, erp, conflict, "crm") == "Hyderabad Sindh"
    assert ws.companies.get(company)["city"] == "Hyderabad Sindh"
    assert erp.get("res.partner", indus)["city"] == "Hyderabad Sindh"
    quiet = run(ws, erp)  # both sides agree with the link: nothing moves
    assert quiet.to_frame().set_index("model").loc["company", "pushed_updated"] == 0
    assert ws.companies.get(company)["city"] == "Hyderabad Sindh"


def test_a_conflict_is_decided_once(city):
    ws, erp, indus, company, conflict = city
    decide(ws, erp, conflict, "erp")
    ws.companies.update(company, city="Karachi")
    with pytest.raises(ValidationError, match="already decided") as info:
        decide(ws, erp, conflict, "crm")
    assert info.value.errors[0].field == "status"
    assert erp.get("res.partner", indus)["city"] == "Sukkur"  # nothing written
    assert ws.companies.get(company)["city"] == "Karachi"
