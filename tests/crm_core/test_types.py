"""Times are aware UTC on every backend; money is exact Decimal."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from crm_core.models import Interaction


def test_naive_datetimes_are_refused_and_aware_ones_come_back_in_utc(ws):
    contact = ws.contacts.create(name="Zone Test")
    karachi = dt.datetime(2026, 1, 2, 15, 0, tzinfo=ZoneInfo("Asia/Karachi"))
    logged = ws.interactions.log("note", "out", contact=contact["id"], at=karachi)
    stored = ws.interactions.timeline(contact_id=contact["id"])["occurred_at"].iloc[0]
    assert stored == dt.datetime(2026, 1, 2, 10, 0, tzinfo=dt.UTC)
    assert logged["occurred_at"].utcoffset() == dt.timedelta(0)
    with pytest.raises(Exception, match="naive datetime"), ws.transaction() as s:
        s.add(
            Interaction(
                channel="note",
                direction="out",
                contact_id=contact["id"],
                occurred_at=dt.datetime(2026, 1, 2, 10, 0),
            )
        )
        s.flush()


@pytest.mark.parametrize("amount", ["0.01", "99999999.99", "1234567890123.45", "0.10"])
def test_money_round_trips_exactly(ws, amount):
    deal = ws.pipeline.create("Exact", expected_revenue=amount, currency="BDT")
    assert ws.pipeline.get(deal["id"])["expected_revenue"] == Decimal(amount)
    total = ws.pipeline.by_stage()["value"].sum()
    assert total == Decimal(amount)
