"""A won or lost deal's close time is Odoo's ``date_closed`` both ways (round 5 of
testing against Odoo 18): a pulled win kept the time of the pull, so every
historical win or loss landed in the month of the first sync.

Needs the lead's FieldMap("closed_at", "date_closed", datetime_in, closed_out) in
erp_bridge/odoo/mappings.py, erp_bridge/local.py's LocalWriter setting a won or lost
deal's closed_at from the ERP after its outcome, and erp_bridge/context.py's
RunContext writing mapper.Later values after the rest: until then these tests are
expected to fail (strict: they say so once it is done)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest

from tests.erp_bridge.fake_odoo import FakeOdoo, _stamp
from tests.erp_bridge.test_sync_runs import local_of, odoo, run, seed_partners  # noqa: F401


class StampsClosed(FakeOdoo):
    """A fake Odoo that stamps a lead's ``date_closed`` as Odoo 18's ``write`` does: the
    write that wins it (a won stage) or archives it sets the time of that write, over
    any ``date_closed`` the same write gives; one that reopens it clears it."""

    def write(self, model: str, ids: Sequence[int], values: dict[str, Any]) -> None:
        super().write(model, ids, values)
        if model != "crm.lead":
            return
        stage = self.records["crm.stage"].get(values.get("stage_id") or 0, {})
        for rid in ids:
            if stage.get("is_won") or values.get("active") is False:
                self.set(model, rid, date_closed=_stamp(self.now))
            elif values.get("active") is True and "stage_id" in values:
                self.set(model, rid, date_closed=None)


@pytest.fixture
def stamping(odoo):  # noqa: F811
    erp = StampsClosed()
    erp.__dict__.update(odoo.__dict__)
    return erp


def test_a_lead_won_in_odoo_is_closed_when_odoo_says(ws, odoo):  # noqa: F811
    _, _, lead = seed_partners(odoo)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Won"], date_closed="2025-03-15 10:00:00")
    run(ws, odoo)
    deal = ws.pipeline.get(local_of(ws, "opportunity", lead))
    assert deal["status"] == "won"
    with ws.transaction() as s:
        from crm_core.models import Opportunity

        closed = s.get(Opportunity, deal["id"]).closed_at
    assert closed == dt.datetime(2025, 3, 15, 10, 0, tzinfo=dt.UTC)


def test_a_lead_won_later_in_odoo_takes_odoos_close_time(ws, odoo):  # noqa: F811
    from crm_core.models import Opportunity

    _, _, lead = seed_partners(odoo)
    run(ws, odoo)
    odoo.tick(10)
    odoo.set("crm.lead", lead, stage_id=odoo.stage["Won"], date_closed="2025-03-15 10:00:00")
    run(ws, odoo)
    deal_id = local_of(ws, "opportunity", lead)
    with ws.transaction() as s:
        deal = s.get(Opportunity, deal_id)
        assert (deal.status, deal.closed_at) == (
            "won",
            dt.datetime(2025, 3, 15, 10, 0, tzinfo=dt.UTC),
        )


def test_a_deal_won_here_gives_odoo_its_close_time(ws, stamping, clock):
    from crm_core.models import Opportunity

    _, _, lead = seed_partners(stamping)
    run(ws, stamping)
    deal_id = local_of(ws, "opportunity", lead)
    ws.pipeline.win(deal_id)
    with ws.transaction() as s:
        closed = s.get(Opportunity, deal_id).closed_at
    stamping.tick(86_400 * 30)  # the push happens a month later: Odoo would stamp then
    run(ws, stamping)
    assert stamping.get("crm.lead", lead)["stage_id"] == stamping.stage["Won"]
    assert stamping.get("crm.lead", lead)["date_closed"] == closed.strftime("%Y-%m-%d %H:%M:%S")
    again = run(ws, stamping)
    with ws.transaction() as s:
        assert s.get(Opportunity, deal_id).closed_at == closed.replace(microsecond=0)
    assert again.to_frame().set_index("model").loc["opportunity", "pushed_updated"] == 0
