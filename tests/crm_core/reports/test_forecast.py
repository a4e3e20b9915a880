"""Forecasting: the pure methods and the backtest on synthetic series with known
answers, then the reports (weighted pipeline, learned stage rates, revenue forecast,
backtest) on small hand-built books, on SQLite and PostgreSQL."""

import datetime as dt
from decimal import Decimal

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


# The backtest's grading on synthetic series: tests/crm_core/reports/test_backtest.py.
# ---------------------------------------------------------------------------------------


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
    assert len(fc.history_months(today, period_to=dt.date(2025, 12, 31))) == 24
    # A month not over is no history: not the current one, nor one to come (it would
    # count as a month of no revenue), whatever period_to says.
    assert fc.history_months(today, dt.date(2026, 3, 1), dt.date(2026, 8, 31)) == [
        dt.date(2026, 3, 1),
        dt.date(2026, 4, 1),
    ]
    assert fc.history_months(today, period_to=dt.date(2027, 3, 31))[-1] == dt.date(2026, 4, 1)
    for early in (dt.date(2026, 5, 2), dt.date(2026, 7, 1)):
        with pytest.raises(ValidationError) as refused:
            fc.history_months(today, period_from=early)
        [error] = refused.value.errors
        assert (error.field, error.value) == ("period_from", early.isoformat())
        assert "must be in a month that is over (before 2026-05)" in error.reason


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


ORIGINAL = ["month", "currency", "deals", "value", "weighted_entered", "weighted_learned"]
CONVERTED = [
    "reporting_currency",
    "value_converted",
    "weighted_entered_converted",
    "weighted_learned_converted",
]


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

    In the reporting currency (USD), without a PKR rate: J's row only; the others'
    converted cells stay empty and the run names the missing rate.
    """
    frame = ws.reports.forecast_pipeline()
    assert frame[ORIGINAL].values.tolist() == [
        ["overdue", "PKR", 1, D("50000.00"), D("5000.00"), D("16666.67")],
        ["2026-05", "PKR", 1, D("100000.00"), D("20000.00"), D("33333.33")],
        ["2026-06", "PKR", 2, D("600000.00"), D("300000.00"), D("280000.00")],
        ["2026-06", "USD", 1, D("10000.00"), D("8000.00"), D("6666.67")],
        ["(none)", "PKR", 1, D("80000.00"), D("24000.00"), D("32000.00")],
    ]
    assert frame[CONVERTED].values.tolist() == [
        ["USD", None, None, None],
        ["USD", None, None, None],
        ["USD", None, None, None],
        ["USD", D("10000.00"), D("8000.00"), D("6666.67")],
        ["USD", None, None, None],
    ]
    assert frame.attrs["missing_rates"].startswith("no rate for PKR on or before 2026-03-01")


def test_forecast_pipeline_converted_at_each_close_date(ws, deals):
    """1 USD = 200 PKR from 2026-01-01 and 250 PKR from 2026-06-01: May and overdue
    deals at 200, June's at 250, the deal without a close date at today's (200).

    overdue K: 50,000 / 200 = 250; entered 25; learned 16,666.67 / 200 = 83.33
    2026-05 G: 100,000 / 200 = 500; 100; 33,333.33 / 200 = 166.67
    2026-06 H + I: 600,000 / 250 = 2,400; 300,000 / 250 = 1,200; 280,000 / 250 = 1,120
    (none) L: 80,000 / 200 = 400; 120; 160
    """
    ws.rates.set("PKR", "2026-01-01", "200", base="USD")
    ws.rates.set("PKR", "2026-06-01", "250", base="USD")
    frame = ws.reports.forecast_pipeline()
    assert frame[["month", "currency", *CONVERTED]].values.tolist() == [
        ["overdue", "PKR", "USD", D("250.00"), D("25.00"), D("83.33")],
        ["2026-05", "PKR", "USD", D("500.00"), D("100.00"), D("166.67")],
        ["2026-06", "PKR", "USD", D("2400.00"), D("1200.00"), D("1120.00")],
        ["2026-06", "USD", "USD", D("10000.00"), D("8000.00"), D("6666.67")],
        ["(none)", "PKR", "USD", D("400.00"), D("120.00"), D("160.00")],
    ]
    assert frame.attrs["missing_rates"] == ""
    in_pkr = ws.reports.forecast_pipeline(currency="PKR")
    # 10,000 USD on 2026-06-15 at 250: 2,500,000 PKR; PKR rows unchanged. Learned:
    # 10,000 x 2/3 x 250 = 1,666,666.67, the exact weighted amount converted and
    # rounded once (not 6,666.67 USD rounded first: 1,666,667.50)
    assert in_pkr[CONVERTED].values.tolist()[3] == [
        "PKR",
        D("2500000.00"),
        D("2000000.00"),
        D("1666666.67"),
    ]
    assert in_pkr["value_converted"].tolist()[0] == D("50000.00")


def test_forecast_pipeline_and_pipeline_by_stage_convert_one_weighted_figure(ws):
    """27,200.50 USD at 15 % is 4,080.075 USD weighted; at 285 PKR a dollar that is
    1,162,821.375 PKR: 1,162,821.38 in both reports (rounding to 4,080.08 USD first
    gave 1,162,822.80 in the forecast)."""
    ws.rates.set("PKR", "2026-01-01", "285", base="USD")
    ws.pipeline.create(
        "Mini",
        expected_revenue="27200.50",
        currency="USD",
        probability="15",
        expected_close="2027-01-15",
    )
    by_stage = ws.reports.pipeline_by_stage(currency="PKR")
    forecast = ws.reports.forecast_pipeline(currency="PKR")
    assert by_stage["weighted_value_converted"].max() == D("1162821.38")
    assert forecast["weighted_entered_converted"].tolist() == [D("1162821.38")]


def test_forecast_pipeline_filters(ws, deals):
    # olga's history (E, F) won nothing: every learned rate is 0
    assert ws.reports.forecast_pipeline(owner="olga")[ORIGINAL].values.tolist() == [
        ["overdue", "PKR", 1, D("50000.00"), D("5000.00"), D("0.00")],
        ["2026-06", "PKR", 1, D("400000.00"), D("240000.00"), D("0.00")],
        ["(none)", "PKR", 1, D("80000.00"), D("24000.00"), D("0.00")],
    ]
    # a sales user sees their own, as the owner filter does
    as_olga = ws.as_user("olga").reports.forecast_pipeline()
    assert as_olga.values.tolist() == ws.reports.forecast_pipeline(owner="olga").values.tolist()
    assert len(as_olga) == 3
    # nothing learned for tagged deals: J keeps Negotiation's configured 80 %
    assert ws.reports.forecast_pipeline(tag="export")[ORIGINAL].values.tolist() == [
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

    Exchange rates: 1 USD = 200 PKR from 2025-01-01, 250 PKR from 2026-02-01. The
    workspace's reporting currency is USD.
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales", team="Lahore")
    indus = ws.companies.create(name="Indus Textiles", owner="bilal")["id"]
    kazan = ws.companies.create(name="Kazan Home", owner="olga")["id"]
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
    ws.rates.set("PKR", "2025-01-01", "200", base="USD")
    ws.rates.set("PKR", "2026-02-01", "250", base="USD")
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


#: bilal's customer (Indus) invoices in PKR only: the PKR figures unconverted.
BILAL_PKR = {"owner": "bilal", "currency": "PKR", **HALF_YEAR}
#: olga's customer (Kazan) invoices in USD only.
OLGA_USD = {"owner": "olga", "currency": "USD", **HALF_YEAR}


def test_revenue_forecast_history_and_forecasts(ws, books):
    frame = ws.reports.revenue_forecast(**BILAL_PKR)
    assert set(frame["currency"]) == {"PKR"}
    actual = frame[frame["kind"] == "actual"]
    assert actual[["month", "method", "revenue"]].values.tolist() == [
        [m, "actual", D(r)] for m, r in zip(MONTHS, PKR_ACTUALS, strict=True)
    ]
    # naive 200,000; mean of the last three 180,000; trend +20,000 a month; the
    # seasonal method needs 12 months; pipeline: bilal's deal in June at 60 %.
    ahead = frame[frame["kind"] == "forecast"]
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
    usd = ws.reports.revenue_forecast(**OLGA_USD)
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


def test_revenue_is_one_series_in_the_reporting_currency(ws, books):
    """Every invoice converted at the rate of its own date, then added up by month.

    In USD (the workspace's): PKR / 200 until January, / 250 from February:
    Nov 500, Dec 600, Jan (150,000 - 10,000) / 200 = 700, Feb 160,000 / 250 + 5,000
    = 5,640, Mar 720, Apr 800. The pipeline's June deal, 60,000 PKR weighted, closes
    2026-06-10: 240 USD. In PKR: February is 160,000 + 5,000 x 250 = 1,410,000.
    """
    frame = ws.reports.revenue_forecast(**HALF_YEAR)
    assert set(frame["currency"]) == {"USD"}
    actual = frame[frame["kind"] == "actual"]
    assert actual[["month", "revenue"]].values.tolist() == [
        ["2025-11", D("500.00")],
        ["2025-12", D("600.00")],
        ["2026-01", D("700.00")],
        ["2026-02", D("5640.00")],
        ["2026-03", D("720.00")],
        ["2026-04", D("800.00")],
    ]
    pipeline = frame[frame["method"] == "pipeline"]
    assert pipeline["revenue"].tolist() == [D("0.00"), D("240.00"), D("0.00")]
    assert frame[frame["method"] == "naive"]["revenue"].tolist() == [D("800.00")] * 3
    assert frame.attrs["missing_rates"] == ""
    in_pkr = ws.reports.revenue_forecast(currency="PKR", **HALF_YEAR)
    february = in_pkr[(in_pkr["kind"] == "actual") & (in_pkr["month"] == "2026-02")]
    assert february["revenue"].tolist() == [D("1410000.00")]
    backtest = ws.reports.forecast_backtest(**HALF_YEAR)
    assert set(backtest["currency"]) == {"USD"} and len(backtest) == 5


def test_months_not_over_are_not_history_whatever_the_period_says(ws, books):
    """Asked up to August while it is May: the history still ends with April (May's
    555 and the months to come are not months of revenue), the forecasts and the
    backtest are those of the half year."""
    later = {**BILAL_PKR, "period_to": "2026-08-31"}
    frame = ws.reports.revenue_forecast(**later)
    assert frame.equals(ws.reports.revenue_forecast(**BILAL_PKR))
    actual = frame[frame["kind"] == "actual"]
    assert actual["month"].tolist() == MONTHS
    scored = ws.reports.forecast_backtest(**later)
    assert scored.equals(ws.reports.forecast_backtest(**BILAL_PKR))
    with pytest.raises(ValidationError, match="period_from"):
        ws.reports.revenue_forecast(period_from="2026-05-01", currency="PKR")


def test_forecasts_keep_the_reporting_currencys_minor_units(ws, books):
    """A KWD forecast keeps its third decimal and a JPY one has none, in the history,
    every method, the pipeline and the backtest's errors.

    1 USD = 0.307 KWD = 150 JPY from 2025-01-01. In KWD the last three months are
    Feb (640 + 5,000) x 0.307 = 1,731.480, Mar 720 x 0.307 = 221.040 and Apr 800 x
    0.307 = 245.600: their mean 2,198.120 / 3 = 732.70666.. is 732.707 (two places
    would say 732.71). In JPY: Feb 846,000, Mar 108,000, Apr 120,000; the mean
    1,074,000 / 3 = 358,000 exactly, and the trend's 2026-05 is a whole yen.
    """
    ws.rates.set("KWD", "2025-01-01", "0.307", base="USD")
    ws.rates.set("JPY", "2025-01-01", "150", base="USD")
    kwd = ws.reports.revenue_forecast(currency="KWD", **HALF_YEAR)
    may = kwd[kwd["month"] == "2026-05"].set_index("method")["revenue"]
    assert may["naive"] == D("245.600")
    assert may["moving_average_3"] == D("732.707")
    amounts = [v for v in kwd["revenue"] if v is not None]
    assert {v.as_tuple().exponent for v in amounts} == {-3}
    jpy = ws.reports.revenue_forecast(currency="JPY", **HALF_YEAR)
    may = jpy[jpy["month"] == "2026-05"].set_index("method")["revenue"]
    assert may["moving_average_3"] == D("358000")
    assert {v.as_tuple().exponent for v in jpy["revenue"]} == {0}
    for currency, exponent in (("KWD", -3), ("JPY", 0)):
        detail = ws.reports.forecast_backtest_detail(currency=currency, **HALF_YEAR)
        assert len(detail)
        for col in ("forecast", "actual", "error"):
            assert {v.as_tuple().exponent for v in detail[col]} == {exponent}, (currency, col)
        graded = ws.reports.forecast_backtest(currency=currency, **HALF_YEAR)
        scored = graded[graded["months"] > 0]
        for col in ("mae", "bias"):
            assert {v.as_tuple().exponent for v in scored[col]} == {exponent}, (currency, col)


def test_a_missing_rate_is_named_and_nothing_is_forecast(ws, books):
    """No EUR rate at all: no month can be converted, none is shown as if complete,
    nothing is forecast or scored, and the run names the missing rate: EUR's (PKR and
    USD have theirs, against each other; a rate for them would change nothing)."""
    frame = ws.reports.revenue_forecast(currency="EUR", **HALF_YEAR)
    assert set(frame["kind"]) == {"actual"}
    assert frame["revenue"].tolist() == [None] * 6
    assert frame.attrs["missing_rates"] == "no rate for EUR on or before 2025-11-05 (to EUR)"
    assert frame.attrs["missing_rate_list"] == [("EUR", dt.date(2025, 11, 5))]
    summary = ws.reports.forecast_backtest(currency="EUR", **HALF_YEAR)
    assert summary["months"].tolist() == [0] * 5
    assert not summary["recommended"].any()
    assert set(summary["verdict"]) == {
        "not scored: exchange rates are missing for part of the history (see "
        "missing_rates); trust none until the rates are added"
    }
    assert "no rate for EUR" in summary.attrs["missing_rates"]
    assert summary.attrs["verdict"].startswith("not scored: exchange rates are missing")
    assert ws.reports.forecast_backtest_detail(currency="EUR", **HALF_YEAR).empty
    # a rate for EUR only from March: February's Kazan invoice (USD) still lacks one
    ws.rates.set("USD", "2026-03-01", "1.1", base="EUR")
    olga = ws.reports.revenue_forecast(**(OLGA_USD | {"currency": "EUR"}))
    assert olga["revenue"].tolist() == [D("0.00")] * 3 + [None] + [D("0.00")] * 2
    assert olga.attrs["missing_rates"] == "no rate for EUR on or before 2026-02-14 (to EUR)"


def test_revenue_forecast_default_history_and_owner_filters(ws, books):
    frame = ws.reports.revenue_forecast(owner="bilal", currency="PKR")
    pkr = frame[frame["kind"] == "actual"]
    # up to 24 full months, from the first invoiced month: October 2025 .. April
    # 2026 (the months before it are no data); May 2026's invoice is not history
    assert (len(pkr), pkr["month"].iloc[0], pkr["month"].iloc[-1]) == (7, "2025-10", "2026-04")
    assert frame.attrs["history_from"] == "2025-10"
    assert _row(pkr, month="2025-10")["revenue"] == D("777.00")
    assert sum(pkr["revenue"]) == D("900777.00")
    forecasts = frame[frame["kind"] == "forecast"]
    assert sorted(set(forecasts["method"])) == [
        "linear_trend",
        "moving_average_3",
        "naive",
        "pipeline",
    ]
    # no seasonal forecast from 23 invented zeros: 7 months are not a season
    assert frame.attrs["not_forecast"] == {
        "seasonal_naive": "not enough history: needs 12 months, the history has 7 (from 2025-10)"
    }
    # olga's customer is Kazan: only the USD invoice; bilal's (team Karachi) Indus
    olga = ws.reports.revenue_forecast(owner="olga", **HALF_YEAR)
    assert olga[olga["kind"] == "actual"]["revenue"].sum() == D("5000.00")
    # olga's deal has no close date: her pipeline forecast is zero
    assert olga[olga["method"] == "pipeline"]["revenue"].tolist() == [D("0.00")] * 3
    karachi = ws.reports.revenue_forecast(team="Karachi", **HALF_YEAR)
    assert karachi[karachi["kind"] == "actual"]["revenue"].tolist()[0] == D("500.00")
    assert (
        karachi.values.tolist()
        == ws.reports.revenue_forecast(owner="bilal", **HALF_YEAR).values.tolist()
    )
    with pytest.raises(ValidationError, match=r"tag.*does not apply here"):
        ws.reports.revenue_forecast(tag="export")


def test_forecast_backtest_on_the_invoice_history(ws, books):
    """Every method on the same months: Feb, Mar, Apr 2026 (the seasonal method would
    need 12 months before, the pipeline a journal from before February: the deals
    were recorded on 2026-05-15, so neither is scored).

    PKR (actual 160k, 180k, 200k): naive 140k, 160k, 180k, error -20k each: MAE
    20,000, MAPE (1/8 + 1/9 + 1/10) / 3, bias -20,000 (-60k / 540k = -1/9), MASE 1.
    3-month mean: 120k, 140k, 160k: MAE 40,000, bias -2/9, MASE 2. Trend: exact,
    MASE 0: recommended.

    USD: actuals 0, 0, 0, 5000, 0, 0; scored Feb (5000), Mar (0), Apr (0). naive 0,
    5000, 0: MAE 3,333.33; mean: 0, 1666.67, 1666.67: MAE 8333.34 / 3 = 2777.78,
    MASE 0.83 but bias -1666.66 / 5000 = -33 %; trend 0, 5000, 2500: MAE 4166.67.
    Forecasting zero errs 5000 / 3 = 1666.67: every method is worse than that.
    """
    summary = ws.reports.forecast_backtest(**BILAL_PKR)
    assert list(summary.columns) == [
        "currency",
        "method",
        "months",
        "mae",
        "mape",
        "bias",
        "bias_pct",
        "mase",
        "recommended",
        "verdict",
    ]
    methods = [*ALL, "pipeline"]
    assert summary[["currency", "method"]].values.tolist() == [["PKR", m] for m in methods]
    pkr = summary.set_index("method")
    assert pkr["months"].tolist() == [3, 3, 0, 3, 0]
    assert pkr.loc["naive", "mape"] == pytest.approx((1 / 8 + 1 / 9 + 1 / 10) / 3)
    assert pkr.loc["naive", ["mae", "bias", "mase"]].tolist() == [
        D("20000.00"),
        D("-20000.00"),
        1.0,
    ]
    assert pkr.loc["naive", "bias_pct"] == pytest.approx(-1 / 9)
    assert pkr.loc["moving_average_3", "mape"] == pytest.approx((1 / 4 + 2 / 9 + 1 / 5) / 3)
    assert pkr.loc["moving_average_3", "bias_pct"] == pytest.approx(-2 / 9)
    assert pkr.loc["moving_average_3", ["mae", "mase"]].tolist() == [D("40000.00"), 2.0]
    assert pkr.loc["linear_trend"].to_dict() == {
        "currency": "PKR",
        "months": 3,
        "mae": D("0.00"),
        "mape": 0.0,
        "bias": D("0.00"),
        "bias_pct": 0.0,
        "mase": 0.0,
        "recommended": True,
        "verdict": "recommended: lowest MASE (0.00), bias +0%",
    }
    assert pkr["recommended"].tolist() == [False, False, False, True, False]
    assert summary.attrs["verdict"] == (
        "trust linear_trend: MASE 0.00, bias +0%, on the same 3 months as every other "
        "method (only 3 months scored: a weak guide)"
    )
    assert pkr.loc["naive", "verdict"] == (
        "baseline: last month's figure. Trust linear_trend: MASE 0.00, bias +0%, on the "
        "same 3 months as every other method (only 3 months scored: a weak guide)"
    )
    assert pkr.loc["pipeline", "verdict"] == (
        "not scored: the journal holds the deals' history from 2026-05-15 only: it can "
        "forecast 0 of the 6 months of this history, and at least 3 are needed"
    )
    usd = ws.reports.forecast_backtest(**OLGA_USD).set_index("method")
    assert usd.loc["naive", ["months", "mape", "bias", "mae"]].tolist() == [
        3,
        1.0,
        D("0.00"),
        D("3333.33"),
    ]
    assert usd.loc["moving_average_3", "bias_pct"] == pytest.approx(-0.333332)
    assert usd.loc["moving_average_3", "mae"] == D("2777.78")
    assert usd.loc["moving_average_3", "mase"] == pytest.approx(8333.34 / 10000)
    assert usd.loc["linear_trend", "bias_pct"] == pytest.approx(0.5)
    assert usd.loc["linear_trend", "mae"] == D("4166.67")
    assert not usd["recommended"].any()
    assert usd.loc["naive", "verdict"] == (
        "baseline: last month's figure; worse than forecasting zero. Every method, last "
        "month's figure included, is worse than forecasting zero; trust none (only 3 "
        "months scored: a weak guide)"
    )

    detail = ws.reports.forecast_backtest_detail(**BILAL_PKR)
    assert list(detail.columns) == ["currency", "month", "method", "forecast", "actual", "error"]
    february = detail[detail["month"] == "2026-02"]
    assert february[["method", "forecast", "actual", "error"]].values.tolist() == [
        ["naive", D("140000.00"), D("160000.00"), D("-20000.00")],
        ["moving_average_3", D("120000.00"), D("160000.00"), D("-40000.00")],
        ["linear_trend", D("160000.00"), D("160000.00"), D("0.00")],
    ]
    assert len(detail) == 3 * 3  # three months, three methods
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
    empty = ws.reports.forecast_backtest()  # no invoice: no history, nothing scored
    assert set(empty["currency"]) == {"USD"}
    naive = empty[empty["method"] == "naive"]
    assert naive[["months", "mape", "bias_pct", "mase"]].values.tolist() == [[0, None, None, None]]
    assert empty.attrs["verdict"] == "not enough history to compare the methods; trust none"
    assert empty.set_index("method").loc["pipeline", "verdict"] == (
        "not scored: the journal holds no deal's history yet: the history holds no month yet"
    )


@pytest.fixture
def deal_history(ws, books, clock):
    """The ``books``, plus deals whose history the journal holds since 2026-01-10:

    ==========  ==========================================================  ======
    when        what                                                        owner
    ==========  ==========================================================  ======
    2026-01-10  dyeing: PKR 200,000, Proposition (60 %), close 2026-02-20   bilal
    2026-01-10  looms: PKR 100,000, New, close 2026-03-15                   bilal
    2026-02-10  looms: PKR 300,000, close 2026-03-20, moved to Negotiation
    2026-02-25  dyeing won
    2026-03-05  looms: close 2026-04-05 (slipped)
    2026-03-10  cotton: PKR 50,000, New, close 2026-04-28                   olga
    2026-04-15  looms: PKR 999,999 (today's amount, not the one forecast)
    2026-04-20  looms won
    ==========  ==========================================================  ======
    """
    p = ws.pipeline
    start = clock.now
    indus = int(ws.companies.search("Indus")["id"].iloc[0])

    def at(day):
        clock.now = dt.datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)

    common = {"company": indus, "currency": "PKR"}
    at("2026-01-10")
    dyeing = p.create(
        "dyeing",
        owner="bilal",
        stage="Proposition",
        expected_revenue="200000.00",
        expected_close="2026-02-20",
        **common,
    )["id"]
    looms = p.create(
        "looms", owner="bilal", expected_revenue="100000.00", expected_close="2026-03-15", **common
    )["id"]
    at("2026-02-10")
    p.update(looms, expected_revenue="300000.00", expected_close="2026-03-20")
    p.move(looms, "Negotiation")
    at("2026-02-25")
    p.win(dyeing)
    at("2026-03-05")
    p.update(looms, expected_close="2026-04-05")
    at("2026-03-10")
    p.create(
        "cotton", owner="olga", expected_revenue="50000.00", expected_close="2026-04-28", **common
    )
    at("2026-04-15")
    p.update(looms, expected_revenue="999999.00")
    at("2026-04-20")
    p.win(looms)
    clock.now = start


def test_the_pipeline_forecast_is_replayed_from_the_journal(ws, deal_history):
    """The pipeline as it stood at the start of each month scored (Feb, Mar, Apr 2026),
    weighted by the stage rates learned from the deals closed before then:

    - 1 Feb: nothing closed yet, so Proposition keeps its configured 60 %: dyeing
      200,000 x 0.6 = 120,000 (looms closes in March);
    - 1 Mar: dyeing was won (it passed every open stage): every rate is 1/1. looms,
      300,000 in Negotiation, closing 2026-03-20: 300,000;
    - 1 Apr: looms slipped to 2026-04-05: 300,000, and olga's cotton 50,000
      (looms's later 999,999 is not what was known then).

    bilal's, in PKR (Indus's invoices, his deals): 120k, 300k, 300k against 160k,
    180k, 200k: errors -40k, +120k, +100k: MAE 86,666.67, bias +60,000 (+180k /
    540k = 1/3), MASE 86,666.67 / 20,000 (naive's MAE).
    """
    summary = ws.reports.forecast_backtest(**BILAL_PKR).set_index("method")
    assert summary["months"].tolist() == [3, 3, 0, 3, 3]  # the pipeline on the same months
    pipeline = summary.loc["pipeline"]
    assert pipeline[["mae", "bias"]].tolist() == [D("86666.67"), D("60000.00")]
    assert pipeline["bias_pct"] == pytest.approx(1 / 3)
    assert pipeline["mase"] == pytest.approx(86666.67 / 20000, abs=1e-5)
    assert pipeline["verdict"] == "worse than last month's figure (MASE 4.33, bias +33%)"
    assert summary.loc["linear_trend", "recommended"]
    detail = ws.reports.forecast_backtest_detail(**BILAL_PKR)
    replayed = detail[detail["method"] == "pipeline"]
    assert replayed[["month", "forecast", "actual"]].values.tolist() == [
        ["2026-02", D("120000.00"), D("160000.00")],
        ["2026-03", D("300000.00"), D("180000.00")],
        ["2026-04", D("300000.00"), D("200000.00")],
    ]
    # everyone's deals, in USD: each deal converted at its expected close date (250
    # PKR a dollar from February): 480, 1,200, 1,200 + cotton's 200 = 1,400
    everyone = ws.reports.forecast_backtest_detail(**HALF_YEAR)
    assert everyone[everyone["method"] == "pipeline"]["forecast"].tolist() == [
        D("480.00"),
        D("1200.00"),
        D("1400.00"),
    ]
    # olga sees her own deals' history only: it starts 2026-03-10 and covers April
    # alone, too little to compare: the pipeline is left out, the others keep 3 months
    # (her revenue: the invoices of the customers she owns; give her Indus)
    ws.companies.update(int(ws.companies.search("Indus")["id"].iloc[0]), owner="olga")
    olga = ws.as_user("olga").reports.forecast_backtest(**HALF_YEAR).set_index("method")
    assert olga["months"].tolist() == [3, 3, 0, 3, 0]
    assert olga.loc["pipeline", "verdict"] == (
        "not scored: the journal holds the deals' history from 2026-03-10 only: it can "
        "forecast 1 of the 6 months of this history, and at least 3 are needed"
    )
