"""What many sessions read alike is computed once per change of the data and shared,
and never shown stale: a write here, or by another process, is seen at the next read."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

import crm_core
from tests.widgets.test_pipeline_board import deals, totals  # noqa: F401 (a fixture)
from widgets.pipeline_board import PipelineBoardModel
from widgets.shared_reads import MAX_AGE, SHARED, SharedReads


@pytest.fixture(autouse=True)
def fresh_cache():
    SHARED.clear()
    yield
    SHARED.clear()


def test_managers_boards_share_their_totals_until_a_card_moves(ws, deals):  # noqa: F811
    ayesha, admin = ws.as_user("ayesha"), ws
    first = PipelineBoardModel(ayesha)
    computed = SHARED.misses
    second = PipelineBoardModel(admin)  # another session of the same server, same answers
    assert SHARED.misses == computed, "the second board computed what the first had"
    assert SHARED.hits >= 3  # stages, users, lost reasons, totals
    assert totals(second) == totals(first)

    before = totals(first)
    first.move(deals["kazan"], "Qualified")  # a write: the data version moves
    second.refresh()
    assert totals(second) == totals(first) != before


def test_a_sales_users_answers_are_their_own(ws, deals):  # noqa: F811
    manager = totals(PipelineBoardModel(ws.as_user("ayesha")))
    bilal = totals(PipelineBoardModel(ws.as_user("bilal")))
    olga = totals(PipelineBoardModel(ws.as_user("olga")))
    assert bilal != manager and olga != bilal
    assert sum(c for c, _v, _w in manager.values()) == sum(c for c, _v, _w in bilal.values()) + sum(
        c for c, _v, _w in olga.values()
    )


def test_a_write_by_another_process_is_seen_at_the_next_read(ws, deals):  # noqa: F811
    board = PipelineBoardModel(ws)
    before = totals(board)
    url = ws.engine.url.render_as_string(hide_password=False)
    with crm_core.open(url) as other:  # its own engine, as another crmbook serve has
        other.pipeline.update(deals["kazan"], expected_revenue="999999.00")
    board.refresh()
    after = totals(board)
    assert after != before
    assert any(value >= D("999999.00") for _c, value, _w in after.values())


def test_an_answer_is_kept_no_longer_than_max_age(ws):
    now = [100.0]
    cache = SharedReads(clock=lambda: now[0])
    calls = []

    def compute():
        calls.append(1)
        return len(calls)

    assert cache.read(ws, "x", None, compute) == 1
    assert cache.read(ws, "x", None, compute) == 1
    now[0] += MAX_AGE + 0.1
    assert cache.read(ws, "x", None, compute) == 2
    assert (cache.hits, cache.misses) == (1, 2)
