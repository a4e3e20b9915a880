"""An amount Odoo holds that crmbook cannot keep exactly (too large for an exact amount)
is never a silent 0: the deal keeps the amount it had (a new one 0.00), marked as not
validated with Odoo's value and why (``crmbook quality`` lists it), and nothing is
pushed back over Odoo's value."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_core.models import ExternalLink
from erp_bridge import sync
from tests.erp_bridge.fake_odoo import FakeOdoo, seed

HUGE = 1e16


@pytest.fixture
def odoo() -> FakeOdoo:
    return seed(FakeOdoo(), partners=False)


def run(ws, erp):
    return sync(ws, erp, xmlid_prefix="crmbook_test", models=["opportunity"])


def lead(erp: FakeOdoo, amount: float) -> int:
    return erp.add(
        "crm.lead",
        name="Huge deal",
        type="opportunity",
        stage_id=erp.stage["New"],
        expected_revenue=amount,
        probability=10.0,
        tag_ids=[],
    )


def local(ws, remote_id: int) -> dict:
    with ws.transaction() as s:
        link = s.scalars(
            select(ExternalLink.local_id).where(
                ExternalLink.entity == "opportunity", ExternalLink.remote_id == remote_id
            )
        ).one()
    return ws.pipeline.get(link)


def marks(ws) -> list[tuple[str, str]]:
    issues = ws.quality.issues("opportunity")
    return list(zip(issues["field"], issues["reason"], strict=True))


def test_a_new_deal_with_an_amount_too_large_is_kept_and_marked(ws, odoo):
    rid = lead(odoo, HUGE)
    report = run(ws, odoo)
    # said in the run's report, not a failure to retry (crmbook quality lists it)
    assert report.status == "done" and len(report.kept) == 1
    assert local(ws, rid)["expected_revenue"] == Decimal("0.00")
    ((field, reason),) = marks(ws)
    assert field == "expected_revenue"
    assert "10000000000000000" in reason and "too large" in reason
    odoo.tick(10)
    assert run(ws, odoo).status == "done"
    assert len(marks(ws)) == 1  # still listed after the run that says done
    assert odoo.get("crm.lead", rid)["expected_revenue"] == HUGE  # never pushed back
    ws.pipeline.update(local(ws, rid)["id"], description="Call the buyer")
    run(ws, odoo)
    assert odoo.get("crm.lead", rid)["expected_revenue"] == HUGE


def test_a_deal_keeps_its_amount_until_odoo_sends_one_it_can_keep(ws, odoo):
    rid = lead(odoo, 5000.0)
    run(ws, odoo)
    odoo.tick(10)
    odoo.set("crm.lead", rid, expected_revenue=HUGE)
    run(ws, odoo)
    assert local(ws, rid)["expected_revenue"] == Decimal("5000.00")
    assert [field for field, _ in marks(ws)] == ["expected_revenue"]
    odoo.tick(10)
    odoo.set("crm.lead", rid, expected_revenue=6000.0)
    assert run(ws, odoo).status == "done"
    assert local(ws, rid)["expected_revenue"] == Decimal("6000.00")
    assert marks(ws) == []
