"""Whose invoices a sales user's revenue counts: the customers they own, the same rule
in every report (``sales_per_customer``, ``rfm``, ``revenue_forecast``, its backtest
and the dashboard's ``metrics.revenue_by_month``). A deal, even a lost one, with a
customer someone else owns does not make that customer's invoices theirs. Managers
see everything, as before. Today is 2026-05-15; the workspace currency is PKR."""

import datetime as dt
from decimal import Decimal

import pytest

from tests.crm_core.reports.books import posted

D = Decimal
APRIL = {"period_from": "2026-04-01", "period_to": "2026-04-30"}
MONTHS = ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


@pytest.fixture
def book(ws):
    """Customers and their owners, deals, and invoices by month (PKR, untaxed):

    =================  =======  ====================================  ==========
    customer           owner    deals                                 invoices
    =================  =======  ====================================  ==========
    Indus (company)    bilal    olga's, won                           1,000 a month
                                                                      Nov..Apr;
                                                                      Apr: - 100
                                                                      credit note
    Ali Raza (contact  bilal    none                                  50 in Jan, Apr
    without company)
    Kazan (company)    olga     bilal's, lost; olga's, open           7,000 in Dec, Apr
    =================  =======  ====================================  ==========

    bilal owns Indus and Ali Raza: his April is 1,000 - 100 + 50 = 950. His lost deal
    with Kazan gives him nothing of Kazan's. olga owns Kazan: her April is 7,000.
    Everyone's April: 950 + 7,000 = 7,950.
    """
    ws.set_setting("currency", "PKR")
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Lahore")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    indus = ws.companies.create(name="Indus Textiles", owner="bilal")["id"]
    kazan = ws.companies.create(name="Kazan Home", owner="olga")["id"]
    ali = ws.contacts.create(name="Ali Raza", owner="bilal")["id"]
    p = ws.pipeline
    p.win(p.create("uniforms", owner="olga", company=indus, expected_revenue="500")["id"])
    lost = p.create("towels", owner="bilal", company=kazan, expected_revenue="900")["id"]
    p.lose(lost, "Too expensive")
    p.create("bedding", owner="olga", company=kazan, expected_revenue="800")
    moves = [(f"{m}-10", "1000", indus, None) for m in MONTHS]
    moves += [
        ("2026-04-20", "-100", indus, None),
        ("2026-01-15", "50", None, ali),
        ("2026-04-15", "50", None, ali),
        ("2025-12-05", "7000", kazan, None),
        ("2026-04-05", "7000", kazan, None),
    ]
    with ws.transaction() as s:
        for n, (day, untaxed, company, contact) in enumerate(moves, start=1):
            s.add(posted(n, day, untaxed, company=company, contact=contact))
    return ws


def actual(frame, month):
    rows = frame[(frame["kind"] == "actual") & (frame["month"] == month)]
    (value,) = rows["revenue"].tolist()
    return value


def history(frame):
    return frame[frame["kind"] == "actual"]["revenue"].tolist()


def test_a_sales_users_revenue_is_the_same_in_every_report(book):
    bilal = book.as_user("bilal")
    forecast = bilal.reports.revenue_forecast()
    sales = bilal.reports.sales_per_customer(**APRIL)
    assert sorted(sales["customer"]) == ["Ali Raza", "Indus Textiles"]
    assert actual(forecast, "2026-04") == sum(sales["revenue_converted"]) == D("950.00")
    # every month, against sales_per_customer of that month
    for month, value in zip(MONTHS, history(forecast), strict=True):
        first = dt.date.fromisoformat(f"{month}-01")
        last = (first + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
        per_customer = bilal.reports.sales_per_customer(period_from=first, period_to=last)
        assert value == sum(per_customer["revenue_converted"], D("0.00")), month
    assert history(forecast) == [D("1000.00")] * 2 + [D("1050.00")] + [D("1000.00")] * 2 + [
        D("950.00")
    ]
    dashboard = bilal.metrics.revenue_by_month(2, currency="PKR")
    assert dashboard[["month", "revenue", "revenue_converted"]].values.tolist() == [
        ["2026-04", D("950.00"), D("950.00")],
        ["2026-05", D("0.00"), D("0.00")],
    ]
    detail = bilal.reports.forecast_backtest_detail()
    naive = detail[detail["method"] == "naive"]
    assert naive["actual"].tolist() == [D("1000.00"), D("1000.00"), D("950.00")]


def test_a_lost_deal_with_someone_elses_customer_counts_nothing(book):
    """bilal lost a deal with Kazan (olga's customer): none of Kazan's 7,000 invoices
    reach him, in any report; olga's won deal with Indus (bilal's) gives her none of
    Indus's either."""
    bilal = book.as_user("bilal")
    assert D("7000.00") not in history(bilal.reports.revenue_forecast())
    assert actual(bilal.reports.revenue_forecast(), "2025-12") == D("1000.00")
    december = bilal.metrics.revenue_by_month(period_from="2025-12-01", period_to="2025-12-31")
    assert december["revenue"].tolist() == [D("1000.00")]
    olga = book.as_user("olga")
    # her history starts with the first invoice she may count: Kazan's, December
    forecast = olga.reports.revenue_forecast()
    assert forecast.attrs["history_from"] == "2025-12"
    assert history(forecast) == [
        D("7000.00"),
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("7000.00"),
    ]
    assert sum(olga.reports.sales_per_customer(**APRIL)["revenue_converted"]) == D("7000.00")
    assert olga.metrics.revenue_by_month(1, period_to="2026-04-30")["revenue"].tolist() == [
        D("7000.00")
    ]


def test_managers_see_everything_and_the_owner_filter_keeps_its_meaning(book):
    everyone = [D("1000.00"), D("8000.00"), D("1050.00"), D("1000.00"), D("1000.00")]
    everyone.append(D("7950.00"))
    for ws in (book, book.as_user("ayesha")):
        assert history(ws.reports.revenue_forecast()) == everyone
        assert ws.metrics.revenue_by_month(1, period_to="2026-04-30")["revenue"].tolist() == [
            D("7950.00")
        ]
        # owner / team: the customers those users own, the figure they read themselves
        # (olga: Kazan, not Indus where she won a deal; Karachi: bilal's Indus and Ali
        # Raza, not Kazan where he lost one), over the months of everyone's history
        olga = [D("0.00"), D("7000.00"), D("0.00"), D("0.00"), D("0.00"), D("7000.00")]
        assert history(ws.reports.revenue_forecast(owner="olga")) == olga
        assert history(ws.reports.revenue_forecast(owner="olga"))[1:] == history(
            book.as_user("olga").reports.revenue_forecast()
        )
        karachi = ws.reports.revenue_forecast(team="Karachi")
        assert history(karachi) == history(book.as_user("bilal").reports.revenue_forecast())
        assert history(karachi) == [D("1000.00")] * 2 + [D("1050.00")] + [D("1000.00")] * 2 + [
            D("950.00")
        ]
        april = ws.reports.sales_per_customer(team="Karachi", **APRIL)
        assert actual(karachi, "2026-04") == sum(april["revenue_converted"])
    # a sales user may only name themselves: the same figures as without the filter
    bilal = book.as_user("bilal")
    own = history(bilal.reports.revenue_forecast())
    assert history(bilal.reports.revenue_forecast(owner="bilal")) == own
    assert history(bilal.reports.revenue_forecast(team="Karachi")) == own
