"""Reports list names in the contact list's alphabetical order, and equal revenues
share a rank (a tester saw Adam, Zoe, émile, Ёлка, Анна ... in code-point order, and
eleven customers of equal revenue ranked 1 to 11)."""

from __future__ import annotations

import datetime as dt

from crm_core.reports.base import name_order
from tests.crm_core.reports.books import posted

#: The contact list's order (crm_core.collation: Urdu's alphabet for Arabic script).
ORDER = ["Adam", "émile", "Zoe", "адам", "Анна", "Егор", "Ёлка", "Яна", "پرویز", "ٹیپو", "ثاقب"]
NAMES = ["Zoe", "Ёлка", "Анна", "émile", "Яна", "ثاقب", "Adam", "адам", "Егор", "پرویز", "ٹیپو"]


def _book(ws) -> list[str]:
    """Eleven companies with equal revenue, one bigger, one smaller; the contact list's
    order of the eleven."""
    ws.set_setting("currency", "PKR")
    ids = {name: ws.companies.create(name=name)["id"] for name in [*NAMES, "Big", "Small"]}
    with ws.transaction() as s:
        for n, name in enumerate(NAMES, start=1):
            s.add(posted(n, "2026-04-02", "1000", company=ids[name]))
        s.add(posted(50, "2026-04-02", "5000", company=ids["Big"]))
        s.add(posted(51, "2026-04-02", "10", company=ids["Small"]))
    listed = ws.companies.search(order_by="name", limit=100)["name"].tolist()
    return [n for n in listed if n in NAMES]


def test_the_contact_lists_order_is_the_reports_order(ws):
    listed = _book(ws)
    assert listed[:8] == ORDER[:8]  # the Latin and Cyrillic names, as the list has them
    assert sorted(NAMES, key=name_order) == ORDER
    sales = ws.reports.run("sales_per_customer", period_from="2026-04-01")
    assert sales["customer"].tolist() == ["Big", *ORDER, "Small"]
    rfm = ws.reports.run("rfm", period_from="2026-04-01", period_to="2026-04-30")
    assert rfm["customer"].tolist() == ["Big", *ORDER, "Small"]


def test_equal_revenues_share_a_rank(ws):
    _book(ws)
    sales = ws.reports.run("sales_per_customer", period_from="2026-04-01")
    assert sales["rank"].tolist() == [1] + [2] * 11 + [13]


def test_campaigns_and_reasons_are_in_the_same_order(ws):
    ws.pipeline.ensure_default()
    for name in ("Zoe fair", "émile mail", "Ёлка post", "Анна call", "Adam ad"):
        ws.campaigns.create(name=name, starts_on=dt.date(2026, 4, 1), channel="email")
    shown = ws.reports.run("campaign_results")["campaign"].tolist()
    assert shown == ["Adam ad", "émile mail", "Zoe fair", "Анна call", "Ёлка post"]
