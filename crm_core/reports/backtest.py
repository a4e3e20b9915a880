"""The backtest: which forecast to trust, and whether to trust any.

:func:`backtest` replays a monthly series: each month is forecast one step ahead by
every method from the months strictly before it (and by any method whose past
forecasts are given, such as the pipeline's), and compared with what happened.
Every method is scored on the **same months**: the months every method in the
comparison can forecast. A method that could forecast too few of them (fewer than
:data:`MIN_SCORED`) is left out of the comparison, with the reason, rather than
being compared on months of its own.

:func:`score` grades the replay, one row per method:

- ``mae``: mean absolute error, money;
- ``mape``: mean absolute percentage error, guarded against near-zero months: a
  month whose actual is below :data:`MAPE_FLOOR` (10 %) of the mean actual of the
  months scored is left out of it (a month with 0 or 50 invoiced would otherwise
  swamp the mean with a 100 % or 10,000 % error);
- ``bias``: mean signed error (forecast - actual), money, and ``bias_pct`` =
  sum(forecast - actual) / sum(actual), the same as a share of the mean actual
  (negative: forecasts too low);
- ``mase``: the scale-free error, the method's MAE divided by the MAE of the naive
  forecast (last month's figure) on the same months: below 1 beats the naive
  figure, 1 or more does not.

The **recommended** method has the lowest MASE among those that beat the naive
figure (MASE below 1) without a strong bias (``|bias_pct|`` at most
:data:`MAX_BIAS`, 15 %). MAPE does not choose: it rewards a method that forecasts
far too low (its errors are capped at 100 % below, unbounded above). Every row says
in words (``verdict``) why it is or is not to be trusted; when no method earns it,
the naive row says "no method beats last month's figure; trust none".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import pandas as pd

from crm_core.errors import FieldError, ValidationError
from crm_core.reports.forecast_methods import (
    METHODS,
    Number,
    as_series,
    needed_history,
    pick_methods,
    to_decimal,
    to_money,
)

#: The baseline every method must beat: the naive forecast, last month's figure.
BASELINE = "naive"
#: Fewest months a method must be able to forecast, in common with the others, to be
#: scored at all.
MIN_SCORED = 3
#: Fewer months scored than this and the verdict calls the comparison a weak guide.
FEW_MONTHS = 6
#: MAPE leaves out the months whose actual is below this share of the mean actual.
MAPE_FLOOR = Decimal("0.10")
#: A method whose |bias_pct| is above this is not recommended, whatever its error.
MAX_BIAS = Decimal("0.15")

BACKTEST_COLUMNS = ["month", "method", "forecast", "actual", "error"]
SCORE_COLUMNS = [
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
TRUST_NONE = "no method beats last month's figure; trust none"


def backtest(
    history: Sequence[Number] | pd.Series,
    months: Sequence[Any] | None = None,
    methods: Iterable[str] | None = None,
    *,
    extra: Mapping[str, Sequence[Number | None]] | None = None,
    reasons: Mapping[str, str] | None = None,
    currency: str | None = None,
) -> pd.DataFrame:
    """Replay ``history`` (monthly totals, oldest first) and return the forecasts of
    the months every method in the comparison can forecast.

    ``methods`` names some of :data:`~crm_core.reports.forecast_methods.METHODS`
    (default all); the baseline (:data:`BASELINE`) is always replayed, since every
    method is measured against it. Each replays month *i* from months ``0..i-1``
    once it has the history it needs. ``extra`` gives the past forecasts of other
    methods, one value per month of ``history`` (None where the method could not
    forecast that month); ``reasons`` says, per extra method, why it may lack months
    (used in the verdict when it is left out).

    Which months: each method can forecast some months; a method that can forecast
    fewer than :data:`MIN_SCORED` is left out; then, while the months common to all
    the others are fewer than :data:`MIN_SCORED`, the one with the fewest months is
    left out (never the baseline). The rest are scored on their common months.

    Columns: ``month`` (a label of ``months``, default the positions 0, 1, ...),
    ``method``, ``forecast``, ``actual``, ``error`` (forecast - actual), Decimals;
    ordered by month then method, rounded to ``currency``'s minor units (two places
    when None). ``attrs``: ``months`` (the labels scored), ``methods`` (every method,
    in order), ``not_scored`` (method -> why) and ``currency``.
    """
    chosen = [m.name for m in pick_methods(methods)]
    if BASELINE not in chosen:
        chosen.insert(0, BASELINE)
    values = as_series("backtest", history, 0, 1)
    labels = list(range(len(values))) if months is None else list(months)
    if len(labels) != len(values):
        raise ValidationError(
            [FieldError("backtest", "months", len(labels), f"must label all {len(values)} months")]
        )
    forecasts: dict[str, dict[int, Decimal]] = {}
    why: dict[str, str] = {}
    for name in chosen:
        m = METHODS[name]
        need = needed_history(m)
        forecasts[name] = {
            i: m.function(values[:i], 1, currency=currency)[0] for i in range(need, len(values))
        }
        why[name] = f"needs {need} months of history before each month it forecasts"
    for name, given in (extra or {}).items():
        if len(given) != len(values):
            raise ValidationError(
                [FieldError("backtest", name, len(given), f"must give all {len(values)} months")]
            )
        forecasts[name] = {i: to_money(f, currency) for i, f in enumerate(given) if f is not None}
        why[name] = (reasons or {}).get(name, "has no forecast for most months")
    window, not_scored = _common_months(forecasts, why, len(values))
    rows = []
    for i in window:
        actual = to_money(values[i], currency)
        for name, past in forecasts.items():
            if name not in not_scored:
                rows.append(
                    {
                        "month": labels[i],
                        "method": name,
                        "forecast": past[i],
                        "actual": actual,
                        "error": past[i] - actual,
                    }
                )
    frame = pd.DataFrame(rows, columns=BACKTEST_COLUMNS)
    frame.attrs["months"] = [labels[i] for i in window]
    frame.attrs["methods"] = list(forecasts)
    frame.attrs["not_scored"] = not_scored
    frame.attrs["currency"] = currency
    return frame


def _common_months(
    forecasts: dict[str, dict[int, Decimal]], why: dict[str, str], total: int
) -> tuple[list[int], dict[str, str]]:
    """The months every method kept can forecast, and why each other one is out."""
    not_scored: dict[str, str] = {}
    kept = []
    for name, past in forecasts.items():
        if len(past) >= MIN_SCORED:
            kept.append(name)
        elif not total:
            not_scored[name] = f"{why[name]}: the history holds no month yet"
        else:
            not_scored[name] = (
                f"{why[name]}: it can forecast {len(past)} of the {total} months "
                f"of this history, and at least {MIN_SCORED} are needed"
            )
    if BASELINE not in kept:
        for name in kept:
            not_scored[name] = (
                f"last month's figure, the baseline, can be replayed on fewer than "
                f"{MIN_SCORED} of the {total} months of this history"
            )
        return [], not_scored
    while True:
        common = set.intersection(*(set(forecasts[n]) for n in kept))
        others = [n for n in kept if n != BASELINE]
        if len(common) >= MIN_SCORED or not others:
            break
        # Leave out the one with the fewest months (the later one on a tie).
        worst = min(reversed(others), key=lambda n: len(forecasts[n]))
        kept.remove(worst)
        not_scored[worst] = (
            f"{why[worst]}: it can forecast only {len(forecasts[worst])} of the {total} "
            f"months, which would leave fewer than {MIN_SCORED} months to compare"
        )
    return sorted(common), not_scored


def score(detail: pd.DataFrame, methods: Iterable[str] | None = None) -> pd.DataFrame:
    """Grade a :func:`backtest`: one row per method (``methods``, default every method
    the backtest replayed, scored or not), with the words that say whether to trust
    it.

    Columns: ``method``; ``months`` scored (the same for every scored method, 0 for
    one left out); ``mae``; ``mape`` (a fraction, None when no month passes the
    :data:`MAPE_FLOOR` guard); ``bias`` (mean signed error, money); ``bias_pct``
    (sum(error) / sum(actual), a fraction; None when the actuals sum to zero);
    ``mase`` (MAE / the baseline's MAE; 1 when both are zero, None when only the
    baseline's is); ``recommended`` (True for at most one method, see the module's
    doc); ``verdict`` (words). ``attrs["verdict"]`` holds the conclusion and
    ``attrs["months"]`` the months scored.

    ``mae`` and ``bias`` keep the detail's currency's minor units (its
    ``attrs["currency"]``, two places when it has none).

    The detail must hold the baseline's forecasts and every method on the same
    months; otherwise the comparison would be unfair, and it is refused.
    """
    not_scored: dict[str, str] = dict(detail.attrs.get("not_scored", {}))
    if methods is not None:
        names = list(methods)
    else:
        names = list(detail.attrs.get("methods", [])) or list(dict.fromkeys(detail["method"]))
    parts = {name: detail[detail["method"] == name] for name in names}
    scored = [n for n in names if len(parts[n])]
    month_sets = {n: sorted(parts[n]["month"].tolist(), key=str) for n in scored}
    if scored and BASELINE not in scored:
        raise ValidationError(
            [FieldError("backtest", "method", BASELINE, "the baseline must be in the detail")]
        )
    if len({tuple(v) for v in month_sets.values()}) > 1:
        counts = {n: len(v) for n, v in month_sets.items()}
        raise ValidationError(
            [FieldError("backtest", "months", counts, "every method must be scored on the same")]
        )
    actuals = [to_decimal(a) for a in parts[BASELINE]["actual"]] if scored else []
    baseline_mae = _mean_abs(parts[BASELINE]["error"]) if scored else None
    zero_mae = _mean(abs(a) for a in actuals) if actuals else None
    currency = detail.attrs.get("currency")
    rows = [_grade(n, parts[n], baseline_mae, currency) for n in names]
    by_name = {r["method"]: r for r in rows}
    eligible = [
        r
        for r in rows
        if r["method"] != BASELINE
        and r["mase"] is not None
        and r["mase"] < 1
        and (r["bias_pct"] is None or abs(Decimal(str(r["bias_pct"]))) <= MAX_BIAS)
        and (zero_mae is None or r["mae"] <= zero_mae)
    ]
    best = min(eligible, key=lambda r: r["mase"]) if eligible else None
    if best is not None:
        best["recommended"] = True
    for r in rows:
        r["verdict"] = _verdict(r, best, not_scored.get(r["method"]), zero_mae)
    months = len(actuals)
    summary = _summary(rows, best, months, zero_mae)
    if BASELINE in by_name:
        # The conclusion on the baseline's row, also when nothing could be scored
        # ("not enough history to compare the methods; trust none").
        base = by_name[BASELINE]
        base["verdict"] = f"{base['verdict']}. {summary[0].upper()}{summary[1:]}"
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    for col in ("mae", "mape", "bias", "bias_pct", "mase"):
        frame[col] = pd.Series(
            [None if pd.isna(x) else x for x in frame[col]], index=frame.index, dtype=object
        )
    frame.attrs["verdict"] = summary
    frame.attrs["months"] = list(detail.attrs.get("months", month_sets.get(BASELINE, [])))
    return frame


def _grade(
    name: str, part: pd.DataFrame, baseline_mae: Decimal | None, currency: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "method": name,
        "months": len(part),
        "mae": None,
        "mape": None,
        "bias": None,
        "bias_pct": None,
        "mase": None,
        "recommended": False,
        "verdict": "",
    }
    if not len(part):
        return row
    errors = [to_decimal(e) for e in part["error"]]
    actuals = [to_decimal(a) for a in part["actual"]]
    mae = _mean(abs(e) for e in errors)
    floor = MAPE_FLOOR * _mean(abs(a) for a in actuals)
    pairs = zip(errors, actuals, strict=True)
    ratios = [abs(e) / abs(a) for e, a in pairs if a and abs(a) >= floor]
    total = sum(actuals, Decimal(0))
    row["mae"] = to_money(mae, currency)
    row["mape"] = float(_mean(ratios)) if ratios else None
    row["bias"] = to_money(_mean(errors), currency)
    row["bias_pct"] = float(sum(errors, Decimal(0)) / total) if total else None
    if baseline_mae:
        row["mase"] = float(mae / baseline_mae)
    elif baseline_mae is not None:
        row["mase"] = 1.0 if mae == 0 else None
    return row


def _verdict(
    row: dict[str, Any], best: dict[str, Any] | None, left_out: str | None, zero: Decimal | None
) -> str:
    if left_out is not None or not row["months"]:
        return f"not scored: {left_out or 'no month to compare'}"
    mase, pct = row["mase"], row["bias_pct"]
    bias = "" if pct is None else f", bias {pct:+.0%}"
    if row["method"] == BASELINE:
        text = "baseline: last month's figure"
    elif mase is None:
        text = "worse than last month's figure, which was exact"
    elif mase > 1:
        text = f"worse than last month's figure (MASE {mase:.2f}{bias})"
    elif mase == 1:
        text = f"no better than last month's figure (MASE 1.00{bias})"
    elif pct is not None and abs(Decimal(str(pct))) > MAX_BIAS:
        way = "high" if pct > 0 else "low"
        text = (
            f"beats last month's figure (MASE {mase:.2f}) but forecasts {abs(pct):.0%} too "
            f"{way}: too biased to trust"
        )
    elif row is best:
        text = f"recommended: lowest MASE ({mase:.2f}){bias}"
    elif best is not None:
        text = f"beats last month's figure (MASE {mase:.2f}{bias}); {best['method']} does better"
    else:  # beats the baseline, unbiased, but worse than forecasting zero
        text = f"beats last month's figure (MASE {mase:.2f}{bias})"
    if zero is not None and row["mae"] is not None and row["mae"] > zero:
        text += "; worse than forecasting zero"
    return text


def _summary(
    rows: list[dict[str, Any]],
    best: dict[str, Any] | None,
    months: int,
    zero: Decimal | None,
) -> str:
    if not months:
        return "not enough history to compare the methods; trust none"
    weak = f" (only {months} months scored: a weak guide)" if months < FEW_MONTHS else ""
    scored = [r for r in rows if r["months"]]
    if zero is not None and all(r["mae"] > zero for r in scored):
        return (
            "every method, last month's figure included, is worse than forecasting "
            f"zero; trust none{weak}"
        )
    baseline = next(r for r in scored if r["method"] == BASELINE)
    if best is None and baseline["mae"] == 0:
        return f"last month's figure was exact on every month scored; no method beats it{weak}"
    if best is None:
        beats = [r for r in scored if r["mase"] is not None and r["mase"] < 1]
        if beats:
            return (
                f"no method beats last month's figure without a bias over "
                f"{MAX_BIAS:.0%}; trust none{weak}"
            )
        return f"{TRUST_NONE}{weak}"
    pct = best["bias_pct"]
    bias = "" if pct is None else f", bias {pct:+.0%}"
    return (
        f"trust {best['method']}: MASE {best['mase']:.2f}{bias}, on the same {months} months "
        f"as every other method{weak}"
    )


def _mean(values: Iterable[Decimal]) -> Decimal:
    items = list(values)
    return sum(items, Decimal(0)) / len(items) if items else Decimal(0)


def _mean_abs(errors: Iterable[Any]) -> Decimal:
    return _mean(abs(to_decimal(e)) for e in errors)


__all__ = [
    "BACKTEST_COLUMNS",
    "BASELINE",
    "FEW_MONTHS",
    "MAPE_FLOOR",
    "MAX_BIAS",
    "MIN_SCORED",
    "SCORE_COLUMNS",
    "TRUST_NONE",
    "backtest",
    "score",
]
