"""Deals as they were, rebuilt from the journal, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

from crm_core.reports.deal_history import DealHistory

D = Decimal
UTC = dt.UTC


def _at(day, hour=12):
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def test_a_deal_is_rebuilt_as_it_was_at_each_instant(ws, clock):
    """Created 2026-01-10 (New, PKR 1,000, close 2026-02-01), changed 2026-01-20
    (PKR 2,500, close 2026-03-01, probability 40), moved to Qualified 2026-02-05,
    archived 2026-02-10, restored 2026-02-20, won 2026-03-02."""
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    p = ws.pipeline
    start = clock.now
    clock.now = _at("2026-01-10")
    deal = p.create(
        "looms",
        owner="bilal",
        expected_revenue="1000.00",
        currency="PKR",
        expected_close="2026-02-01",
    )["id"]
    clock.now = _at("2026-01-20")
    p.update(deal, expected_revenue="2500.00", expected_close="2026-03-01", probability=40)
    clock.now = _at("2026-02-05")
    p.move(deal, "Qualified")
    clock.now = _at("2026-02-10")
    p.archive(deal)
    clock.now = _at("2026-02-20")
    p.restore(deal)
    clock.now = _at("2026-03-02")
    p.win(deal)
    clock.now = start
    stages = dict(zip(p.stages()["name"], p.stages()["id"], strict=False))
    bilal = int(ws.users.list().set_index("login").loc["bilal", "id"])

    history = DealHistory.load(ws)
    assert history.first == _at("2026-01-10")
    assert history.as_of(_at("2026-01-10")) == []  # not yet created at that instant

    def state(day):
        (found,) = history.as_of(_at(day, 0))
        return (
            found.expected_revenue,
            found.currency,
            found.probability,
            found.expected_close,
            found.stage_id,
            found.status,
            found.owner_id,
            found.active,
        )

    new, qualified = int(stages["New"]), int(stages["Qualified"])
    assert state("2026-01-15") == (
        D("1000.00"),
        "PKR",
        D("10.00"),
        dt.date(2026, 2, 1),
        new,
        "open",
        bilal,
        True,
    )
    assert state("2026-02-01")[:5] == (
        D("2500.00"),
        "PKR",
        D("40"),
        dt.date(2026, 3, 1),
        new,
    )
    # moving to Qualified took that stage's probability (30)
    assert state("2026-02-06")[2:5] == (D("30.00"), dt.date(2026, 3, 1), qualified)
    assert state("2026-02-15")[-1] is False  # archived
    assert state("2026-03-01")[-1] is True  # restored
    assert state("2026-03-03")[5] == "won"
    # a sales user who may not see the deal replays nothing of it
    ws.users.add("Olga Smirnova", "olga", role="sales")
    assert DealHistory.load(ws.as_user("olga")).first is None
