"""Converted money is rounded at one level in every report: each invoice converted at the
rate of its date and rounded to the reporting currency's minor units, then added up. So
a converted total is the sum of the parts shown beside it, and the same invoices make
the same figure in ``sales_per_customer``, ``rfm`` and ``revenue_forecast``.

Rates (today 2026-05-15, reporting currency EUR): 1 EUR = 1.10 USD, 1 USD = 0.8 GBP,
so GBP 1.00 = 1.25 / 1.10 = 1.136363... EUR, rounded 1.14.
"""

import datetime as dt
from decimal import Decimal

import pytest

from tests.crm_core.reports.books import posted

D = Decimal
BUCKETS = ("age_0_30", "age_31_60", "age_61_90", "age_90_plus")


@pytest.fixture
def gbp(ws):
    ws.set_setting("currency", "EUR")
    ws.rates.set("USD", "2026-01-01", "1.10", base="EUR")
    ws.rates.set("GBP", "2026-01-01", "0.8", base="USD")
    return ws


def test_the_open_balance_is_the_sum_of_its_aging_buckets(gbp):
    """Leeds owes two GBP 1.00 invoices: one not yet due (0-30), one due 1 April, 44
    days past due (31-60). Each is 1.14 EUR: the open balance is 2.28, not the
    unrounded 2.2727... rounded (2.27) beside buckets of 1.14 and 1.14."""
    leeds = gbp.companies.create(name="Leeds Ltd")["id"]
    with gbp.transaction("sync:odoo-test") as s:
        for n, day, due in ((1, "2026-05-01", "2026-05-31"), (2, "2026-03-02", "2026-04-01")):
            s.add(
                posted(
                    n,
                    day,
                    "1.00",
                    "GBP",
                    company=leeds,
                    due_date=dt.date.fromisoformat(due),
                    amount_residual=D("1.00"),
                    payment_state="not_paid",
                )
            )
    (row,) = gbp.reports.run("sales_per_customer").itertuples()
    shown = [getattr(row, f"{b}_converted") for b in BUCKETS]
    assert shown == [D("1.14"), D("1.14"), D("0.00"), D("0.00")]
    assert row.open_balance_converted == D("2.28") == sum(shown)


def test_the_same_invoices_make_the_same_revenue_in_every_report(gbp):
    """Three customers invoice GBP 1.00 each on 10 April, and York GBP 3.00 on 20 April
    less a GBP 1.00 credit note that day. Each invoice in EUR: 1.14 (x 3), 3.41, -1.14.
    April is 1.14 + (1.14 + 3.41 - 1.14) + 1.14 = 5.69 in the forecast as in the
    customers' rows, not each day's GBP converted as one sum (10 April's 3.00: 3.41,
    20 April's 2.00: 2.27; 5.68)."""
    ids = [gbp.companies.create(name=n)["id"] for n in ("Leeds Ltd", "York Ltd", "Bath Ltd")]
    with gbp.transaction("sync:odoo-test") as s:
        for n, company in enumerate(ids, start=1):
            s.add(posted(n, "2026-04-10", "1.00", "GBP", company=company))
        s.add(posted(4, "2026-04-20", "3.00", "GBP", company=ids[1]))  # 3.4090... -> 3.41
        s.add(posted(5, "2026-04-20", "-1.00", "GBP", company=ids[1]))  # -1.14
    period = {"period_from": "2026-04-01", "period_to": "2026-04-30"}
    sales = gbp.reports.run("sales_per_customer", **period)
    by_name = {r.customer: r.revenue_converted for r in sales.itertuples()}
    assert by_name == {"York Ltd": D("3.41"), "Bath Ltd": D("1.14"), "Leeds Ltd": D("1.14")}
    rfm = gbp.reports.run("rfm", **period)
    assert {r.customer: r.monetary_converted for r in rfm.itertuples()} == by_name
    forecast = gbp.reports.run("revenue_forecast", **period)
    (april,) = forecast[forecast.kind == "actual"].revenue.tolist()
    assert april == D("5.69") == sum(by_name.values())


def test_the_dashboards_revenue_is_the_reports_figure(gbp):
    """The dashboard's monthly revenue converted each day's sum per currency: 10 April's
    three GBP 1.00 invoices made 3.41 EUR there against the reports' 3 x 1.14 = 3.42.
    Now each invoice is converted on its own there too."""
    leeds = gbp.companies.create(name="Leeds Ltd")["id"]
    with gbp.transaction("sync:odoo-test") as s:
        for n in (1, 2, 3):
            s.add(posted(n, "2026-04-10", "1.00", "GBP", company=leeds))
    period = {"period_from": "2026-04-01", "period_to": "2026-04-30"}
    monthly = gbp.metrics.revenue_by_month(currency="EUR", **period)
    april = monthly[monthly["revenue_converted"].notna() & (monthly["revenue"] != 0)]
    assert april["revenue_converted"].tolist() == [D("3.42")]
    forecast = gbp.reports.run("revenue_forecast", **period)
    assert forecast[forecast.kind == "actual"].revenue.tolist() == [D("3.42")]
