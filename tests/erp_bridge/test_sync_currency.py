"""Deal amounts keep their currency across the sync.

Odoo keeps a lead's ``expected_revenue`` in its company's currency (``company_currency``),
whatever crmbook's workspace currency is: a pulled deal takes Odoo's currency, and a
local deal in another currency is not sent as if its amount were Odoo's currency: its
push is refused as a failure of that record, naming both currencies, listed and tried
again by later runs until the deal is in Odoo's currency.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from erp_bridge import sync
from erp_bridge.failures import listed
from tests.erp_bridge.fake_odoo import FakeOdoo, seed


@pytest.fixture
def odoo() -> FakeOdoo:
    """An Odoo whose company keeps its amounts in USD (the workspace's currency is PKR)."""
    erp = seed(FakeOdoo(), partners=False)
    usd = erp.add("res.currency", name="USD")
    erp.set("res.company", erp.company_id, currency_id=usd)
    return erp


def run(ws, erp, **kw):
    return sync(ws, erp, xmlid_prefix="crmbook_test", **kw)


def lead(erp: FakeOdoo, name: str, amount: float) -> int:
    return erp.add(
        "crm.lead",
        name=name,
        type="opportunity",
        stage_id=erp.stage["New"],
        expected_revenue=amount,
        probability=10.0,
        tag_ids=[],
    )


@pytest.fixture
def ws(ws):
    """The tester's workspace: its currency is PKR."""
    ws.set_setting("currency", "PKR")
    return ws


def test_a_pulled_deal_is_in_the_erp_companys_currency(ws, odoo):
    assert ws.setting("currency") == "PKR"
    rid = lead(odoo, "Pricing for 25 desks", 300000.0)
    run(ws, odoo, models=["opportunity"])
    deal = ws.pipeline.get(_local(ws, rid))
    assert (deal["currency"], deal["expected_revenue"]) == ("USD", Decimal("300000.00"))
    odoo.tick(10)
    odoo.set("crm.lead", rid, expected_revenue=350000.0)
    run(ws, odoo, models=["opportunity"])
    deal = ws.pipeline.get(_local(ws, rid))
    assert (deal["currency"], deal["expected_revenue"]) == ("USD", Decimal("350000.00"))


def test_a_deal_in_another_currency_is_refused_listed_and_sent_once_in_the_erps(ws, odoo):
    eur = ws.pipeline.create("Berlin desks", expected_revenue="1000", currency="EUR")
    usd = ws.pipeline.create("Boston desks", expected_revenue="2000", currency="USD")
    report = run(ws, odoo, models=["opportunity"])
    assert report.status == "done_with_errors"
    assert [r["name"] for r in odoo.records["crm.lead"].values()] == ["Boston desks"]
    assert odoo.find("crm.lead", name="Boston desks")[0]["expected_revenue"] == 2000.0
    waiting = listed(ws)
    assert waiting[["entity", "direction", "record"]].values.tolist() == [
        ["opportunity", "push", f"local #{eur['id']}"]
    ]
    error = waiting["error"].iloc[0]
    assert "EUR" in error and "USD" in error
    run(ws, odoo, models=["opportunity"])  # still EUR: tried again, still refused
    assert listed(ws)["attempts"].tolist() == [2]
    assert not odoo.find("crm.lead", name="Berlin desks")
    ws.pipeline.update(eur["id"], currency="USD", expected_revenue="1100")
    report = run(ws, odoo, models=["opportunity"])
    assert report.status == "done" and listed(ws).empty
    (sent,) = odoo.find("crm.lead", name="Berlin desks")
    assert sent["expected_revenue"] == 1100.0
    assert ws.pipeline.get(usd["id"])["currency"] == "USD"


def test_a_synced_deal_changed_to_another_currency_here_is_not_sent(ws, odoo):
    rid = lead(odoo, "Pricing for 25 desks", 300000.0)
    run(ws, odoo, models=["opportunity"])
    local = _local(ws, rid)
    ws.pipeline.update(local, currency="EUR", expected_revenue="280000")
    report = run(ws, odoo, models=["opportunity"])
    assert report.status == "done_with_errors"
    assert odoo.get("crm.lead", rid)["expected_revenue"] == 300000.0  # not 280000 "USD"
    assert "EUR" in listed(ws)["error"].iloc[0]


def _local(ws, remote_id: int) -> int:
    from sqlalchemy import select

    from crm_core.models import ExternalLink

    with ws.transaction() as s:
        return s.scalars(
            select(ExternalLink.local_id).where(
                ExternalLink.entity == "opportunity", ExternalLink.remote_id == remote_id
            )
        ).one()
