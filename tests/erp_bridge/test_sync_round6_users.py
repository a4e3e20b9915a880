"""Round 6 of testing against Odoo 18: another, non-admin Odoo user syncing the same
database. He may read neither Odoo's ``database.uuid`` nor its external ids
(``ir.model.data`` is for Administration / Access Rights only):

- under another spelling of the known address he is recognised by the address (the
  same database name and port on a host resolving to the same address), not taken
  for a new backend that would pull and push everything again;
- at the known address his run works: the external ids are read only after a push
  was interrupted (to find what it created), and if he cannot read them then, the
  run stops before anything is written, saying what he lacks.
"""

from __future__ import annotations

import pytest

from erp_bridge import sync
from erp_bridge.adapter import RemoteError
from tests.erp_bridge.fake_odoo import Crash, FakeOdoo, seed, with_one_lead
from tests.erp_bridge.test_sync_backend_identity import counts

IP = "odoo:crm@127.0.0.1:8610"
NAME = "odoo:crm@localhost:8610"


@pytest.fixture
def odoo() -> FakeOdoo:
    erp = with_one_lead(seed(FakeOdoo()))
    erp.spellings = {IP, NAME}
    return erp


def run_as(ws, erp: FakeOdoo, spelling: str, *, admin: bool = True, **kw):
    erp.backend = spelling
    erp.admin = admin
    return sync(ws, erp, **kw)


def test_a_non_admin_under_another_spelling_is_the_known_backend(ws, odoo):
    run_as(ws, odoo, IP)
    ws.pipeline.create("Jute bags", expected_revenue="1000", currency="PKR")
    run_as(ws, odoo, IP)
    assert counts(ws, odoo) == (2, 2, {IP})
    report = run_as(ws, odoo, NAME, admin=False)
    assert report.status == "done", report.errors
    assert report.backend == IP
    assert counts(ws, odoo) == (2, 2, {IP})
    # A dry run under that spelling plans nothing to create either.
    plan = run_as(ws, odoo, NAME, admin=False, dry_run=True).plan
    assert not [line for line in plan if line.startswith("create")]


def test_a_non_admin_at_the_known_address_syncs(ws, odoo):
    run_as(ws, odoo, IP)
    ws.pipeline.create("Jute bags", expected_revenue="1000", currency="PKR")
    run_as(ws, odoo, IP)  # created a lead in Odoo
    odoo.tick(10)
    (lead,) = odoo.find("crm.lead", name="Pricing for 25 desks")
    odoo.set("crm.lead", lead["id"], name="Pricing for 30 desks")
    odoo.add(  # new in Odoo: not linked here yet
        "crm.lead",
        name="Cotton yarn",
        type="opportunity",
        stage_id=odoo.stage["New"],
        expected_revenue=5000.0,
        probability=10.0,
        tag_ids=[],
    )
    dry = run_as(ws, odoo, IP, admin=False, dry_run=True)
    assert dry.status == "done", dry.errors
    report = run_as(ws, odoo, IP, admin=False)
    assert report.status == "done", report.errors
    assert ("ir.model.data", "search_read") not in odoo.calls
    assert counts(ws, odoo) == (3, 3, {IP})
    assert ws.pipeline.search("30 desks")["name"].tolist() == ["Pricing for 30 desks"]


def test_after_an_interrupted_push_a_non_admin_is_told_what_he_lacks(ws, odoo):
    run_as(ws, odoo, IP)
    ws.companies.create(name="Colombo Tea Traders")
    odoo.crash_after_create = True
    with pytest.raises(Crash):
        run_as(ws, odoo, IP)
    odoo.crash_after_create = False
    with pytest.raises(RemoteError, match=r"ir\.model\.data.*Access Rights"):
        run_as(ws, odoo, IP, admin=False)
    # Not pulled as new: still the one made here.
    assert ws.companies.search("colombo")["name"].tolist() == ["Colombo Tea Traders"]
    report = run_as(ws, odoo, IP)  # an admin finds it
    assert report.status == "done", report.errors
    assert ws.companies.search("colombo")["name"].tolist() == ["Colombo Tea Traders"]
    assert len(odoo.find("res.partner", name="Colombo Tea Traders")) == 1
