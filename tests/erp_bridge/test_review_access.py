"""The sync's review (conflicts, queued matches, failed records) is a manager's or an
admin's, as running the sync is: a sales user is refused the lists and the decisions,
whose rows name any record of the team (another rep's deal among them)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crm_core import AccessDenied
from crm_core.models import ExternalLink, SyncConflict
from erp_bridge.conflicts import decide, open_conflicts
from erp_bridge.failures import listed
from erp_bridge.review import open_matches
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401

REFUSED = "user 'bilal' (sales) may not {what}: only a manager or an admin may"


@pytest.fixture
def reviewed(ws, odoo):  # noqa: F811
    """A conflict on a company's city and on olga's deal's stage, and a failed push."""
    indus, _, lead = seed_partners(odoo)
    run(ws, odoo)
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.set_role("ayesha", "manager")  # the ERP's salesperson, pulled by the run
    company, deal = local_of(ws, "company", indus), local_of(ws, "opportunity", lead)
    ws.pipeline.update(deal, owner="olga")
    ws.companies.update(company, city="Hyderabad")
    ws.pipeline.move(deal, "Qualified")
    odoo.tick(10)
    odoo.set("res.partner", indus, city="Sukkur")
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Won"])
    run(ws, odoo, policy="erp")
    ws.companies.create(name="Refused Remotely")
    odoo.refuse["res.partner.name"] = "ValidationError: name refused"
    run(ws, odoo, models=["company"])
    odoo.refuse.clear()
    return ws, odoo, company, deal


def test_a_sales_user_is_refused_the_sync_review(reviewed):
    ws, erp, company, _deal = reviewed
    bilal = ws.as_user("bilal")
    lists = {
        "review the sync's conflicts": lambda: open_conflicts(bilal),
        "review the sync's queued matches": lambda: open_matches(bilal),
        "review the sync's failed records": lambda: listed(bilal),
    }
    for what, attempt in lists.items():
        with pytest.raises(AccessDenied) as refused:
            attempt()
        assert str(refused.value).startswith(REFUSED.format(what=what))
    city = open_conflicts(ws).set_index("field").loc["city", "id"]
    with pytest.raises(AccessDenied) as refused:
        decide(bilal, erp, int(city), "crm")
    assert str(refused.value).startswith(REFUSED.format(what=f"decide conflict #{city}"))
    # Nothing decided, nothing written on either side.
    assert erp.get("res.partner", local_link(ws, company))["city"] == "Sukkur"
    assert ws.companies.get(company)["city"] == "Sukkur"
    with ws.transaction() as s:
        row = s.get(SyncConflict, int(city))
        assert (row.status, row.decided_by_id) == ("open", None)


def local_link(ws, company):
    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.remote_id).where(
                ExternalLink.entity == "company", ExternalLink.local_id == company
            )
        ).one()


def test_a_manager_reviews_and_decides(reviewed):
    ws, erp, company, deal = reviewed
    ayesha = ws.as_user("ayesha")
    shown = open_conflicts(ayesha)
    assert sorted(zip(shown["entity"], shown["local_id"], shown["field"], strict=True)) == [
        ("company", company, "city"),
        ("opportunity", deal, "stage_id"),
    ]
    assert listed(ayesha)["record"].str.startswith("local #").tolist() == [True]
    assert open_matches(ayesha).empty
    city = int(shown.set_index("field").loc["city", "id"])
    decide(ayesha, erp, city, "crm")
    assert erp.get("res.partner", local_link(ws, company))["city"] == "Hyderabad"
    with ws.transaction() as s:
        row = s.get(SyncConflict, city)
        assert (row.status, row.decided_by_id) == ("decided", ayesha.user_id)
