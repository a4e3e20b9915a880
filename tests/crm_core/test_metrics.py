"""ws.metrics: headline figures, the funnel and revenue by month, computed in SQL, checked
against values worked out by hand on a small book of deals."""

import datetime as dt
from decimal import Decimal

import pytest

from crm_core import ValidationError
from crm_core.models import Invoice

D = Decimal


@pytest.fixture
def book(ws, clock):
    """Six live deals and an archived one, activities and ERP invoice copies.

    Owners, stage paths (sequence: New 10, Qualified 20, Proposition 30,
    Negotiation 40, Won 50; Lost is left out of the funnel) and outcomes:

    ========  =====  =============  ====================================  ===========
    deal      owner  revenue        path                                  outcome
    ========  =====  =============  ====================================  ===========
    uniforms  bilal  PKR 1,000,000  New > Qualified > Proposition (60%)   open
    towels    olga   PKR   500,000  New (10%)                             open
    export    bilal  USD    20,000  New > Negotiation (80%)               open
    shirts    bilal  PKR   300,000  New > Qualified > Won                 won 15 May
    bedding   olga   PKR   200,000  New > Proposition > Lost              lost 15 May
    curtains  olga   PKR   100,000  New > Won                             won 10 March
    hidden    bilal  PKR       999  New (archived)                        open
    ========  =====  =============  ====================================  ===========
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    kazan = ws.companies.create(name="Kazan Home", country="RU")["id"]
    p = ws.pipeline

    def deal(name, owner, revenue, currency, company):
        return p.create(
            name, owner=owner, expected_revenue=revenue, currency=currency, company=company
        )["id"]

    start = clock.now
    clock.now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
    curtains = deal("curtains", "olga", "100000.00", "PKR", kazan)
    p.win(curtains)
    clock.now = start
    uniforms = deal("uniforms", "bilal", "1000000.00", "PKR", indus)
    p.move(uniforms, "Qualified")
    p.move(uniforms, "Proposition")
    deal("towels", "olga", "500000.00", "PKR", kazan)
    export = deal("export", "bilal", "20000.00", "USD", indus)
    p.move(export, "Negotiation")
    shirts = deal("shirts", "bilal", "300000.00", "PKR", indus)
    p.move(shirts, "Qualified")
    p.win(shirts)
    bedding = deal("bedding", "olga", "200000.00", "PKR", kazan)
    p.move(bedding, "Proposition")
    p.lose(bedding, "Too expensive")
    p.archive(deal("hidden", "bilal", "999.00", "PKR", indus))

    a = ws.activities
    done_may = a.schedule("call", "Call Indus", "2026-05-14", assignee="bilal", company=indus)["id"]
    a.complete(done_may, at="2026-05-14T10:00:00+00:00")
    done_april = a.schedule("call", "Call Kazan", "2026-04-20", assignee="olga", company=kazan)[
        "id"
    ]
    a.complete(done_april, at="2026-04-20T10:00:00+00:00")
    a.schedule("todo", "Send samples", "2026-05-20", assignee="bilal", company=indus)

    invoices = [
        # (move type, state, date, currency, untaxed, company)
        ("out_invoice", "posted", dt.date(2026, 5, 3), "PKR", "250000.00", indus),
        ("out_refund", "posted", dt.date(2026, 5, 10), "PKR", "50000.00", indus),
        ("out_invoice", "posted", dt.date(2026, 4, 30), "PKR", "120000.00", kazan),
        ("out_invoice", "draft", dt.date(2026, 4, 15), "PKR", "999.00", kazan),
        ("out_invoice", "posted", dt.date(2026, 1, 10), "PKR", "777.00", kazan),
        ("out_invoice", "posted", dt.date(2026, 3, 31), "USD", "5000.00", indus),
        ("out_invoice", "posted", None, "PKR", "888.00", indus),
    ]
    with ws.transaction() as s:
        for n, (kind, state, day, cur, untaxed, company) in enumerate(invoices, start=1):
            s.add(
                Invoice(
                    backend="fake",
                    remote_id=n,
                    number=f"INV/{n}",
                    move_type=kind,
                    company_id=company,
                    invoice_date=day,
                    currency=cur,
                    amount_untaxed=D(untaxed),
                    amount_total=D(untaxed) * D("1.18"),
                    amount_residual=D(0),
                    state=state,
                    payment_state="paid",
                )
            )
    return {"indus": indus, "kazan": kazan}


def test_headline_figures_for_the_whole_team(ws, book):
    may = ws.metrics.headline("2026-05-01", "2026-05-31")
    assert may == {
        "period_from": dt.date(2026, 5, 1),
        "period_to": dt.date(2026, 5, 31),
        "pipeline_value": {"PKR": D("1500000.00"), "USD": D("20000.00")},
        "weighted_pipeline": {"PKR": D("650000.00"), "USD": D("16000.00")},
        # no PKR rate: no figure in the workspace currency (tests/crm_core/reports/
        # test_converted.py converts with rates)
        "reporting_currency": "USD",
        "pipeline_value_converted": None,
        "weighted_pipeline_converted": None,
        "missing_rates": "no rate for PKR on or before 2026-05-15 (to USD)",  # today
        "open_deals": 3,
        "won": 1,
        "lost": 1,
        "win_rate": 0.5,
        "activities_done": 1,
    }
    ever = ws.metrics.headline()
    assert (ever["won"], ever["lost"], ever["activities_done"]) == (2, 1, 2)
    assert ever["win_rate"] == pytest.approx(2 / 3)
    assert ever["pipeline_value"] == may["pipeline_value"]  # a snapshot, not per period


def test_period_ends_are_whole_days_in_the_workspace_time_zone(ws, book):
    # Bilal's call was done 2026-05-14 10:00 UTC = 15:00 in Karachi, Olga's on 20 April.
    assert ws.metrics.headline("2026-05-14", "2026-05-14")["activities_done"] == 1
    assert ws.metrics.headline(period_to="2026-05-13")["activities_done"] == 1
    assert ws.metrics.headline(period_from="2026-05-15")["activities_done"] == 0
    ws.set_setting("timezone", "America/Los_Angeles")  # 03:00 on 14 May there
    assert ws.metrics.headline("2026-05-14", "2026-05-14")["activities_done"] == 1
    ws.set_setting("timezone", "Pacific/Kiritimati")  # UTC+14: already 15 May there
    assert ws.metrics.headline("2026-05-14", "2026-05-14")["activities_done"] == 0
    assert ws.metrics.headline("2026-05-15", "2026-05-15")["activities_done"] == 1


def test_nothing_closed_gives_no_win_rate_and_an_empty_book_zero_pipeline(ws):
    figures = ws.metrics.headline("2026-05-01", "2026-05-31")
    assert figures["win_rate"] is None
    assert figures["pipeline_value"] == {"USD": D("0.00")}  # the workspace currency
    assert figures["weighted_pipeline"] == {"USD": D("0.00")}
    assert (figures["open_deals"], figures["activities_done"]) == (0, 0)


def test_a_bad_period_is_refused_naming_the_field(ws):
    with pytest.raises(ValidationError, match=r"period_to.*is before period_from"):
        ws.metrics.headline("2026-05-31", "2026-05-01")
    with pytest.raises(ValidationError, match=r"period_from.*YYYY-MM-DD"):
        ws.metrics.headline("last week")
    with pytest.raises(ValidationError, match="months"):
        ws.metrics.revenue_by_month(0)


def test_a_sales_user_sees_only_their_own_figures(ws, book):
    bilal = ws.as_user("bilal").metrics.headline("2026-05-01", "2026-05-31")
    assert bilal["pipeline_value"] == {"PKR": D("1000000.00"), "USD": D("20000.00")}
    assert bilal["weighted_pipeline"] == {"PKR": D("600000.00"), "USD": D("16000.00")}
    assert (bilal["open_deals"], bilal["won"], bilal["lost"], bilal["win_rate"]) == (2, 1, 0, 1.0)
    assert bilal["activities_done"] == 1
    olga = ws.as_user("olga").metrics.headline()
    assert olga["pipeline_value"] == {"PKR": D("500000.00")}
    assert (olga["won"], olga["lost"], olga["activities_done"]) == (1, 1, 1)
    manager = ws.as_user("ayesha").metrics.headline()
    assert manager == ws.metrics.headline()


def test_funnel_counts_deals_that_reached_each_stage_or_a_later_one(ws, book):
    funnel = ws.metrics.funnel()
    assert funnel[["stage", "sequence", "count", "entered"]].values.tolist() == [
        ["New", 10, 6, 6],
        ["Qualified", 20, 5, 2],
        ["Proposition", 30, 5, 2],
        ["Negotiation", 40, 3, 1],
        ["Won", 50, 2, 2],
    ]
    mine = ws.as_user("bilal").metrics.funnel()
    assert mine["count"].tolist() == [3, 3, 3, 2, 1]  # uniforms, export, shirts
    assert mine["entered"].tolist() == [3, 2, 1, 1, 1]


def test_funnel_of_a_period_counts_the_deals_created_in_it(ws, book):
    # curtains was created on 10 March (New > Won); the others on 15 May.
    march = ws.metrics.funnel(period_from="2026-03-01", period_to="2026-03-31")
    assert march["count"].tolist() == [1, 1, 1, 1, 1]
    assert march["entered"].tolist() == [1, 0, 0, 0, 1]
    may = ws.metrics.funnel(None, dt.date(2026, 5, 1), None)
    assert may["count"].tolist() == [5, 4, 4, 2, 1]
    assert ws.metrics.funnel(period_to="2026-03-09")["count"].tolist() == [0] * 5
    with pytest.raises(ValidationError) as refused:
        ws.metrics.funnel(period_from="2026-05-01", period_to="2026-04-01")
    assert "period_to" in str(refused.value)


def test_funnel_of_an_empty_pipeline_lists_its_stages_with_zeros(ws):
    ws.pipeline.create_pipeline("Export", [("Lead", 10, False, False), ("Deal", 100, True, False)])
    funnel = ws.metrics.funnel("Export")
    assert funnel[["stage", "count", "entered"]].values.tolist() == [
        ["Lead", 0, 0],
        ["Deal", 0, 0],
    ]


def test_revenue_by_month_from_invoices_and_won_deals(ws, book):
    revenue = ws.metrics.revenue_by_month(3)
    assert revenue.values.tolist() == [
        ["2026-03", "PKR", D("0.00"), D("100000.00")],
        ["2026-03", "USD", D("5000.00"), D("0.00")],
        ["2026-04", "PKR", D("120000.00"), D("0.00")],
        ["2026-04", "USD", D("0.00"), D("0.00")],
        ["2026-05", "PKR", D("200000.00"), D("300000.00")],  # invoice minus credit note
        ["2026-05", "USD", D("0.00"), D("0.00")],
    ]
    assert len(ws.metrics.revenue_by_month()) == 12 * 2
    assert ws.metrics.revenue_by_month()["month"].iloc[0] == "2025-06"


def test_revenue_by_month_over_a_period_lists_its_months(ws, book):
    march_april = ws.metrics.revenue_by_month(period_from="2026-03-20", period_to="2026-04-02")
    assert march_april["month"].unique().tolist() == ["2026-03", "2026-04"]
    assert march_april[march_april["currency"] == "PKR"]["won"].tolist() == [
        D("100000.00"),
        D("0.00"),
    ]
    since = ws.metrics.revenue_by_month(2, period_from="2026-04-10")
    assert since["month"].unique().tolist() == ["2026-04", "2026-05"]
    until = ws.metrics.revenue_by_month(2, period_to="2026-04-10")
    assert until["month"].unique().tolist() == ["2026-03", "2026-04"]
    long = ws.metrics.revenue_by_month(period_from="2010-01-01", period_to="2026-05-15")
    assert len(long["month"].unique()) == 120 and long["month"].iloc[-1] == "2026-05"
    with pytest.raises(ValidationError):
        ws.metrics.revenue_by_month(period_from="not a date")


def test_a_sales_users_revenue_covers_the_customers_they_own(ws, book):
    # Indus is bilal's customer; olga's Kazan is not his, deal or no deal
    indus = int(ws.companies.search("Indus")["id"].iloc[0])
    ws.companies.update(indus, owner="bilal")
    revenue = ws.as_user("bilal").metrics.revenue_by_month(3)
    assert revenue.values.tolist() == [
        ["2026-03", "PKR", D("0.00"), D("0.00")],
        ["2026-03", "USD", D("5000.00"), D("0.00")],
        ["2026-04", "PKR", D("0.00"), D("0.00")],
        ["2026-04", "USD", D("0.00"), D("0.00")],
        ["2026-05", "PKR", D("200000.00"), D("300000.00")],
        ["2026-05", "USD", D("0.00"), D("0.00")],
    ]


def test_revenue_months_follow_the_workspace_time_zone(ws, clock):
    ws.set_setting("timezone", "Asia/Karachi")
    deal = ws.pipeline.create("Late April", expected_revenue="700.00", currency="PKR")["id"]
    start = clock.now
    clock.now = dt.datetime(2026, 4, 30, 20, 0, tzinfo=dt.UTC)  # 1 May, 01:00 in Karachi
    ws.pipeline.win(deal)
    clock.now = start
    revenue = ws.metrics.revenue_by_month(2)
    assert revenue.values.tolist() == [
        ["2026-04", "PKR", D("0.00"), D("0.00")],
        ["2026-05", "PKR", D("0.00"), D("700.00")],
    ]
    assert ws.metrics.revenue_by_month(1).values.tolist() == [
        ["2026-05", "PKR", D("0.00"), D("700.00")]
    ]


def test_revenue_without_any_figure_lists_the_workspace_currency(ws):
    revenue = ws.metrics.revenue_by_month(2)
    assert revenue.values.tolist() == [
        ["2026-04", "USD", D("0.00"), D("0.00")],
        ["2026-05", "USD", D("0.00"), D("0.00")],
    ]


def test_the_headline_pipeline_is_the_sum_of_the_stages_to_the_cent(ws):
    """The dashboard's figure and the board's and pipeline_by_stage's rows add up the
    same way: PKR 1 in each of three stages is USD 0.0036 each, 0.00 per stage, so the
    headline is 0.00 too (it was 3/280 = 0.01, converted once for all the stages)."""
    ws.set_setting("currency", "USD")
    ws.rates.set("PKR", "2026-01-01", "280", base="USD")
    for stage in ("New", "Qualified", "Proposition"):
        ws.pipeline.create(f"Deal {stage}", stage=stage, expected_revenue="1", currency="PKR")
    headline = ws.metrics.headline()
    by_stage = ws.reports.pipeline_by_stage()
    assert headline["pipeline_value"] == {"PKR": Decimal("3.00")}
    assert headline["pipeline_value_converted"] == sum(by_stage["value_converted"]) == Decimal(0)
    assert headline["weighted_pipeline_converted"] == sum(by_stage["weighted_value_converted"])
