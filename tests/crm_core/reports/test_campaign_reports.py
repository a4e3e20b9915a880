"""campaign_results against values worked out by hand on a small book of campaigns."""

import datetime as dt
import math
from decimal import Decimal

import pytest

from crm_core import ValidationError

D = Decimal


@pytest.fixture
def campaigns(ws):
    """Four campaigns, their members and the deals they brought.

    =========  =======  ==========  ==============  ========  =========
    campaign   channel  starts_on   cost            targeted  responded
    =========  =======  ==========  ==============  ========  =========
    Expo       fair     2026-03-01  PKR 50,000.00   4         1
    Mailing    email    2026-04-10  (none)          2         2
    Webinar    web      2026-05-01  USD 100.00      0         0
    Referrals  (none)   (none)      (none)          1         0
    =========  =======  ==========  ==============  ========  =========

    Deals (owner, revenue, outcome): Expo: uniforms (bilal, PKR 1,000,000, open),
    shirts (bilal, PKR 300,000, won), curtains (olga, USD 10,000, won), lamps (olga,
    USD 4,000, lost), ghost (bilal, PKR 999, won, archived). Mailing: towels (olga,
    PKR 500,000, open), rugs (olga, PKR 50,000, won). No campaign: solo (bilal,
    PKR 7,777, won). The workspace currency is USD.
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Moscow")
    people = [ws.contacts.create(name=f"Person {n}")["id"] for n in range(1, 7)]
    c = ws.campaigns
    expo = c.create("Expo", channel="fair", starts_on="2026-03-01", cost="50000", currency="PKR")
    mailing = c.create("Mailing", channel="email", starts_on="2026-04-10")
    c.create("Webinar", channel="web", starts_on="2026-05-01", cost="100.00", currency="USD")
    referrals = c.create("Referrals")
    c.add_contacts(expo["id"], people[:4])
    c.responded(expo["id"], people[0])
    c.add_contacts(mailing["id"], people[4:])
    c.responded(mailing["id"], people[4])
    c.responded(mailing["id"], people[5], at="2026-04-12T10:00:00+05:00")
    c.add_contacts(referrals["id"], [people[5]])
    p = ws.pipeline

    def deal(name, owner, revenue, currency, campaign, outcome=None):
        found = p.create(
            name, owner=owner, expected_revenue=revenue, currency=currency, campaign=campaign
        )["id"]
        if outcome == "won":
            p.win(found)
        elif outcome == "lost":
            p.lose(found, "Too expensive")
        return found

    deal("uniforms", "bilal", "1000000", "PKR", expo["id"])
    deal("shirts", "bilal", "300000", "PKR", expo["id"], "won")
    deal("curtains", "olga", "10000", "USD", expo["id"], "won")
    deal("lamps", "olga", "4000", "USD", expo["id"], "lost")
    p.archive(deal("ghost", "bilal", "999", "PKR", expo["id"], "won"))
    deal("towels", "olga", "500000", "PKR", mailing["id"])
    deal("rugs", "olga", "50000", "PKR", mailing["id"], "won")
    deal("solo", "bilal", "7777", "PKR", None, "won")
    return {"expo": expo["id"]}


def per_currency(frame):
    """The frame without the reporting-currency columns (tested in test_converted) and
    the e-mail counts (tested with real mail in tests/crm_core/mail/test_send_campaign)."""
    mail = ("sent", "delivered", "bounced", "replied")
    return frame.drop(
        columns=[
            c
            for c in frame.columns
            if c.endswith("_converted") or c == "reporting_currency" or c in mail
        ]
    )


def rows(frame):
    """The frame's per-currency columns as plain lists, NaN replaced by None so that
    lists compare."""
    return [
        [None if isinstance(x, float) and math.isnan(x) else x for x in row]
        for row in per_currency(frame).values.tolist()
    ]


def test_campaign_results_per_campaign_and_currency(ws, campaigns):
    frame = ws.reports.campaign_results()
    assert list(per_currency(frame).columns) == [
        "campaign",
        "channel",
        "starts_on",
        "targeted",
        "responded",
        "response_rate",
        "opportunities",
        "won",
        "currency",
        "won_revenue",
        "cost",
        "roi",
    ]
    march, april, may = dt.date(2026, 3, 1), dt.date(2026, 4, 10), dt.date(2026, 5, 1)
    assert rows(frame) == [
        # ROI is one figure per campaign in the reporting currency (USD): without a
        # PKR rate there is none (test_converted works it out with rates)
        ["Expo", "fair", march, 4, 1, 0.25, 2, 1, "PKR", D("300000.00"), D("50000.00"), None],
        ["Expo", "fair", march, 4, 1, 0.25, 2, 1, "USD", D("10000.00"), None, None],
        ["Mailing", "email", april, 2, 2, 1.0, 2, 1, "PKR", D("50000.00"), None, None],
        # nothing won against a cost: ROI -100 %; nobody targeted: no response rate
        ["Webinar", "web", may, 0, 0, None, 0, 0, "USD", D("0.00"), D("100.00"), -1.0],
        # undated, no deals, no cost: last, in the workspace currency
        ["Referrals", None, None, 1, 0, 0.0, 0, 0, "USD", D("0.00"), None, None],
    ]


def test_campaign_results_count_only_the_deals_of_the_owner_or_team(ws, campaigns):
    def figures(frame):
        return [[r[0], *r[6:]] for r in rows(frame)]

    bilal = ws.reports.campaign_results(owner="bilal")
    assert figures(bilal) == [
        ["Expo", 2, 1, "PKR", D("300000.00"), D("50000.00"), None],  # no PKR rate
        ["Mailing", 0, 0, "USD", D("0.00"), None, None],
        ["Webinar", 0, 0, "USD", D("0.00"), D("100.00"), None],  # ROI: the campaign's
        ["Referrals", 0, 0, "USD", D("0.00"), None, None],
    ]
    assert bilal["targeted"].tolist() == [4, 2, 0, 1]  # members are nobody's: unchanged
    moscow = ws.reports.campaign_results(team="Moscow")
    assert figures(moscow) == [
        ["Expo", 0, 0, "PKR", D("0.00"), D("50000.00"), None],  # the cost's row stays
        ["Expo", 2, 1, "USD", D("10000.00"), None, None],
        ["Mailing", 2, 1, "PKR", D("50000.00"), None, None],
        ["Webinar", 0, 0, "USD", D("0.00"), D("100.00"), None],
        ["Referrals", 0, 0, "USD", D("0.00"), None, None],
    ]
    assert rows(ws.as_user("olga").reports.campaign_results()) == rows(moscow)


def test_campaign_results_period_is_the_start_date_and_campaign_picks_one(ws, campaigns):
    spring = ws.reports.campaign_results(period_from="2026-04-01", period_to="2026-05-31")
    assert spring["campaign"].tolist() == ["Mailing", "Webinar"]
    assert ws.reports.campaign_results(period_to="2026-04-09")["campaign"].tolist() == [
        "Expo",
        "Expo",
    ]
    expo = ws.reports.campaign_results(campaign="Expo")
    assert expo[["campaign", "currency", "won_revenue"]].values.tolist() == [
        ["Expo", "PKR", D("300000.00")],
        ["Expo", "USD", D("10000.00")],
    ]
    assert rows(ws.reports.campaign_results(campaign=campaigns["expo"])) == rows(expo)
    assert ws.reports.campaign_results(campaign="Expo", period_from="2026-04-01").empty


def test_campaign_results_refuse_bad_and_foreign_filters(ws, campaigns):
    with pytest.raises(ValidationError) as caught:
        ws.reports.campaign_results(owner="nobody")
    assert [e.field for e in caught.value.errors] == ["owner"]
    with pytest.raises(ValidationError, match=r"'tag'.*does not apply here") as caught:
        ws.reports.campaign_results(tag="vip")
    assert [e.field for e in caught.value.errors] == ["tag"]  # refused, not looked up
    with pytest.raises(ValidationError, match=r"'source'.*does not apply here"):
        ws.reports.campaign_results(source="fair")
    with pytest.raises(ValidationError, match="no such campaign"):
        ws.reports.campaign_results(campaign="Gala")


def test_campaign_results_of_an_empty_workspace(ws):
    frame = ws.reports.campaign_results()
    assert frame.empty
    assert list(frame.columns) == ws.reports.spec("campaign_results").column_names
