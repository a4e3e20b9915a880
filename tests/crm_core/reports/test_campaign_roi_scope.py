"""A campaign's ROI is the whole campaign's: a view narrowed to some owners (an owner or
team filter, a sales user) shows no ROI, says why, and keeps the cost (a tester saw a
sales user's ROI -100 % on a campaign that paid back double). Whether it shows one
never depends on others' deals: that would tell a sales user someone won one."""

from __future__ import annotations

import math
from decimal import Decimal as D

import pytest

from crm_core.reports.campaigns import PARTIAL_ROI


@pytest.fixture
def fair(ws):
    """Cost PKR 280,000; s2 won USD 2,000 (PKR 560,000 at 280): ROI 1.0; s1 won nothing."""
    ws.set_setting("currency", "PKR")
    ws.rates.set("PKR", "2026-01-01", "280", base="USD")
    ws.users.add("Sales One", "s1", role="sales", team="North")
    ws.users.add("Sales Two", "s2", role="sales", team="South")
    fair = ws.campaigns.create("Fair", starts_on="2026-03-01", cost="280000", currency="PKR")
    ws.campaigns.create("Mail", starts_on="2026-03-02", cost="1000", currency="PKR")
    p = ws.pipeline
    p.ensure_default()
    won = p.create(
        "Looms", owner="s2", expected_revenue="2000", currency="USD", campaign=fair["id"]
    )
    p.win(won["id"])
    p.create("Bolts", owner="s1", expected_revenue="500", currency="USD", campaign=fair["id"])
    return ws


def _roi(frame) -> dict[str, float | None]:
    return {r.campaign: None if math.isnan(r.roi) else r.roi for r in frame.itertuples(index=False)}


def test_the_manager_sees_the_campaigns_roi(fair):
    frame = fair.reports.run("campaign_results")
    assert _roi(frame) == {"Fair": 1.0, "Mail": -1.0}
    assert frame.attrs["roi_not_computed"] == {}


@pytest.mark.parametrize(
    "view",
    [
        lambda ws: ws.as_user("s1").reports.run("campaign_results"),
        lambda ws: ws.reports.run("campaign_results", owner="s1"),
        lambda ws: ws.reports.run("campaign_results", team="North"),
    ],
    ids=["sales_user", "owner", "team"],
)
def test_a_narrowed_view_shows_no_roi_but_the_cost(fair, view):
    frame = view(fair)
    fair_rows = frame[frame["campaign"] == "Fair"]
    assert _roi(frame) == {"Fair": None, "Mail": None}
    assert fair_rows["cost"].dropna().tolist() == [D("280000.00")]
    assert frame.attrs["roi_not_computed"] == {"Fair": PARTIAL_ROI, "Mail": PARTIAL_ROI}


def test_the_narrowed_view_is_the_same_whatever_others_won(fair):
    before = fair.as_user("s1").reports.run("campaign_results")
    p = fair.pipeline
    listed = fair.campaigns.list()
    mail = int(listed.loc[listed["name"] == "Mail", "id"].iloc[0])
    other = p.create("Looms 2", owner="s2", expected_revenue="9", currency="USD", campaign=mail)
    p.win(other["id"])
    after = fair.as_user("s1").reports.run("campaign_results")
    assert _roi(after) == _roi(before) and after.attrs == before.attrs
    assert _roi(fair.as_user("s2").reports.run("campaign_results")) == {"Fair": None, "Mail": None}
