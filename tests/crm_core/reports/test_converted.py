"""Money reports in one reporting currency, against conversions worked out by hand.

The book (today is 2026-05-15, workspace time zone UTC, workspace currency EUR). The
rate table says, as the ERP does, how many units of a currency one base unit is worth:

=========  ====  ==========  ======  ===================================
currency   base  day         rate    so 1 unit is worth
=========  ====  ==========  ======  ===================================
LKR        EUR   2026-03-01  320     1/320 EUR from 1 March
LKR        EUR   2026-04-01  330     1/330 EUR from 1 April
USD        EUR   2026-01-01  1.10    1/1.10 EUR
GBP        USD   2026-02-01  0.8     1.25 USD = 1.25/1.10 EUR (across USD)
=========  ====  ==========  ======  ===================================

No rate for PKR at all, none for LKR before 1 March.
"""

import datetime as dt
from decimal import Decimal

import pytest

from crm_core.models import ExchangeRate, Invoice

D = Decimal
TODAY = dt.date(2026, 5, 15)
RATES = [
    ("LKR", "EUR", "2026-03-01", "320"),
    ("LKR", "EUR", "2026-04-01", "330"),
    ("USD", "EUR", "2026-01-01", "1.10"),
    ("GBP", "USD", "2026-02-01", "0.8"),
]


def day(text):
    return dt.date.fromisoformat(text)


@pytest.fixture
def rates(ws):
    ws.set_setting("currency", "EUR")
    with ws.transaction() as s:
        for currency, base, on, rate in RATES:
            s.add(
                ExchangeRate(
                    currency=currency,
                    base=base,
                    day=day(on),
                    rate=D(rate),
                    source="manual",
                    recorded_at=ws.clock(),
                )
            )
    return ws


@pytest.fixture
def deals(rates):
    """Open deals (stage probability: New 10 %, Qualified 30 %, Proposition 60 %):

    ====  ===========  =============  ==========  ==================================
    deal  stage        amount         close       in EUR (value / weighted)
    ====  ===========  =============  ==========  ==================================
    a     New          LKR 3,300,000  2026-04-15  rate of 1 April: 10,000 / 1,000
    b     New          LKR 3,200,000  2026-03-20  rate of 1 March: 10,000 / 1,000
    c     New          USD 1,100      (none)      today's: 1,000 / 100
    d     Qualified    PKR 100,000    2026-05-01  no PKR rate: empty
    e     Proposition  LKR 1,000,000  2026-02-01  no LKR rate before 1 March: empty
    ====  ===========  =============  ==========  ==================================
    """
    p = rates.pipeline
    out = {}
    for name, stage, amount, currency, close in (
        ("a", "New", "3300000", "LKR", "2026-04-15"),
        ("b", "New", "3200000", "LKR", "2026-03-20"),
        ("c", "New", "1100", "USD", None),
        ("d", "Qualified", "100000", "PKR", "2026-05-01"),
        ("e", "Proposition", "1000000", "LKR", "2026-02-01"),
    ):
        values = {"expected_revenue": amount, "currency": currency}
        if close:
            values["expected_close"] = close
        out[name] = p.create(name, stage=stage, **values)["id"]
    return out


def test_pipeline_by_stage_converts_each_deal_at_the_rate_of_its_close_date(ws, deals):
    frame = ws.reports.pipeline_by_stage()
    assert frame.attrs["reporting_currency"] == "EUR"
    got = {
        (r.stage, r.currency): (
            r.count,
            r.value,
            r.reporting_currency,
            r.value_converted,
            r.weighted_value_converted,
        )
        for r in frame.itertuples()
        if r.stage in ("New", "Qualified", "Proposition")
    }
    assert got == {
        ("New", "LKR"): (2, D("6500000.00"), "EUR", D("20000.00"), D("2000.00")),
        ("New", "PKR"): (0, D("0.00"), "EUR", D("0.00"), D("0.00")),  # nothing: 0, not missing
        ("New", "USD"): (1, D("1100.00"), "EUR", D("1000.00"), D("100.00")),
        ("Qualified", "LKR"): (0, D("0.00"), "EUR", D("0.00"), D("0.00")),
        ("Qualified", "PKR"): (1, D("100000.00"), "EUR", None, None),  # never at 1
        ("Qualified", "USD"): (0, D("0.00"), "EUR", D("0.00"), D("0.00")),
        ("Proposition", "LKR"): (1, D("1000000.00"), "EUR", None, None),
        ("Proposition", "PKR"): (0, D("0.00"), "EUR", D("0.00"), D("0.00")),
        ("Proposition", "USD"): (0, D("0.00"), "EUR", D("0.00"), D("0.00")),
    }
    assert frame.attrs["missing_rates"] == (
        "no rate for LKR on or before 2026-02-01, PKR on or before 2026-05-01 (to EUR)"
    )


def test_the_reporting_currency_is_chosen_per_run(ws, deals):
    # a and b in USD: LKR -> EUR -> USD, 3,300,000 / 330 x 1.10 + 3,200,000 / 320 x 1.10
    frame = ws.reports.run("pipeline_by_stage", currency="usd")
    new = frame[(frame.stage == "New") & (frame.currency == "LKR")].iloc[0]
    assert (new.reporting_currency, new.value_converted) == ("USD", D("22000.00"))
    assert frame.attrs["reporting_currency"] == "USD"
    with pytest.raises(Exception, match="currency"):
        ws.reports.run("pipeline_by_stage", currency="euro")


def test_the_dashboard_headline_is_one_converted_figure(ws, deals):
    figures = ws.metrics.headline()
    assert figures["reporting_currency"] == "EUR"
    # d and e cannot be converted: no made-up figure, and the missing rates named
    assert figures["pipeline_value_converted"] is None
    assert "PKR on or before 2026-05-01" in figures["missing_rates"]
    ws.pipeline.archive(deals["d"])
    ws.pipeline.archive(deals["e"])
    figures = ws.metrics.headline()
    assert figures["pipeline_value_converted"] == D("21000.00")  # 10,000 + 10,000 + 1,000
    assert figures["weighted_pipeline_converted"] == D("2100.00")
    assert figures["missing_rates"] == ""
    assert figures["pipeline_value"] == {"LKR": D("6500000.00"), "USD": D("1100.00")}
    assert ws.metrics.headline(currency="USD")["pipeline_value_converted"] == D("23100.00")


def test_board_totals_are_converted_by_the_one_definition(ws, deals):
    totals = ws.pipeline.stage_totals(status="open", reporting="EUR")
    by_currency = {
        (int(r.stage_id), r.currency): (r.value_converted, r.weighted_converted)
        for r in totals.itertuples()
    }
    new = int(ws.pipeline.stages().iloc[0]["id"])
    assert by_currency[(new, "LKR")] == (D("20000.00"), D("2000.00"))
    assert by_currency[(new, "USD")] == (D("1000.00"), D("100.00"))
    assert "LKR on or before 2026-02-01" in totals.attrs["missing_rates"]


# -- invoices ---------------------------------------------------------------------------------
@pytest.fixture
def invoices(rates):
    """Posted invoices in April (untaxed = total):

    =============  ===============  ==========  ==============================
    customer       amount           date        in EUR
    =============  ===============  ==========  ==============================
    Colombo Tea    LKR 3,300,000    2026-04-10  10,000.00 (unpaid, due 10 May)
    Colombo Tea    EUR 2,000        2026-04-12  2,000.00
    Berlin GmbH    EUR 11,000       2026-04-05  11,000.00
    London Ltd     GBP 800          2026-04-20  800 / 0.8 / 1.10 = 909.09
    Karachi Mills  PKR 5,000,000    2026-04-01  no rate
    =============  ===============  ==========  ==============================

    Colombo ranks first on its two currencies together (12,000), above Berlin's
    single larger invoice (11,000).
    """
    ids = {
        name: ws_company(rates, name)
        for name in ("Colombo Tea", "Berlin GmbH", "London Ltd", "Karachi Mills")
    }
    rows = [
        (1, "Colombo Tea", "LKR", "3300000", "2026-04-10", "3300000", "not_paid"),
        (2, "Colombo Tea", "EUR", "2000", "2026-04-12", "0", "paid"),
        (3, "Berlin GmbH", "EUR", "11000", "2026-04-05", "0", "paid"),
        (4, "London Ltd", "GBP", "800", "2026-04-20", "0", "paid"),
        (5, "Karachi Mills", "PKR", "5000000", "2026-04-01", "0", "paid"),
    ]
    with rates.transaction() as s:
        for n, who, cur, amount, on, residual, state in rows:
            s.add(
                Invoice(
                    backend="odoo-test",
                    remote_id=n,
                    number=f"INV/{n}",
                    move_type="out_invoice",
                    company_id=ids[who],
                    invoice_date=day(on),
                    due_date=day("2026-05-10"),
                    currency=cur,
                    amount_untaxed=D(amount),
                    amount_total=D(amount),
                    amount_residual=D(residual),
                    state="posted",
                    payment_state=state,
                    paid_on=None,
                )
            )
    return ids


def ws_company(ws, name):
    return ws.companies.create(name=name)["id"]


def test_sales_per_customer_ranks_customers_in_the_reporting_currency(ws, invoices):
    frame = ws.reports.sales_per_customer()
    got = [
        (r.customer, r.currency, r.revenue, r.revenue_converted, r.rank) for r in frame.itertuples()
    ]
    assert got == [
        ("Colombo Tea", "EUR", D("2000.00"), D("2000.00"), 1),
        ("Colombo Tea", "LKR", D("3300000.00"), D("10000.00"), 1),
        ("Berlin GmbH", "EUR", D("11000.00"), D("11000.00"), 2),
        ("London Ltd", "GBP", D("800.00"), D("909.09"), 3),
        ("Karachi Mills", "PKR", D("5000000.00"), None, None),  # no rate: no rank, last
    ]
    colombo_lkr = frame[(frame.customer == "Colombo Tea") & (frame.currency == "LKR")].iloc[0]
    # the open invoice, 5 days past due, at the rate of its invoice date
    assert (colombo_lkr.open_balance_converted, colombo_lkr.age_0_30_converted) == (
        D("10000.00"),
        D("10000.00"),
    )
    assert colombo_lkr.average_ticket_converted == D("10000.00")
    assert frame.attrs["missing_rates"] == "no rate for PKR on or before 2026-04-01 (to EUR)"


def test_each_invoice_is_converted_and_rounded_once_then_added(ws, rates):
    """Three GBP 1.00 invoices on three days: each is 1.25 / 1.10 = 1.13636... EUR,
    rounded to 1.14; the customer's revenue is their sum 3.42 (not the unrounded sum
    3.409... rounded, 3.41), the figure the revenue forecast's April adds up too."""
    leeds = ws_company(rates, "Leeds Ltd")
    with rates.transaction() as s:
        for n in range(3):
            s.add(
                Invoice(
                    backend="odoo-test",
                    remote_id=10 + n,
                    number=f"INV/L{n}",
                    move_type="out_invoice",
                    company_id=leeds,
                    invoice_date=day(f"2026-04-2{n + 1}"),
                    currency="GBP",
                    amount_untaxed=D("1.00"),
                    amount_total=D("1.00"),
                    amount_residual=D("1.00"),
                    state="posted",
                    payment_state="not_paid",
                )
            )
    (row,) = ws.reports.sales_per_customer().itertuples()
    assert (row.revenue, row.revenue_converted, row.open_balance_converted) == (
        D("3.00"),
        D("3.42"),
        D("3.42"),
    )
    assert row.age_0_30_converted == D("3.42")  # the open balance is its buckets' sum
    assert row.average_ticket_converted == D("1.14")  # 3.42 / 3
    (rfm,) = ws.reports.rfm().itertuples()
    assert rfm.monetary_converted == D("3.42")
    forecast = ws.reports.revenue_forecast()
    april = forecast[(forecast.kind == "actual") & (forecast.month == "2026-04")]
    assert list(april.revenue) == [D("3.42")]


def test_rfm_gives_monetary_in_the_reporting_currency(ws, invoices):
    frame = ws.reports.rfm()
    got = {(r.customer, r.currency): r.monetary_converted for r in frame.itertuples()}
    assert got[("London Ltd", "GBP")] == D("909.09")
    assert got[("Karachi Mills", "PKR")] is None


# -- campaigns and outcomes -------------------------------------------------------------------
def test_campaign_roi_is_one_figure_on_converted_revenue_and_cost(ws, rates):
    """Tea fair: cost EUR 5,000; won LKR 3,300,000 (closed today: 10,000 EUR) and EUR
    500: (10,500 - 5,000) / 5,000 = 1.1 on both its rows. Road show: cost LKR
    1,600,000 on 10 March (5,000 EUR at 320); won USD 1,100 (1,000 EUR):
    (1,000 - 5,000) / 5,000 = -0.8."""
    c, p = ws.campaigns, ws.pipeline
    fair = c.create("Tea fair", starts_on="2026-03-01", cost="5000", currency="EUR")["id"]
    show = c.create("Road show", starts_on="2026-03-10", cost="1600000", currency="LKR")["id"]
    for name, amount, currency, campaign in (
        ("estate", "3300000", "LKR", fair),
        ("tasting", "500", "EUR", fair),
        ("import", "1100", "USD", show),
    ):
        p.win(p.create(name, expected_revenue=amount, currency=currency, campaign=campaign)["id"])
    frame = ws.reports.campaign_results()
    got = [
        (r.campaign, r.currency, r.won_revenue_converted, r.cost_converted, r.roi)
        for r in frame.itertuples()
    ]
    assert got == [
        ("Tea fair", "EUR", D("500.00"), D("5000.00"), pytest.approx(1.1)),
        ("Tea fair", "LKR", D("10000.00"), None, pytest.approx(1.1)),
        ("Road show", "LKR", D("0.00"), D("5000.00"), pytest.approx(-0.8)),
        ("Road show", "USD", D("1000.00"), None, pytest.approx(-0.8)),
    ]
    outcomes = ws.reports.win_loss()
    assert sorted((r.currency, r.value_converted) for r in outcomes.itertuples()) == [
        ("EUR", D("500.00")),
        ("LKR", D("10000.00")),
        ("USD", D("1000.00")),
    ]


def test_revenue_by_month_gives_each_month_in_the_reporting_currency(ws, invoices):
    frame = ws.metrics.revenue_by_month(2, currency="EUR")
    april = {
        r.currency: (r.revenue, r.revenue_converted)
        for r in frame[frame.month == "2026-04"].itertuples()
    }
    assert april == {
        "EUR": (D("13000.00"), D("13000.00")),
        "GBP": (D("800.00"), D("909.09")),
        "LKR": (D("3300000.00"), D("10000.00")),
        "PKR": (D("5000000.00"), None),
    }
    assert set(frame[frame.month == "2026-05"]["revenue_converted"]) == {D("0.00")}
    assert frame.attrs["missing_rates"] == "no rate for PKR on or before 2026-04-01 (to EUR)"
    assert "revenue_converted" not in ws.metrics.revenue_by_month(2).columns
