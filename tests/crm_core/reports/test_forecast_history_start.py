"""The revenue history starts with the first month that has an invoice: the months
before it are no data, not months of zero revenue, so they are neither shown, nor
forecast from, nor scored by the backtest. Today is 2026-05-15 (the ``clock``), so the
last month that is over is April 2026."""

from decimal import Decimal

import pytest

from crm_core.models import Invoice
from crm_core.reports import backtest as bt
from tests.crm_core.reports.books import posted

D = Decimal
METHODS = ["naive", "moving_average_3", "seasonal_naive", "linear_trend", "pipeline"]
NOT_ENOUGH = "not enough history to compare the methods; trust none"


def add_invoices(ws, company, invoices, currency="PKR"):
    """Posted ERP invoice copies (``(date, untaxed)``) of ``company``; a negative amount
    is a credit note."""
    with ws.transaction() as s:
        start = 1 + (s.query(Invoice).count())
        for n, (day, untaxed) in enumerate(invoices, start=start):
            s.add(posted(n, day, untaxed, currency, company=company))


def actuals(frame):
    rows = frame[frame["kind"] == "actual"]
    return [(r.month, r.revenue) for r in rows.itertuples()]


def test_one_invoice_in_the_last_month_is_not_enough_history(ws):
    """The tester's case: reporting currency KWD, one JPY invoice of 8,528 in April
    (1 KWD = 500 JPY: 17.056 KWD). Before, 24 months were scored as if the 23 before it
    had been months of no revenue (MAE 17.056, bias -100 %, "worse than forecasting
    zero"); now there is one month of history: nothing is forecast from it, and
    nothing is scored."""
    ws.set_setting("currency", "KWD")
    ws.rates.set("JPY", "2026-01-01", "500", base="KWD")
    tokyo = ws.companies.create(name="Tokyo Trading")["id"]
    add_invoices(ws, tokyo, [("2026-04-03", "8528")], currency="JPY")

    frame = ws.reports.revenue_forecast()
    assert actuals(frame) == [("2026-04", D("17.056"))]
    ahead = frame[frame["kind"] == "forecast"]
    # only the pipeline (no open deal: zero); no method fitted on invented zeros
    assert ahead[["month", "method", "revenue"]].values.tolist() == [
        ["2026-05", "pipeline", D("0.000")],
        ["2026-06", "pipeline", D("0.000")],
        ["2026-07", "pipeline", D("0.000")],
    ]
    assert frame.attrs["history_from"] == "2026-04"
    assert frame.attrs["not_forecast"] == {
        "naive": "not enough history: needs 3 months, the history has 1 (from 2026-04)",
        "moving_average_3": "not enough history: needs 3 months, the history has 1 (from 2026-04)",
        "seasonal_naive": "not enough history: needs 12 months, the history has 1 (from 2026-04)",
        "linear_trend": "not enough history: needs 3 months, the history has 1 (from 2026-04)",
    }

    summary = ws.reports.forecast_backtest()
    assert summary["method"].tolist() == METHODS
    assert summary["months"].tolist() == [0] * 5
    assert not summary["recommended"].any()
    for col in ("mae", "mape", "bias", "bias_pct", "mase"):
        assert summary[col].tolist() == [None] * 5, col
    assert summary.attrs["verdict"] == NOT_ENOUGH
    assert summary.attrs["history_from"] == "2026-04"
    verdicts = summary.set_index("method")["verdict"]
    assert verdicts["naive"] == (
        "not scored: needs 3 months of history before each month it forecasts: it can "
        "forecast 0 of the 1 months of this history, and at least 3 are needed. "
        "Not enough history to compare the methods; trust none"
    )
    assert verdicts["seasonal_naive"] == (
        "not scored: needs 12 months of history before each month it forecasts: it can "
        "forecast 0 of the 1 months of this history, and at least 3 are needed"
    )
    assert not any("worse than forecasting zero" in v for v in verdicts)
    assert ws.reports.forecast_backtest_detail().empty


def test_the_history_starts_with_the_first_invoiced_month(ws):
    """Invoices from November 2025 (M); none in January 2026, a real month of no
    revenue since it comes after M. The default history (24 months) and a period
    starting before M both start at M; a period starting after M starts there."""
    indus = ws.companies.create(name="Indus Textiles")["id"]
    add_invoices(
        ws,
        indus,
        [
            ("2025-11-05", "100000"),
            ("2025-12-10", "120000"),
            ("2026-02-01", "160000"),
            ("2026-03-31", "180000"),
            ("2026-03-31", "-30000"),  # a credit note
            ("2026-04-30", "200000"),
            ("2026-05-03", "555"),  # May is not over: not history
        ],
    )
    ws.set_setting("currency", "PKR")
    history = [
        ("2025-11", D("100000.00")),
        ("2025-12", D("120000.00")),
        ("2026-01", D("0.00")),
        ("2026-02", D("160000.00")),
        ("2026-03", D("150000.00")),
        ("2026-04", D("200000.00")),
    ]
    frame = ws.reports.revenue_forecast()
    assert actuals(frame) == history
    assert frame.attrs["history_from"] == "2025-11"
    assert actuals(ws.reports.revenue_forecast(period_from="2024-01-01")) == history
    assert actuals(ws.reports.revenue_forecast(period_from="2026-02-10")) == history[3:]
    # six months: every method but the seasonal one, which says why
    methods = set(frame[frame["kind"] == "forecast"]["method"])
    assert methods == {"naive", "moving_average_3", "linear_trend", "pipeline"}
    assert frame.attrs["not_forecast"] == {
        "seasonal_naive": "not enough history: needs 12 months, the history has 6 (from 2025-11)"
    }
    # the trend is fitted on the six months alone: 100k, 120k, 0, 160k, 150k, 200k
    # (x = 0..5, mean 2.5 and 121,666.67, sxy 375,000, sxx 17.5, slope 21,428.57):
    # May = 121,666.67 + 21,428.57 x 3.5 = 196,666.67
    may = frame[frame["month"] == "2026-05"].set_index("method")["revenue"]
    assert may["linear_trend"] == D("196666.67")
    assert may["naive"] == D("200000.00")

    # the backtest scores Feb, Mar, Apr 2026 (3 months before each), nothing earlier
    detail = ws.reports.forecast_backtest_detail()
    assert sorted(set(detail["month"])) == ["2026-02", "2026-03", "2026-04"]
    naive = detail[detail["method"] == "naive"]
    assert naive[["month", "forecast", "actual"]].values.tolist() == [
        ["2026-02", D("0.00"), D("160000.00")],
        ["2026-03", D("160000.00"), D("150000.00")],
        ["2026-04", D("150000.00"), D("200000.00")],
    ]
    summary = ws.reports.forecast_backtest().set_index("method")
    assert summary["months"].tolist() == [3, 3, 0, 3, 0]
    assert summary.attrs["history_from"] == "2025-11"
    assert summary.loc["seasonal_naive", "verdict"] == (
        "not scored: needs 12 months of history before each month it forecasts: it can "
        "forecast 0 of the 6 months of this history, and at least 3 are needed"
    )
    assert all(pct is None or pct > -1 for pct in summary["bias_pct"])


def test_without_any_invoice_there_is_no_history(ws):
    """A new workspace: no month of history (not 24 months of zeros), only the
    pipeline's forecast, and a backtest that says there is nothing to compare."""
    ws.pipeline.create(
        "uniforms", stage="Proposition", expected_revenue="1000.00", expected_close="2026-06-10"
    )
    frame = ws.reports.revenue_forecast()
    assert actuals(frame) == []
    assert frame[["month", "method", "revenue"]].values.tolist() == [
        ["2026-05", "pipeline", D("0.00")],
        ["2026-06", "pipeline", D("600.00")],  # the configured 60 %: nothing learned
        ["2026-07", "pipeline", D("0.00")],
    ]
    assert frame.attrs["history_from"] is None
    assert set(frame.attrs["not_forecast"].values()) == {"not enough history: no invoice yet"}
    summary = ws.reports.forecast_backtest()
    assert summary["months"].tolist() == [0] * 5
    assert summary.attrs["verdict"] == NOT_ENOUGH
    assert summary.set_index("method").loc["naive", "verdict"] == (
        "not scored: needs 3 months of history before each month it forecasts: the "
        "history holds no month yet. Not enough history to compare the methods; trust none"
    )
    assert ws.reports.forecast_backtest_detail().empty


def test_the_owner_filter_does_not_move_the_start(ws):
    """Every owner's series covers the same months: from the first month with an
    invoice the user may count (here the manager's view, November), even when the
    filtered customers were first invoiced later (Kazan, olga's customer, in March)."""
    ws.set_setting("currency", "PKR")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    indus = ws.companies.create(name="Indus Textiles")["id"]
    kazan = ws.companies.create(name="Kazan Home", owner="olga")["id"]
    ws.pipeline.create("towels", owner="olga", company=kazan, expected_revenue="10.00")
    add_invoices(ws, indus, [("2025-11-05", "100"), ("2026-04-05", "100")])
    add_invoices(ws, kazan, [("2026-03-05", "70")])
    olga = ws.reports.revenue_forecast(owner="olga")
    assert [m for m, _r in actuals(olga)] == [
        "2025-11",
        "2025-12",
        "2026-01",
        "2026-02",
        "2026-03",
        "2026-04",
    ]
    assert [r for _m, r in actuals(olga)] == [D("0.00")] * 4 + [D("70.00"), D("0.00")]


def test_an_empty_series_is_backtested_as_not_enough_history():
    graded = bt.score(bt.backtest([]))
    assert graded["months"].tolist() == [0] * 4
    assert graded.attrs["verdict"] == NOT_ENOUGH
    assert graded.set_index("method").loc["linear_trend", "verdict"] == (
        "not scored: needs 3 months of history before each month it forecasts: the "
        "history holds no month yet"
    )


@pytest.mark.parametrize(
    ("months", "left_out"),
    [
        (0, {"naive", "moving_average_3", "seasonal_naive", "linear_trend"}),
        (2, {"naive", "moving_average_3", "seasonal_naive", "linear_trend"}),
        (3, {"seasonal_naive"}),
        (12, set()),
    ],
)
def test_not_enough_history_names_the_methods_forecast_leaves_out(months, left_out):
    from crm_core.reports.forecast_methods import forecast, not_enough_history

    reasons = not_enough_history(months, since="2026-01")
    assert set(reasons) == left_out
    assert (
        set(forecast([1] * months))
        == {
            "naive",
            "moving_average_3",
            "seasonal_naive",
            "linear_trend",
        }
        - left_out
    )
