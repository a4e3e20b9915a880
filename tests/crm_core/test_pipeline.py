"""Opportunities through the pipeline: stages, history, wins and losses, aggregates."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_core import ConflictError, ValidationError


@pytest.fixture
def deal(ws):
    ws.users.add("Ravi Kumar", "ravi", role="sales")
    company = ws.companies.create(name="Chennai Motors", country="IN")
    return ws.as_user("ravi").pipeline.create(
        "Fleet of 40 scooters",
        company=company["id"],
        owner="ravi",
        expected_revenue="2400000.00",
        currency="INR",
        expected_close="2026-07-31",
        priority=2,
        tags=["Fleet"],
    )


def test_a_new_deal_starts_in_the_first_stage_with_its_probability(ws, deal):
    assert deal["stage"] == "New"
    assert deal["probability"] == Decimal("10.00")
    assert deal["expected_revenue"] == Decimal("2400000.00")
    assert deal["status"] == "open"
    assert deal["tags"] == ["Fleet"]
    history = ws.pipeline.history(deal["id"])
    assert history["to_stage"].tolist() == ["New"]
    assert history["by"].tolist() == ["Ravi Kumar"]


def test_moves_are_recorded_with_time_and_user(ws, deal, clock):
    ravi = ws.as_user("ravi")
    clock.advance(days=3)
    moved = ravi.pipeline.move(deal["id"], "qualified", expected_version=deal["version"])
    assert (moved["stage"], moved["probability"]) == ("Qualified", Decimal("30.00"))
    clock.advance(days=5)
    ravi.pipeline.move(deal["id"], "Negotiation")
    history = ws.pipeline.history(deal["id"])
    assert list(zip(history["from_stage"].fillna("-"), history["to_stage"], strict=True)) == [
        ("-", "New"),
        ("New", "Qualified"),
        ("Qualified", "Negotiation"),
    ]
    assert history["changed_at"].iloc[-1] == dt.datetime(2026, 5, 23, 9, 30, tzinfo=dt.UTC)


def test_win_and_lose_and_reopen(ws, deal, clock):
    won = ws.pipeline.win(deal["id"])
    assert (won["status"], won["stage"], won["probability"]) == ("won", "Won", Decimal("100.00"))
    assert won["closed_at"] == clock.now
    reopened = ws.pipeline.reopen(deal["id"], "Proposition")
    assert (reopened["status"], reopened["stage"], reopened["closed_at"]) == (
        "open",
        "Proposition",
        None,
    )
    lost = ws.pipeline.lose(deal["id"], "too EXPENSIVE", note="Chose a cheaper importer")
    assert (lost["status"], lost["stage"], lost["lost_reason"]) == ("lost", "Lost", "Too expensive")
    assert lost["probability"] == Decimal("0.00")
    new_reason = ws.pipeline.lose(ws.pipeline.create("Other deal")["id"], "Import licence refused")
    assert new_reason["lost_reason"] == "Import licence refused"
    assert "Import licence refused" in ws.pipeline.lost_reasons()


def test_invalid_moves_and_values_are_refused(ws, deal):
    with pytest.raises(ValidationError, match="'stage' value 'Shipped': is not a stage"):
        ws.pipeline.move(deal["id"], "Shipped")
    with pytest.raises(ValidationError, match="lose"):
        ws.pipeline.move(deal["id"], "Lost")
    with pytest.raises(ValidationError, match=r"reason.*required"):
        ws.pipeline.lose(deal["id"], "  ")
    with pytest.raises(ValidationError) as info:
        ws.pipeline.create(
            "Bad",
            expected_revenue=1.5,
            currency="XYZ",
            probability="120",
            priority=7,
            stage="Won",
            expected_close="soon",
        )
    assert {e.field for e in info.value.errors} == {
        "expected_revenue",
        "currency",
        "probability",
        "priority",
        "stage",
        "expected_close",
    }
    with pytest.raises(ValidationError, match="use move"):
        ws.pipeline.update(deal["id"], stage="Won")
    assert ws.pipeline.get(deal["id"])["stage"] == "New"


def test_stale_move_is_a_conflict(ws, deal):
    ws.pipeline.update(deal["id"], expected_revenue="2500000")
    with pytest.raises(ConflictError):
        ws.pipeline.move(deal["id"], "Qualified", expected_version=deal["version"])
    assert ws.pipeline.history(deal["id"])["to_stage"].tolist() == ["New"]


def test_by_stage_aggregates_count_value_and_weighted_value_in_sql(ws, deal):
    ws.pipeline.create("Spare parts", expected_revenue="100000.50", currency="INR")
    second = ws.pipeline.create("Service plan", expected_revenue="333.33", currency="INR")
    ws.pipeline.move(second["id"], "Proposition")
    usd = ws.pipeline.create("Export order", expected_revenue="9999.99", currency="USD")
    ws.pipeline.archive(usd["id"])  # archived deals are not in the pipeline
    frame = ws.pipeline.by_stage()
    rows = {
        (r.stage, r.currency): (r.count, r.value, r.weighted) for r in frame.itertuples() if r.count
    }
    assert rows == {
        ("New", "INR"): (2, Decimal("2500000.50"), Decimal("250000.05")),
        ("Proposition", "INR"): (1, Decimal("333.33"), Decimal("200.00")),
    }
    assert frame["stage"].drop_duplicates().tolist() == [
        "New",
        "Qualified",
        "Proposition",
        "Negotiation",
        "Won",
        "Lost",
    ]
    assert ws.pipeline.by_stage(owner="ravi")["count"].sum() == 1


def test_search_filters(ws, deal):
    other = ws.pipeline.create("Tea export", expected_close="2026-09-15", currency="LKR")
    ws.pipeline.lose(other["id"], "No budget")
    assert ws.pipeline.search(owner="ravi")["id"].tolist() == [deal["id"]]
    assert ws.pipeline.search(status="lost")["id"].tolist() == [other["id"]]
    assert ws.pipeline.search(tag="fleet")["id"].tolist() == [deal["id"]]
    assert ws.pipeline.search(close_from="2026-08-01")["id"].tolist() == [other["id"]]
    assert ws.pipeline.search(stage="New")["id"].tolist() == [deal["id"]]
    assert ws.pipeline.search("SCOOTERS")["id"].tolist() == [deal["id"]]
    russian = ws.pipeline.create("Поставка ТКАНИ 100%", currency="RUB")
    assert ws.pipeline.search("ткани 100%")["id"].tolist() == [russian["id"]]
    assert ws.pipeline.search("_")["id"].tolist() == []
    with pytest.raises(ValidationError, match="status"):
        ws.pipeline.search(status="pending")


def test_closed_deals_are_searched_together_most_recently_closed_first(ws, deal, clock):
    lost = ws.pipeline.create("Tea export", currency="LKR")
    won = ws.pipeline.create("Rice export", currency="PKR")
    ws.pipeline.lose(lost["id"], "No budget")
    clock.now += dt.timedelta(hours=1)
    ws.pipeline.win(won["id"])
    closed = ws.pipeline.search(status="closed", order_by="closed")
    assert closed["id"].tolist() == [won["id"], lost["id"]]
    assert closed["status"].tolist() == ["won", "lost"]
    assert ws.pipeline.count(status="closed") == 2
    ws.pipeline.reopen(won["id"])
    assert ws.pipeline.search(status="closed")["id"].tolist() == [lost["id"]]
    assert deal["id"] in ws.pipeline.search(status="open")["id"].tolist()


def test_custom_pipeline_needs_one_won_stage(ws):
    with pytest.raises(ValidationError, match="won stage"):
        ws.pipeline.create_pipeline("Broken", [("A", 10, False, False)])
    pid = ws.pipeline.create_pipeline(
        "Tenders", [("Bid", 20, False, False), ("Awarded", 100, True, False)]
    )
    assert ws.pipeline.stages("Tenders")["name"].tolist() == ["Bid", "Awarded"]
    deal = ws.pipeline.create("Municipal tender", pipeline=pid)
    assert ws.pipeline.win(deal["id"])["stage"] == "Awarded"


def test_count_matches_search_and_unknown_filters_are_named(ws, deal):
    ws.pipeline.create("Second", currency="INR")
    assert ws.pipeline.count() == 2
    assert ws.pipeline.count(owner="ravi") == 1
    assert ws.pipeline.count("scoot", status="open") == 1
    with pytest.raises(ValidationError, match=r"'colour'.*not a search filter"):
        ws.pipeline.count(colour="red")
    with pytest.raises(ValidationError, match="order_by"):
        ws.pipeline.search(order_by="colour")


def test_zero_revenue_keeps_its_two_places(ws):
    # "0.00" == 0 but must stay "0.00": the sync compares amounts as text.
    deal = ws.pipeline.create("Zero", expected_revenue="0")
    assert str(deal["expected_revenue"]) == "0.00"
    assert str(ws.pipeline.create("Empty")["expected_revenue"]) == "0.00"


def _journal_rows(ws, deal_id):
    return len(ws.journal.for_record("opportunities", deal_id))


def test_a_second_win_changes_nothing(ws, deal, clock):
    won = ws.pipeline.win(deal["id"])
    rows = _journal_rows(ws, deal["id"])
    clock.advance(days=3)
    again = ws.pipeline.win(deal["id"])
    assert (again["closed_at"], again["version"]) == (won["closed_at"], won["version"])
    assert _journal_rows(ws, deal["id"]) == rows


def test_a_closed_deal_is_not_closed_the_other_way_without_a_reopen(ws, deal, clock):
    won = ws.pipeline.win(deal["id"])
    with pytest.raises(ValidationError, match="already won: reopen it first") as info:
        ws.pipeline.lose(deal["id"], "No budget")
    (error,) = info.value.errors
    assert (error.field, error.value) == ("status", "won")
    after = ws.pipeline.get(deal["id"])
    assert (after["status"], after["version"], after["lost_reason"]) == (
        "won",
        won["version"],
        None,
    )

    other = ws.pipeline.create("Other deal")
    lost = ws.pipeline.lose(other["id"], "No budget")
    with pytest.raises(ValidationError, match="already lost: reopen it first"):
        ws.pipeline.win(other["id"])
    with pytest.raises(ValidationError, match="already lost: reopen it first"):
        ws.pipeline.move(other["id"], "Won")
    assert ws.pipeline.get(other["id"])["version"] == lost["version"]
    clock.advance(days=1)  # lost again: when it was lost stays, the reason is the new one
    again = ws.pipeline.lose(other["id"], "Too expensive")
    assert (again["closed_at"], again["lost_reason"]) == (lost["closed_at"], "Too expensive")
    ws.pipeline.reopen(other["id"])
    assert ws.pipeline.win(other["id"])["status"] == "won"


def _interleaved(monkeypatch, ws, read, meanwhile):
    """Have ``meanwhile`` (another user's write, committed on its own) run right after
    the next call of ``read`` on ``ws.pipeline`` has read the deal: the race of two
    processes, one writing between the other's read and its write."""
    real = getattr(ws.pipeline, read)
    calls = []

    def racing(*args, **kwargs):
        found = real(*args, **kwargs)
        if not calls:
            calls.append(found)
            meanwhile()
        return found

    monkeypatch.setattr(ws.pipeline, read, racing)


def test_of_a_win_and_a_loss_at_once_one_closes_and_the_other_is_refused(ws, deal, monkeypatch):
    other = crm_core_open_again(ws)
    _interleaved(monkeypatch, ws, "_deal", lambda: other.pipeline.win(deal["id"]))
    with pytest.raises(ValidationError, match="already won: reopen it first"):
        ws.pipeline.lose(deal["id"], "No budget")
    after = ws.pipeline.get(deal["id"])
    assert (after["status"], after["lost_reason"]) == ("won", None)


def test_a_blind_update_is_tried_again_on_a_fresh_read(ws, deal, monkeypatch):
    other = crm_core_open_again(ws)
    _interleaved(monkeypatch, ws, "_deal", lambda: other.pipeline.update(deal["id"], priority=3))
    updated = ws.pipeline.update(deal["id"], description="Forty scooters")
    assert (updated["priority"], updated["description"]) == (3, "Forty scooters")
    assert updated["version"] == deal["version"] + 2


def test_a_write_given_a_version_is_not_tried_again(ws, deal, monkeypatch):
    other = crm_core_open_again(ws)
    _interleaved(monkeypatch, ws, "_deal", lambda: other.pipeline.update(deal["id"], priority=3))
    with pytest.raises(ConflictError, match="you edited version"):
        ws.pipeline.update(deal["id"], description="X", expected_version=deal["version"])


def test_a_blind_write_clashing_every_time_does_not_claim_a_version_was_edited(
    ws, deal, monkeypatch
):
    other = crm_core_open_again(ws)
    real = ws.pipeline._deal
    bump = iter(range(10))

    def always_racing(*args, **kwargs):
        found = real(*args, **kwargs)
        other.pipeline.update(deal["id"], description=f"changed {next(bump)}")
        return found

    monkeypatch.setattr(ws.pipeline, "_deal", always_racing)
    with pytest.raises(ConflictError) as info:
        ws.pipeline.update(deal["id"], description="X")
    assert info.value.blind and "you edited" not in str(info.value)
    assert "kept being changed by someone else" in str(info.value)
    monkeypatch.undo()
    assert ws.pipeline.get(deal["id"])["description"] == "changed 2"  # the others' only


def crm_core_open_again(ws):
    """A second handle on the same workspace: another process's writes."""
    import crm_core

    return crm_core.open(ws.engine.url.render_as_string(hide_password=False), clock=ws.clock)
