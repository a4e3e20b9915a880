"""Forecasting: the pure methods and the backtest on synthetic series with known
answers, then the reports (weighted pipeline, learned stage rates, revenue forecast,
backtest) on small hand-built books, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal
from fractions import Fraction

import pandas as pd
import pytest

from crm_core import ValidationError
from crm_core.models import Invoice
from crm_core.reports import forecast as fc

D = Decimal
UTC = dt.UTC
ALL = ["naive", "moving_average_3", "seasonal_naive", "linear_trend"]


def _row(frame, **match):
    """The one row of ``frame`` matching every ``column=value``, as a dict."""
    mask = pd.Series(True, index=frame.index)
    for col, value in match.items():
        mask &= frame[col] == value
    found = frame[mask]
    assert len(found) == 1, f"{len(found)} rows match {match}"
    return found.iloc[0].to_dict()


# ---------------------------------------------------------------------------------------
# The methods, one forecast at a time.
# ---------------------------------------------------------------------------------------


def test_each_method_forecasts_by_its_rule():
    history = [100, 120, 130, 110]
    assert fc.naive(history, 3) == [D("110.00")] * 3
    # (120 + 130 + 110) / 3 = 120; (100 + 100 + 101) / 3 = 100.333... -> 100.33
    assert fc.moving_average_3(history) == [D("120.00")]
    assert fc.moving_average_3([100, 100, 101], 2) == [D("100.33")] * 2
    year = list(range(1, 13))  # months 1..12 worth 1..12
    assert fc.seasonal_naive([*year, 50], 3) == [D(2), D(3), D(4)]
    assert fc.seasonal_naive(year, 14)[-2:] == [D(1), D(2)]  # the last season repeats
    # 0, 0, 0, 5000, 0, 0 at x = 0..5: mean x 2.5, mean y 833.33..., sxy = 0.5 * 5000,
    # sxx = 17.5, slope = 142.857..., value at x = 6, 7, 8 = 833.33 + 142.857 * 3.5,
    # 4.5, 5.5 = 1333.33, 1476.19, 1619.05.
    assert fc.linear_trend([0, 0, 0, 5000, 0, 0], 3) == [
        D("1333.33"),
        D("1476.19"),
        D("1619.05"),
    ]
    # Only the last 12 months count: a wild start is forgotten.
    assert fc.linear_trend([10**6, *range(10, 130, 10)], 1) == [D("130.00")]
    assert fc.linear_trend([5, 3], 2) == [D("1.00"), D("-1.00")]  # not clipped at zero


def test_methods_take_floats_decimals_and_series():
    assert fc.naive(pd.Series([1.5, 2.25])) == [D("2.25")]
    assert fc.naive(pd.Series([1, 2])) == [D("2.00")]  # numpy integers
    assert fc.moving_average_3([D("0.10"), D("0.20"), 0.3]) == [D("0.20")]


def test_forecast_uses_only_the_methods_with_enough_history():
    out = fc.forecast([10, 20, 30], horizon=2)
    assert out == {
        "naive": [D(30), D(30)],
        "moving_average_3": [D(20), D(20)],
        "linear_trend": [D(40), D(50)],
    }
    assert set(fc.forecast([10, 20])) == set()  # fewer than MIN_HISTORY = 3 months
    assert "seasonal_naive" in fc.forecast([1] * 12)
    assert fc.HORIZON == 3 and len(fc.forecast([1, 2, 3])["naive"]) == 3


def test_bad_series_are_refused_naming_what_is_wrong():
    with pytest.raises(ValidationError, match=r"seasonal_naive.*needs at least 12 months"):
        fc.seasonal_naive([1, 2, 3])
    with pytest.raises(ValidationError, match=r"history\[1\].*'abc'.*is not a number"):
        fc.naive([1, "abc"])
    with pytest.raises(ValidationError, match=r"history\[0\].*is not a number"):
        fc.naive([float("nan")])
    with pytest.raises(ValidationError, match=r"history\[0\].*True.*is not a number"):
        fc.naive([True])
    with pytest.raises(ValidationError, match=r"horizon.*whole number >= 1"):
        fc.naive([1], 0)
    with pytest.raises(ValidationError, match=r"methods.*'arima'.*is not a method"):
        fc.forecast([1, 2, 3], methods=["naive", "arima"])
    with pytest.raises(ValidationError, match=r"months.*must label all 3 months"):
        fc.backtest([1, 2, 3], months=["a"])


# ---------------------------------------------------------------------------------------
# The backtest on synthetic series with known answers.
# ---------------------------------------------------------------------------------------


def test_a_constant_series_is_forecast_perfectly_by_every_method():
    graded = fc.score(fc.backtest([D("250.00")] * 15)).set_index("method")
    # months scored: every month from the 4th (3 before it), the seasonal from the 13th
    assert graded["months"].to_dict() == {
        "naive": 12,
        "moving_average_3": 12,
        "seasonal_naive": 3,
        "linear_trend": 12,
    }
    assert graded["mape"].tolist() == [0.0] * 4
    assert graded["bias"].tolist() == [0.0] * 4
    assert graded["mae"].tolist() == [D("0.00")] * 4
    assert graded["best"].tolist() == [True] * 4  # all tied for the lowest MAPE


def test_a_linear_series_only_the_trend_follows():
    """100, 110, ..., 210 (12 months). Scored months: the 4th to the 12th, actuals
    130..210 (nine months, sum 1530). Naive forecasts the month before: error -10
    each month; the 3-month mean is the value two steps back: error -20 each month;
    the trend is exact."""
    series = [100 + 10 * k for k in range(12)]
    detail = fc.backtest(series, months=[f"m{k + 1}" for k in range(12)])
    assert _row(detail, month="m4", method="naive") == {
        "month": "m4",
        "method": "naive",
        "forecast": D("120.00"),
        "actual": D("130.00"),
        "error": D("-10.00"),
    }
    assert set(detail[detail["method"] == "naive"]["error"]) == {D("-10.00")}
    assert set(detail[detail["method"] == "moving_average_3"]["error"]) == {D("-20.00")}
    assert set(detail[detail["method"] == "linear_trend"]["error"]) == {D("0.00")}
    assert "seasonal_naive" not in set(detail["method"])
    graded = fc.score(detail).set_index("method")
    naive_mape = sum(Fraction(10, a) for a in range(130, 211, 10)) / 9
    assert graded.loc["naive", "mape"] == pytest.approx(float(naive_mape))
    assert graded.loc["naive", "bias"] == pytest.approx(-90 / 1530)  # = -1/17
    assert graded.loc["naive", "mae"] == D("10.00")
    assert graded.loc["moving_average_3", "mape"] == pytest.approx(float(2 * naive_mape))
    assert graded.loc["moving_average_3", "bias"] == pytest.approx(-180 / 1530)  # = -2/17
    assert graded.loc["moving_average_3", "mae"] == D("20.00")
    assert (graded.loc["linear_trend", "mape"], graded.loc["linear_trend", "bias"]) == (0, 0)
    assert graded.loc["seasonal_naive"].to_dict() == {
        "months": 0,
        "mape": None,
        "bias": None,
        "mae": None,
        "best": False,
    }
    assert graded["best"].to_dict() == {
        "naive": False,
        "moving_average_3": False,
        "seasonal_naive": False,
        "linear_trend": True,
    }


def test_a_repeated_season_is_forecast_perfectly_by_seasonal_naive():
    pattern = [50, 60, 80, 120, 90, 70, 65, 75, 100, 140, 160, 200]
    detail = fc.backtest(pattern * 3)
    seasonal = detail[detail["method"] == "seasonal_naive"]
    assert seasonal["month"].tolist() == list(range(12, 36))  # from the 13th month on
    assert set(seasonal["error"]) == {D("0.00")}
    graded = fc.score(detail).set_index("method")
    assert graded.loc["seasonal_naive", "months"] == 24
    assert (graded.loc["seasonal_naive", "mape"], graded.loc["seasonal_naive", "bias"]) == (0, 0)
    assert graded["best"].tolist() == [False, False, True, False]
    assert graded.loc["naive", "mape"] > 0.1


def test_mape_skips_zero_actuals_and_bias_needs_a_non_zero_total():
    # Months 4..5 scored: naive forecasts 0 for an actual of 0 (no MAPE term), then 0
    # for 100: APE 1. bias = (0 - 100) / 100 = -1.
    graded = fc.score(fc.backtest([0, 0, 0, 0, 100], methods=["naive"]), methods=["naive"])
    assert graded.to_dict("records") == [
        {"method": "naive", "months": 2, "mape": 1.0, "bias": -1.0, "mae": D("50.00"), "best": True}
    ]
    zeros = fc.score(fc.backtest([0, 0, 0, 0]), methods=["naive"])
    assert zeros.to_dict("records") == [
        {
            "method": "naive",
            "months": 1,
            "mape": None,
            "bias": None,
            "mae": D("0.00"),
            "best": False,
        }
    ]


def test_learned_rate_is_won_over_reached():
    assert fc.learned_rate(2, 6) == pytest.approx(1 / 3)
    assert fc.learned_rate(0, 4) == 0.0
    assert fc.learned_rate(0, 0) is None
    assert fc.learned_weight(2, 5, 30) == D("0.4")
    assert fc.learned_weight(0, 0, 60) == D("0.6")  # nothing learned: the stage's 60 %
    with pytest.raises(ValueError, match="won <= reached_closed"):
        fc.learned_rate(3, 2)


def test_the_history_is_whole_months_before_the_current_one():
    today = dt.date(2026, 5, 15)
    default = fc.history_months(today)
    assert (len(default), default[0], default[-1]) == (
        24,
        dt.date(2024, 5, 1),
        dt.date(2026, 4, 1),
    )
    assert fc.history_months(today, dt.date(2025, 11, 20), dt.date(2026, 2, 3)) == [
        dt.date(2025, 11, 1),
        dt.date(2025, 12, 1),
        dt.date(2026, 1, 1),
        dt.date(2026, 2, 1),
    ]
    assert fc.history_months(today, period_from=dt.date(2026, 3, 9)) == [
        dt.date(2026, 3, 1),
        dt.date(2026, 4, 1),
    ]
    assert fc.history_months(today, period_from=dt.date(2026, 5, 2)) == [dt.date(2026, 5, 1)]
    assert len(fc.history_months(today, period_to=dt.date(2025, 12, 31))) == 24


# ---------------------------------------------------------------------------------------
# Learned stage rates and the weighted pipeline, on a small book.
# ---------------------------------------------------------------------------------------


@pytest.fixture
def deals(ws, clock):
    """Closed deals that teach the rates, and open deals to weigh.

    Stages (sequence, probability): New 10 (10 %), Qualified 20 (30 %), Proposition
    30 (60 %), Negotiation 40 (80 %), Won, Lost. bilal is in team Karachi, olga in
    Lahore. Today is 2026-05-15.

    Closed, with the open stages each passed (a jump passes those between; a won deal
    passed all of them):

    ====  =====  ===========================  ========  ==========================
    deal  owner  path                         closed    reached
    ====  =====  ===========================  ========  ==========================
    A     bilal  New > Qualified > Won        10 March  New, Qual, Prop, Neg (won)
    B     bilal  New > Qualified > Lost       10 March  New, Qual
    C     bilal  New > Lost                   10 March  New
    D     bilal  New > Qual > Negot. > Won    10 April  all four (won)
    E     olga   New > Negotiation > Lost     10 April  all four
    F     olga   New > Proposition > Lost     10 April  New, Qual, Prop
    Z     bilal  New > Proposition > Won      archived: left out
    ====  =====  ===========================  ========  ==========================

    Learned (reached, won): New 6, 2 -> 1/3; Qualified 5, 2 -> 2/5; Proposition 4, 2
    -> 1/2; Negotiation 3, 2 -> 2/3.

    Open (stage, entered probability, revenue, expected close):

    ====  =====  ============  ====  ===========  ==========  =========
    deal  owner  stage         prob  revenue      close       tag
    ====  =====  ============  ====  ===========  ==========  =========
    G     bilal  New           20    PKR 100,000  2026-05-20
    H     bilal  Qualified     30    PKR 200,000  2026-06-10
    I     olga   Proposition   60    PKR 400,000  2026-06-30
    J     bilal  Negotiation   80    USD  10,000  2026-06-15  export
    K     olga   New           10    PKR  50,000  2026-03-01  (overdue)
    L     olga   Qualified     30    PKR  80,000  none
    M     bilal  New (archived)      PKR     999  2026-05-20
    ====  =====  ============  ====  ===========  ==========  =========
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Lahore")
    p = ws.pipeline

    def deal(name, owner, revenue="1000.00", currency="PKR", **more):
        values = {"owner": owner, "expected_revenue": revenue, "currency": currency, **more}
        return p.create(name, **values)["id"]

    def closed(name, owner, stages, outcome):
        deal_id = deal(name, owner)
        for stage in stages:
            p.move(deal_id, stage)
        if outcome == "won":
            p.win(deal_id)
        else:
            p.lose(deal_id, "Too expensive")
        return deal_id

    start = clock.now
    clock.now = dt.datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    closed("A", "bilal", ["Qualified"], "won")
    closed("B", "bilal", ["Qualified"], "lost")
    closed("C", "bilal", [], "lost")
    clock.now = dt.datetime(2026, 4, 10, 12, 0, tzinfo=UTC)
    closed("D", "bilal", ["Qualified", "Negotiation"], "won")
    closed("E", "olga", ["Negotiation"], "lost")
    closed("F", "olga", ["Proposition"], "lost")
    p.archive(closed("Z", "bilal", ["Proposition"], "won"))
    clock.now = start
    deal("G", "bilal", "100000.00", expected_close="2026-05-20", probability=20)
    deal("H", "bilal", "200000.00", stage="Qualified", expected_close="2026-06-10")
    deal("I", "olga", "400000.00", stage="Proposition", expected_close="2026-06-30")
    deal(
        "J",
        "bilal",
        "10000.00",
        "USD",
        stage="Negotiation",
        expected_close="2026-06-15",
        tags=["export"],
    )
    deal("K", "olga", "50000.00", expected_close="2026-03-01")
    deal("L", "olga", "80000.00", stage="Qualified")
    p.archive(deal("M", "bilal", "999.00", expected_close="2026-05-20"))


def _rates(frame):
    """stage -> (mean_entered, reached_closed, won, learned_rate), rates rounded."""
    return {
        r["stage"]: (
            None if r["mean_entered"] is None else round(r["mean_entered"], 6),
            r["reached_closed"],
            r["won"],
            None if r["learned_rate"] is None else round(r["learned_rate"], 6),
        )
        for r in frame.to_dict("records")
    }


def test_stage_win_rates_learned_from_the_whole_history(ws, deals):
    frame = ws.reports.stage_win_rates()
    assert list(frame.columns) == [
        "pipeline",
        "stage",
        "sequence",
        "probability",
        "mean_entered",
        "reached_closed",
        "won",
        "learned_rate",
    ]
    assert frame[["pipeline", "stage", "sequence"]].values.tolist() == [
        ["Sales", "New", 10],
        ["Sales", "Qualified", 20],
        ["Sales", "Proposition", 30],
        ["Sales", "Negotiation", 40],
    ]
    assert frame["probability"].tolist() == pytest.approx([0.1, 0.3, 0.6, 0.8])
    # mean entered: New (G 20 + K 10) / 2, Qualified (H 30, L 30), I 60, J 80
    assert _rates(frame) == {
        "New": (0.15, 6, 2, round(1 / 3, 6)),
        "Qualified": (0.3, 5, 2, 0.4),
        "Proposition": (0.6, 4, 2, 0.5),
        "Negotiation": (0.8, 3, 2, round(2 / 3, 6)),
    }


def test_stage_win_rates_filters(ws, deals):
    # April closings only: D (won, all four), E (lost, all four), F (lost up to Prop.)
    april = ws.reports.stage_win_rates(period_from="2026-04-01", period_to="2026-04-30")
    assert _rates(april) == {
        "New": (0.15, 3, 1, round(1 / 3, 6)),
        "Qualified": (0.3, 3, 1, round(1 / 3, 6)),
        "Proposition": (0.6, 3, 1, round(1 / 3, 6)),
        "Negotiation": (0.8, 2, 1, 0.5),
    }
    # bilal: A, B, C, D closed; G, H, J open (no open deal in Proposition)
    assert _rates(ws.reports.stage_win_rates(owner="bilal")) == {
        "New": (0.2, 4, 2, 0.5),
        "Qualified": (0.3, 3, 2, round(2 / 3, 6)),
        "Proposition": (None, 2, 2, 1.0),
        "Negotiation": (0.8, 2, 2, 1.0),
    }
    # team Lahore = olga: E, F lost; K, I, L open
    assert _rates(ws.reports.stage_win_rates(team="Lahore")) == {
        "New": (0.1, 2, 0, 0.0),
        "Qualified": (0.3, 2, 0, 0.0),
        "Proposition": (0.6, 2, 0, 0.0),
        "Negotiation": (None, 1, 0, 0.0),
    }
    # no closed deal carries the tag: nothing learned
    assert _rates(ws.reports.stage_win_rates(tag="export")) == {
        "New": (None, 0, 0, None),
        "Qualified": (None, 0, 0, None),
        "Proposition": (None, 0, 0, None),
        "Negotiation": (0.8, 0, 0, None),
    }


def test_forecast_pipeline_weighs_entered_and_learned(ws, deals):
    """Learned: New 1/3, Qualified 2/5, Proposition 1/2, Negotiation 2/3.

    overdue PKR: K 50,000; entered 10 % = 5,000; learned 50,000 / 3 = 16,666.67
    2026-05 PKR: G 100,000; entered 20 % = 20,000; learned 33,333.33
    2026-06 PKR: H 200,000 + I 400,000; entered 60,000 + 240,000;
                 learned 200,000 x 2/5 + 400,000 / 2 = 80,000 + 200,000
    2026-06 USD: J 10,000; entered 8,000; learned 6,666.67
    (none) PKR: L 80,000; entered 24,000; learned 32,000
    """
    frame = ws.reports.forecast_pipeline()
    assert frame.values.tolist() == [
        ["overdue", "PKR", 1, D("50000.00"), D("5000.00"), D("16666.67")],
        ["2026-05", "PKR", 1, D("100000.00"), D("20000.00"), D("33333.33")],
        ["2026-06", "PKR", 2, D("600000.00"), D("300000.00"), D("280000.00")],
        ["2026-06", "USD", 1, D("10000.00"), D("8000.00"), D("6666.67")],
        ["(none)", "PKR", 1, D("80000.00"), D("24000.00"), D("32000.00")],
    ]


def test_forecast_pipeline_filters(ws, deals):
    # olga's history (E, F) won nothing: every learned rate is 0
    assert ws.reports.forecast_pipeline(owner="olga").values.tolist() == [
        ["overdue", "PKR", 1, D("50000.00"), D("5000.00"), D("0.00")],
        ["2026-06", "PKR", 1, D("400000.00"), D("240000.00"), D("0.00")],
        ["(none)", "PKR", 1, D("80000.00"), D("24000.00"), D("0.00")],
    ]
    # a sales user sees their own, as the owner filter does
    as_olga = ws.as_user("olga").reports.forecast_pipeline()
    assert as_olga.values.tolist() == ws.reports.forecast_pipeline(owner="olga").values.tolist()
    # nothing learned for tagged deals: J keeps Negotiation's configured 80 %
    assert ws.reports.forecast_pipeline(tag="export").values.tolist() == [
        ["2026-06", "USD", 1, D("10000.00"), D("8000.00"), D("8000.00")],
    ]
    june = ws.reports.forecast_pipeline(period_from="2026-06-01", period_to="2026-06-30")
    assert june[["month", "currency", "deals"]].values.tolist() == [
        ["2026-06", "PKR", 2],
        ["2026-06", "USD", 1],
    ]
    spring = ws.reports.forecast_pipeline(period_from="2026-01-01", period_to="2026-05-31")
    assert spring[["month", "deals", "weighted_learned"]].values.tolist() == [
        ["overdue", 1, D("16666.67")],
        ["2026-05", 1, D("33333.33")],
    ]
    with pytest.raises(ValidationError, match=r"tag.*no such tag"):
        ws.reports.forecast_pipeline(tag="nope")


# ---------------------------------------------------------------------------------------
# Revenue forecast and backtest on ERP invoice copies.
# ---------------------------------------------------------------------------------------


@pytest.fixture
def books(ws):
    """Invoices of Indus (bilal's customer) in PKR and of Kazan (olga's) in USD.

    PKR by month, Nov 2025 .. Apr 2026: 100,000; 120,000; 150,000 - refund 10,000 =
    140,000; 160,000; 180,000; 200,000 (a straight line, +20,000 a month). Left out:
    October's 777 (before the period), a draft, a vendor bill, May's 555 (the
    current month). USD: 5,000 in February 2026 only.

    Open deals: bilal's for Indus, PKR 100,000 in Proposition (60 %), expected
    2026-06-10 (no closed history: the configured 60 % stands, 60,000); olga's for
    Kazan without a close date.
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Lahore")
    indus = ws.companies.create(name="Indus Textiles")["id"]
    kazan = ws.companies.create(name="Kazan Home")["id"]
    ws.pipeline.create(
        "uniforms",
        owner="bilal",
        company=indus,
        stage="Proposition",
        expected_revenue="100000.00",
        currency="PKR",
        expected_close="2026-06-10",
    )
    ws.pipeline.create(
        "towels", owner="olga", company=kazan, expected_revenue="3000.00", currency="USD"
    )
    invoices = [
        # (move type, state, date, currency, untaxed, company)
        ("out_invoice", "posted", "2025-10-31", "PKR", "777.00", indus),
        ("out_invoice", "posted", "2025-11-05", "PKR", "100000.00", indus),
        ("out_invoice", "posted", "2025-12-10", "PKR", "120000.00", indus),
        ("out_invoice", "posted", "2026-01-15", "PKR", "150000.00", indus),
        ("out_refund", "posted", "2026-01-20", "PKR", "10000.00", indus),
        ("out_invoice", "posted", "2026-02-01", "PKR", "160000.00", indus),
        ("out_invoice", "posted", "2026-03-31", "PKR", "180000.00", indus),
        ("out_invoice", "posted", "2026-04-30", "PKR", "200000.00", indus),
        ("out_invoice", "draft", "2026-04-15", "PKR", "999.00", indus),
        ("in_invoice", "posted", "2026-04-16", "PKR", "5555.00", indus),
        ("out_invoice", "posted", "2026-05-03", "PKR", "555.00", indus),
        ("out_invoice", "posted", "2026-02-14", "USD", "5000.00", kazan),
    ]
    with ws.transaction() as s:
        for n, (kind, state, day, cur, untaxed, company) in enumerate(invoices, start=1):
            s.add(
                Invoice(
                    backend="odoo-test",
                    remote_id=n,
                    move_type=kind,
                    state=state,
                    company_id=company,
                    currency=cur,
                    amount_untaxed=D(untaxed),
                    amount_total=D(untaxed) * D("1.18"),
                    amount_residual=D(0),
                    invoice_date=dt.date.fromisoformat(day),
                )
            )


HALF_YEAR = {"period_from": "2025-11-01", "period_to": "2026-04-30"}
PKR_ACTUALS = ["100000.00", "120000.00", "140000.00", "160000.00", "180000.00", "200000.00"]
MONTHS = ["2025-11", "2025-12", "2026-01", "2026-02", "2026-03", "2026-04"]


def test_revenue_forecast_history_and_forecasts(ws, books):
    frame = ws.reports.revenue_forecast(**HALF_YEAR)
    pkr = frame[frame["currency"] == "PKR"]
    actual = pkr[pkr["kind"] == "actual"]
    assert actual[["month", "method", "revenue"]].values.tolist() == [
        [m, "actual", D(r)] for m, r in zip(MONTHS, PKR_ACTUALS, strict=True)
    ]
    # naive 200,000; mean of the last three 180,000; trend +20,000 a month; the
    # seasonal method needs 12 months; pipeline: bilal's deal in June at 60 %.
    ahead = pkr[pkr["kind"] == "forecast"]
    assert ahead[["month", "method", "revenue"]].values.tolist() == [
        ["2026-05", "naive", D("200000.00")],
        ["2026-05", "moving_average_3", D("180000.00")],
        ["2026-05", "linear_trend", D("220000.00")],
        ["2026-05", "pipeline", D("0.00")],
        ["2026-06", "naive", D("200000.00")],
        ["2026-06", "moving_average_3", D("180000.00")],
        ["2026-06", "linear_trend", D("240000.00")],
        ["2026-06", "pipeline", D("60000.00")],
        ["2026-07", "naive", D("200000.00")],
        ["2026-07", "moving_average_3", D("180000.00")],
        ["2026-07", "linear_trend", D("260000.00")],
        ["2026-07", "pipeline", D("0.00")],
    ]
    usd = frame[frame["currency"] == "USD"]
    assert usd[usd["kind"] == "actual"]["revenue"].tolist() == [
        D("0.00"),
        D("0.00"),
        D("0.00"),
        D("5000.00"),
        D("0.00"),
        D("0.00"),
    ]
    may_usd = usd[usd["month"] == "2026-05"]
    assert may_usd[["method", "revenue"]].values.tolist() == [
        ["naive", D("0.00")],
        ["moving_average_3", D("1666.67")],
        ["linear_trend", D("1333.33")],
        ["pipeline", D("0.00")],
    ]


def test_revenue_forecast_default_history_and_owner_filters(ws, books):
    frame = ws.reports.revenue_forecast()
    pkr = frame[(frame["currency"] == "PKR") & (frame["kind"] == "actual")]
    # 24 full months, May 2024 .. April 2026; May 2026's invoice is not history
    assert (len(pkr), pkr["month"].iloc[0], pkr["month"].iloc[-1]) == (24, "2024-05", "2026-04")
    assert _row(pkr, month="2025-10")["revenue"] == D("777.00")
    assert sum(pkr["revenue"]) == D("900777.00")
    forecasts = frame[(frame["currency"] == "PKR") & (frame["kind"] == "forecast")]
    assert sorted(set(forecasts["method"])) == [
        "linear_trend",
        "moving_average_3",
        "naive",
        "pipeline",
        "seasonal_naive",
    ]
    # seasonal: May 2026 = May 2025 = 0, June = 0, July = 0
    seasonal = forecasts[forecasts["method"] == "seasonal_naive"]
    assert seasonal["revenue"].tolist() == [D("0.00")] * 3
    # olga's customer is Kazan: only the USD invoice; bilal's (team Karachi) Indus
    olga = ws.reports.revenue_forecast(owner="olga", **HALF_YEAR)
    assert set(olga["currency"]) == {"USD"}
    # olga's deal has no close date: her pipeline forecast is zero
    assert olga[olga["method"] == "pipeline"]["revenue"].tolist() == [D("0.00")] * 3
    karachi = ws.reports.revenue_forecast(team="Karachi", **HALF_YEAR)
    assert set(karachi["currency"]) == {"PKR"}
    assert (
        karachi.values.tolist()
        == ws.reports.revenue_forecast(owner="bilal", **HALF_YEAR).values.tolist()
    )
    with pytest.raises(ValidationError, match=r"tag.*does not apply here"):
        ws.reports.revenue_forecast(tag="export")


def test_forecast_backtest_on_the_invoice_history(ws, books):
    """PKR: months scored Feb, Mar, Apr 2026 (actual 160k, 180k, 200k).

    naive: 140k, 160k, 180k, error -20k each: MAPE (1/8 + 1/9 + 1/10) / 3, bias
    -60k / 540k = -1/9, MAE 20,000. 3-month mean: 120k, 140k, 160k, error -40k:
    MAPE (1/4 + 2/9 + 1/5) / 3, bias -2/9, MAE 40,000. Trend: exact. Seasonal: not
    scored (12 months needed).

    USD: actuals 0, 0, 0, 5000, 0, 0; scored Feb (5000), Mar (0), Apr (0).
    naive 0, 5000, 0: errors -5000, +5000, 0: MAPE 1 (Feb only), bias 0, MAE 3,333.33.
    mean: 0, 1666.67, 1666.67: errors -5000, +1666.67, +1666.67: bias -1666.66 /
    5000, MAE 8333.34 / 3 = 2777.78. Trend over [0,0,0] -> 0; over [0,0,0,5000] ->
    5000; over [0,0,0,5000,0] -> 2500: errors -5000, +5000, +2500: bias 0.5, MAE
    4166.67. Every method has MAPE 1 (only February counts): all tied, all best.
    """
    summary = ws.reports.forecast_backtest(**HALF_YEAR)
    assert list(summary.columns) == ["currency", "method", "months", "mape", "bias", "mae", "best"]
    assert summary[["currency", "method"]].values.tolist() == [["PKR", m] for m in ALL] + [
        ["USD", m] for m in ALL
    ]
    pkr = summary[summary["currency"] == "PKR"].set_index("method")
    assert pkr.loc["naive", "months"] == 3
    assert pkr.loc["naive", "mape"] == pytest.approx((1 / 8 + 1 / 9 + 1 / 10) / 3)
    assert pkr.loc["naive", "bias"] == pytest.approx(-1 / 9)
    assert pkr.loc["naive", "mae"] == D("20000.00")
    assert pkr.loc["moving_average_3", "mape"] == pytest.approx((1 / 4 + 2 / 9 + 1 / 5) / 3)
    assert pkr.loc["moving_average_3", "bias"] == pytest.approx(-2 / 9)
    assert pkr.loc["moving_average_3", "mae"] == D("40000.00")
    assert pkr.loc["linear_trend"].to_dict() == {
        "currency": "PKR",
        "months": 3,
        "mape": 0.0,
        "bias": 0.0,
        "mae": D("0.00"),
        "best": True,
    }
    assert pkr.loc["seasonal_naive", "months"] == 0
    assert pkr["best"].tolist() == [False, False, False, True]
    usd = summary[summary["currency"] == "USD"].set_index("method")
    assert usd.loc["naive", ["months", "mape", "bias", "mae"]].tolist() == [
        3,
        1.0,
        0.0,
        D("3333.33"),
    ]
    assert usd.loc["moving_average_3", "bias"] == pytest.approx(-0.333332)
    assert usd.loc["moving_average_3", "mae"] == D("2777.78")
    assert usd.loc["linear_trend", "bias"] == pytest.approx(0.5)
    assert usd.loc["linear_trend", "mae"] == D("4166.67")
    assert usd["best"].tolist() == [True, True, False, True]

    detail = ws.reports.forecast_backtest_detail(**HALF_YEAR)
    assert list(detail.columns) == ["currency", "month", "method", "forecast", "actual", "error"]
    february = detail[(detail["currency"] == "PKR") & (detail["month"] == "2026-02")]
    assert february[["method", "forecast", "actual", "error"]].values.tolist() == [
        ["naive", D("140000.00"), D("160000.00"), D("-20000.00")],
        ["moving_average_3", D("120000.00"), D("160000.00"), D("-40000.00")],
        ["linear_trend", D("160000.00"), D("160000.00"), D("0.00")],
    ]
    assert len(detail) == 2 * 3 * 3  # two currencies, three months, three methods
    assert set(detail["month"]) == {"2026-02", "2026-03", "2026-04"}


def test_reports_are_registered_with_their_charts(ws):
    names = ws.reports.names()
    for name in (
        "forecast_pipeline",
        "stage_win_rates",
        "revenue_forecast",
        "forecast_backtest",
        "forecast_backtest_detail",
    ):
        assert name in names
    assert ws.reports.spec("forecast_pipeline").chart.values == (
        "weighted_entered",
        "weighted_learned",
    )
    assert ws.reports.spec("revenue_forecast").chart.type == "line"
    assert ws.reports.spec("forecast_backtest_detail").chart.type == "line"
    assert "MAPE" in ws.reports.spec("forecast_backtest").doc
    empty = ws.reports.forecast_backtest()  # no invoice: zeros in the workspace currency
    assert set(empty["currency"]) == {"USD"}
    assert empty[empty["method"] == "naive"][["months", "mape", "bias"]].values.tolist() == [
        [21, None, None]
    ]
