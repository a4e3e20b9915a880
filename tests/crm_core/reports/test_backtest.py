"""The backtest's grading on synthetic series whose right answer is known: every
method on the same months, the scale-free error against last month's figure, a
biased method never recommended, every method worse than the baseline (or than
forecasting zero) flagged in words, and MAPE guarded against near-zero months."""

from decimal import Decimal
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from crm_core import ValidationError
from crm_core.reports import backtest as bt

D = Decimal
ALL = ["naive", "moving_average_3", "seasonal_naive", "linear_trend"]


def _detail(actuals, **forecasts):
    """A hand-built backtest detail: month k, each method's forecast of it."""
    rows = [
        {
            "month": k,
            "method": name,
            "forecast": D(values[k]),
            "actual": D(actual),
            "error": D(values[k]) - D(actual),
        }
        for k, actual in enumerate(actuals)
        for name, values in forecasts.items()
    ]
    return pd.DataFrame(rows, columns=bt.BACKTEST_COLUMNS)


def test_every_method_is_scored_on_the_same_months():
    """15 months: the seasonal method can forecast months 13..15 only (it needs 12
    before), so the others are scored on those three as well, not on their twelve."""
    series = [100 + 10 * k for k in range(15)]
    detail = bt.backtest(series)
    assert detail.attrs["months"] == [12, 13, 14]
    per_method = detail.groupby("method")["month"].apply(list).to_dict()
    assert per_method == {m: [12, 13, 14] for m in ALL}
    graded = bt.score(detail).set_index("method")
    assert graded["months"].tolist() == [3, 3, 3, 3]
    # naive lags by 10 each month, the seasonal by 12 x 10 = 120: MASE 12
    assert graded.loc["seasonal_naive", "mae"] == D("120.00")
    assert graded.loc["seasonal_naive", "mase"] == pytest.approx(12.0)
    assert "only 3 months scored: a weak guide" in graded.attrs["verdict"]


def test_a_method_that_could_forecast_too_few_months_is_left_out_with_the_reason():
    """14 months: the seasonal method could forecast 2 months, fewer than MIN_SCORED
    (3): it is left out and the others compare on months 4..14 (eleven)."""
    graded = bt.score(bt.backtest([100 + 10 * k for k in range(14)])).set_index("method")
    assert graded["months"].to_dict() == {
        "naive": 11,
        "moving_average_3": 11,
        "seasonal_naive": 0,
        "linear_trend": 11,
    }
    assert graded.loc["seasonal_naive", "verdict"] == (
        "not scored: needs 12 months of history before each month it forecasts: it can "
        "forecast 2 of the 14 months of this history, and at least 3 are needed"
    )
    assert graded.loc["seasonal_naive", ["mae", "mape", "mase"]].tolist() == [None] * 3


def test_a_linear_series_only_the_trend_follows_and_is_recommended():
    """100, 110, ..., 210 (12 months); months 4..12 scored (actuals 130..210, sum
    1530). Naive is 10 low every month, the 3-month mean 20 low, the trend exact."""
    series = [100 + 10 * k for k in range(12)]
    detail = bt.backtest(series, months=[f"m{k + 1}" for k in range(12)])
    assert detail.attrs["months"] == [f"m{k}" for k in range(4, 13)]
    assert set(detail[detail["method"] == "naive"]["error"]) == {D("-10.00")}
    assert set(detail[detail["method"] == "moving_average_3"]["error"]) == {D("-20.00")}
    assert set(detail[detail["method"] == "linear_trend"]["error"]) == {D("0.00")}
    graded = bt.score(detail).set_index("method")
    naive_mape = sum(Fraction(10, a) for a in range(130, 211, 10)) / 9
    assert graded.loc["naive"].to_dict() == {
        "months": 9,
        "mae": D("10.00"),
        "mape": pytest.approx(float(naive_mape)),
        "bias": D("-10.00"),
        "bias_pct": pytest.approx(-90 / 1530),
        "mase": 1.0,
        "recommended": False,
        "verdict": "baseline: last month's figure. Trust linear_trend: MASE 0.00, bias +0%, "
        "on the same 9 months as every other method",
    }
    assert graded.loc["moving_average_3", "mase"] == pytest.approx(2.0)
    assert graded.loc["moving_average_3", "bias"] == D("-20.00")
    assert graded.loc["moving_average_3", "verdict"] == (
        "worse than last month's figure (MASE 2.00, bias -12%)"
    )
    assert graded.loc["linear_trend", ["mae", "mase", "recommended"]].tolist() == [
        D("0.00"),
        0.0,
        True,
    ]
    assert graded.loc["linear_trend", "verdict"] == "recommended: lowest MASE (0.00), bias +0%"
    assert graded["recommended"].sum() == 1


def test_a_repeated_season_is_forecast_perfectly_by_seasonal_naive():
    pattern = [50, 60, 80, 120, 90, 70, 65, 75, 100, 140, 160, 200]
    detail = bt.backtest(pattern * 3)
    assert detail.attrs["months"] == list(range(12, 36))
    graded = bt.score(detail).set_index("method")
    assert graded["months"].tolist() == [24] * 4
    assert graded.loc["seasonal_naive", ["mae", "bias", "mase"]].tolist() == [
        D("0.00"),
        D("0.00"),
        0.0,
    ]
    assert graded["recommended"].tolist() == [False, False, True, False]


def test_a_biased_method_does_not_win_even_with_the_lowest_error():
    """Actuals 100, 200, 300, 400. Naive (the month before) forecasts 400, 100, 400,
    100: errors +300, -100, +100, -300, MAE 200. "half" forecasts half of each
    month: errors -50, -100, -150, -200, MAE 125 (MASE 0.625), MAPE 50 %, but bias
    -500 / 1000 = -50 %. "fair" misses by 150 either way: MAE 150 (MASE 0.75),
    MAPE (1.5 + 0.75 + 0.5 + 0.375) / 4 = 78.125 %, bias 0.

    The lowest MAPE and the lowest MASE both belong to "half", which forecasts half
    the revenue: it must not win; "fair" is recommended."""
    graded = bt.score(
        _detail(
            [100, 200, 300, 400],
            naive=[400, 100, 400, 100],
            half=[50, 100, 150, 200],
            fair=[250, 50, 450, 250],
        )
    ).set_index("method")
    assert graded.loc["half"].to_dict() == {
        "months": 4,
        "mae": D("125.00"),
        "mape": pytest.approx(0.5),
        "bias": D("-125.00"),
        "bias_pct": pytest.approx(-0.5),
        "mase": pytest.approx(0.625),
        "recommended": False,
        "verdict": "beats last month's figure (MASE 0.62) but forecasts 50% too low: "
        "too biased to trust",
    }
    assert graded.loc[
        "fair", ["mae", "mape", "bias", "bias_pct", "mase", "recommended"]
    ].tolist() == [
        D("150.00"),
        pytest.approx(0.78125),
        D("0.00"),
        0.0,
        pytest.approx(0.75),
        True,
    ]
    assert graded.loc["fair", "verdict"] == "recommended: lowest MASE (0.75), bias +0%"


def test_a_lagging_average_with_the_lowest_mase_and_mape_loses_on_its_bias():
    """A zigzag on a trend: 100 + 30k + 50(-1)^k, k = 0..11, scored on months 4..12.

    3-month mean (to the cent): the high months are 126.67 too low (4 of them), the
    low months 6.67 too high (5): MAE (506.68 + 33.35) / 9 = 60.00, bias -473.33 / 9,
    bias_pct -473.33 / 2740 = -17.3 % (the actuals scored sum to 2740). Naive: +70
    on low months, -130 on high ones: MAE 870/9, so the mean's MASE is 540.03/870.
    The trend (least squares over up to 12 months, worked out below with numpy) errs
    more but is nearly unbiased: it wins."""
    series = [100 + 30 * k + 50 * (-1) ** k for k in range(12)]
    graded = bt.score(bt.backtest(series)).set_index("method")
    mean = graded.loc["moving_average_3"]
    assert mean["mae"] == D("60.00")
    assert mean["bias"] == D("-52.59")
    assert mean["bias_pct"] == pytest.approx(-473.33 / 2740)
    assert mean["mase"] == pytest.approx(540.03 / 870)
    assert not mean["recommended"]
    assert "forecasts 17% too low: too biased to trust" in mean["verdict"]
    # MAPE would have crowned it
    assert mean["mape"] == min(graded["mape"].dropna())
    trend_errors = []
    for i in range(3, 12):
        xs = np.arange(i)
        slope, intercept = np.polyfit(xs, series[:i], 1)
        trend_errors.append(round(slope * i + intercept, 2) - series[i])
    trend_mae = sum(abs(e) for e in trend_errors) / 9
    trend = graded.loc["linear_trend"]
    assert float(trend["mae"]) == pytest.approx(trend_mae, abs=0.01)
    assert trend["mase"] == pytest.approx(trend_mae / (870 / 9), abs=1e-4)
    assert abs(trend["bias_pct"]) < 0.01
    assert trend["recommended"]
    assert graded.attrs["verdict"].startswith("trust linear_trend: MASE 0.70")


def test_every_method_worse_than_last_months_figure_is_flagged_in_words():
    """Levels 100, 300, 200 held four months each. Months 4..12: naive errs only at
    the two steps (-200, +100): MAE 300/9. The 3-month mean takes three months to
    follow each step (-200, -133.33, -66.67, then +100, +66.67, +33.33): MAE 600/9,
    MASE 2. No method beats last month's figure."""
    graded = bt.score(bt.backtest([100] * 4 + [300] * 4 + [200] * 4))
    assert graded.attrs["verdict"] == "no method beats last month's figure; trust none"
    by = graded.set_index("method")
    assert by.loc["naive", "mae"] == D("33.33")
    assert by.loc["moving_average_3", "mase"] == pytest.approx(2.0)
    assert by.loc["naive", "verdict"] == (
        "baseline: last month's figure. No method beats last month's figure; trust none"
    )
    assert by.loc["moving_average_3", "verdict"].startswith("worse than last month's figure")
    assert by.loc["linear_trend", "verdict"].startswith("worse than last month's figure")
    assert not graded["recommended"].any()


def test_every_method_worse_than_forecasting_zero_is_said():
    """A spike of 300 every fourth month, 12 months, months 4..12 scored (spikes in
    months 4, 8 and 12): forecasting zero errs 900 in all, MAE 100. Naive misses
    each spike and the month after: MAE 1500/9 = 166.67."""
    graded = bt.score(bt.backtest([0, 0, 0, 300] * 3)).set_index("method")
    assert graded.loc["naive", "mae"] == D("166.67")
    assert graded.attrs["verdict"] == (
        "every method, last month's figure included, is worse than forecasting zero; trust none"
    )
    for method in ("naive", "moving_average_3", "linear_trend"):
        assert graded.loc[method, "verdict"].count("worse than forecasting zero") >= 1
    assert not graded["recommended"].any()


def test_a_method_better_than_naive_but_worse_than_zero_is_not_recommended():
    """0, 100, 0, 100, ...: naive errs 100 every month (MAE 100); forecasting zero
    errs 500/9 = 55.56. The 3-month mean (33.33 / 66.67) errs 66.67 every month:
    MASE 2/3, bias -13 %, and still worse than zero."""
    graded = bt.score(bt.backtest([0, 100] * 6)).set_index("method")
    mean = graded.loc["moving_average_3"]
    assert (mean["mae"], mean["mase"]) == (D("66.67"), pytest.approx(2 / 3, abs=1e-4))
    assert mean["verdict"] == (
        "beats last month's figure (MASE 0.67, bias -13%); worse than forecasting zero"
    )
    assert not graded["recommended"].any()


def test_mape_leaves_out_near_zero_months():
    """Actuals 1000, 0, 5, 995: mean 500, the guard (10 %) is 50: the months with 0
    and 5 are left out of MAPE (their APE would be infinite and 1900 %). Naive
    (1000 before the first) errs 0, +1000, -5, -990; MAPE = (0 + 990/995) / 2."""
    graded = bt.score(
        _detail(
            [1000, 0, 5, 995],
            naive=[1000, 1000, 0, 5],
            flat=[900, 500, 500, 900],
        )
    ).set_index("method")
    assert graded.loc["naive", "mape"] == pytest.approx((990 / 995) / 2)
    # flat: |-100|/1000 and |-95|/995; its months with 0 and 5 left out as well
    assert graded.loc["flat", "mape"] == pytest.approx((0.1 + 95 / 995) / 2)
    assert graded.loc["flat", "mae"] == D("297.50")  # (100 + 500 + 495 + 95) / 4
    zeros = bt.score(_detail([0, 0, 0], naive=[0, 0, 0])).set_index("method")
    assert (zeros.loc["naive", "mape"], zeros.loc["naive", "bias_pct"]) == (None, None)


def test_a_constant_series_needs_no_method():
    graded = bt.score(bt.backtest([D("250.00")] * 15)).set_index("method")
    assert graded["months"].tolist() == [3] * 4
    assert graded["mase"].tolist() == [1.0] * 4  # every error zero, the baseline's too
    assert not graded["recommended"].any()
    assert graded.attrs["verdict"].startswith(
        "last month's figure was exact on every month scored; no method beats it"
    )


def test_too_short_a_history_scores_nothing():
    graded = bt.score(bt.backtest([0, 0, 0, 0, 100]))
    assert graded["months"].tolist() == [0] * 4
    assert graded.attrs["verdict"] == "not enough history to compare the methods; trust none"
    assert graded.set_index("method").loc["naive", "verdict"].startswith("not scored: ")


def test_other_forecasts_join_on_the_months_they_cover():
    """A method given from outside (the pipeline's) forecasts months 6..8 only: the
    comparison shrinks to those three months for every method."""
    series = [100 + 10 * k for k in range(8)]
    given = [None] * 5 + [150, 160, 170]
    detail = bt.backtest(series, extra={"pipeline": given}, methods=["naive"])
    assert detail.attrs["months"] == [5, 6, 7]
    graded = bt.score(detail).set_index("method")
    assert graded["months"].to_dict() == {"naive": 3, "pipeline": 3}
    assert graded.loc["pipeline", "mase"] == 0.0
    # covering two months only, it is left out and the others keep their months
    short = bt.score(
        bt.backtest(series, extra={"pipeline": [None] * 6 + [160, 170]}, reasons={"pipeline": "x"})
    ).set_index("method")
    assert short.loc["naive", "months"] == 5
    assert short.loc["pipeline", "verdict"] == (
        "not scored: x: it can forecast 2 of the 8 months of this history, and at least 3 "
        "are needed"
    )


def test_unfair_or_broken_input_is_refused():
    with pytest.raises(ValidationError, match=r"every method must be scored on the same"):
        bt.score(_detail([1, 2, 3], naive=[1, 1, 2], other=[1, 1, 1]).iloc[:-1])
    with pytest.raises(ValidationError, match=r"baseline must be in the detail"):
        bt.score(_detail([1, 2, 3], other=[1, 1, 1]))
    with pytest.raises(ValidationError, match=r"months.*must label all 3 months"):
        bt.backtest([1, 2, 3], months=["a"])
    with pytest.raises(ValidationError, match=r"pipeline.*must give all 3 months"):
        bt.backtest([1, 2, 3], extra={"pipeline": [1]})
