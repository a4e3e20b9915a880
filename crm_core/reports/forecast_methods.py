"""Forecasting methods: pure functions on a series of monthly totals, oldest first.

:func:`naive` (last month), :func:`moving_average_3`, :func:`seasonal_naive` and
:func:`linear_trend` each take a list (or Series) of monthly totals and return the
next months; :func:`forecast` runs every method that has enough history
(:func:`not_enough_history` says why the others are left out). They need
no database, so they can be tried on any series; :mod:`crm_core.reports.backtest`
replays and grades them and :mod:`crm_core.reports.forecast` runs them on the
invoiced revenue.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pandas as pd

from crm_core.errors import FieldError, ValidationError
from crm_core.money.units import quantize

#: How many months after the history :func:`forecast` forecasts by default.
HORIZON = 3
#: Months of history a method needs, at least, before the reports use it.
MIN_HISTORY = 3
#: Length of a season, in months (seasonal naive) and the trend's window.
SEASON = 12
TREND_WINDOW = 12

CENT = Decimal("0.01")

Number = Decimal | int | float


def naive(
    history: Sequence[Number] | pd.Series, horizon: int = 1, *, currency: str | None = None
) -> list[Decimal]:
    """Naive forecast: every future month equals the last month of ``history``.

    Returns ``horizon`` Decimals, rounded to ``currency``'s minor units (two places
    when no currency is given), as every method does. Needs at least one month.
    """
    values = as_series("naive", history, 1, horizon)
    return [to_money(values[-1], currency)] * horizon


def moving_average_3(
    history: Sequence[Number] | pd.Series, horizon: int = 1, *, currency: str | None = None
) -> list[Decimal]:
    """Moving average: every future month equals the mean of the last three months.

    On a steadily growing series it lags: the mean of months t-3..t-1 is the value of
    month t-2, so the forecast of month t is two steps behind. Needs three months.
    """
    values = as_series("moving_average_3", history, 3, horizon)
    return [to_money(sum(values[-3:], Decimal(0)) / 3, currency)] * horizon


def seasonal_naive(
    history: Sequence[Number] | pd.Series, horizon: int = 1, *, currency: str | None = None
) -> list[Decimal]:
    """Seasonal naive: a future month equals the same calendar month a year
    (:data:`SEASON` months) before. Needs a full season of history."""
    values = as_series("seasonal_naive", history, SEASON, horizon)
    n = len(values)
    return [to_money(values[n - SEASON + (h % SEASON)], currency) for h in range(horizon)]


def linear_trend(
    history: Sequence[Number] | pd.Series, horizon: int = 1, *, currency: str | None = None
) -> list[Decimal]:
    """Linear trend: the least-squares line through the last :data:`TREND_WINDOW`
    months (fewer when the history is shorter), extended ``horizon`` months.

    With x = 0..n-1 over the window, ``slope = sum((x-mx)(y-my)) / sum((x-mx)^2)``,
    ``intercept = my - slope*mx``, and month h after the window is
    ``intercept + slope*(n-1+h)``. The line is not clipped: a falling trend may
    forecast less than zero. Needs two months.
    """
    values = as_series("linear_trend", history, 2, horizon)[-TREND_WINDOW:]
    n = len(values)
    mx = Decimal(n - 1) / 2
    my = sum(values, Decimal(0)) / n
    sxx = sum(((Decimal(x) - mx) ** 2 for x in range(n)), Decimal(0))
    sxy = sum(((Decimal(x) - mx) * (y - my) for x, y in enumerate(values)), Decimal(0))
    slope = sxy / sxx
    intercept = my - slope * mx
    return [to_money(intercept + slope * (n - 1 + h), currency) for h in range(1, horizon + 1)]


@dataclass(frozen=True)
class Method:
    """A forecasting method: its name, its function ``(history, horizon, *,
    currency=None) -> list`` and the least history (months) it needs."""

    name: str
    function: Callable[..., list[Decimal]]
    min_history: int


#: The methods that forecast from the revenue series alone, in report order.
METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("naive", naive, 1),
        Method("moving_average_3", moving_average_3, 3),
        Method("seasonal_naive", seasonal_naive, SEASON),
        Method("linear_trend", linear_trend, 2),
    )
}


def needed_history(method: Method) -> int:
    """Months of history before a method is used in the reports and scored by the
    backtest: its own minimum, and never fewer than :data:`MIN_HISTORY`."""
    return max(MIN_HISTORY, method.min_history)


def forecast(
    history: Sequence[Number] | pd.Series,
    horizon: int = HORIZON,
    methods: Iterable[str] | None = None,
    *,
    currency: str | None = None,
) -> dict[str, list[Decimal]]:
    """Forecast the ``horizon`` months after ``history`` with each method that has
    enough history (see :func:`needed_history`): ``{method: [month 1, month 2, ...]}``.
    ``methods`` picks some of :data:`METHODS` by name (default: all); the forecasts
    keep ``currency``'s minor units (KWD 3, JPY 0; two places when None)."""
    chosen = pick_methods(methods)
    values = as_series("forecast", history, 0, horizon)
    return {
        m.name: m.function(values, horizon, currency=currency)
        for m in chosen
        if len(values) >= needed_history(m)
    }


def not_enough_history(
    months: int, methods: Iterable[str] | None = None, *, since: str | None = None
) -> dict[str, str]:
    """Why :func:`forecast` leaves a method out of a history of ``months`` months:
    ``{method: reason}`` for each of ``methods`` (default all) that lacks the history
    it needs (see :func:`needed_history`), in words, e.g. "not enough history: needs
    12 months, the history has 2 (from 2026-10)"; ``since`` names the first month of
    the history."""
    start = f" (from {since})" if since and months else ""
    return {
        m.name: (
            f"not enough history: needs {needed_history(m)} months, the history has {months}{start}"
        )
        for m in pick_methods(methods)
        if months < needed_history(m)
    }


def as_series(name: str, history: Any, minimum: int, horizon: int) -> list[Decimal]:
    """``history`` as a list of Decimals, checked: numbers only, long enough."""
    record = f"forecast method {name!r}"
    if isinstance(history, (str, bytes)) or not isinstance(history, Iterable):
        raise ValidationError(
            [FieldError(record, "history", history, "must be a list of monthly totals")]
        )
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValidationError(
            [FieldError(record, "horizon", horizon, "must be a whole number >= 1")]
        )
    values: list[Decimal] = []
    for i, raw in enumerate(list(history)):
        try:
            values.append(to_decimal(raw))
        except (TypeError, ValueError, ArithmeticError):
            raise ValidationError(
                [FieldError(record, f"history[{i}]", raw, "is not a number")]
            ) from None
    if len(values) < minimum:
        raise ValidationError(
            [
                FieldError(
                    record, "history", f"{len(values)} months", f"needs at least {minimum} months"
                )
            ]
        )
    return values


def pick_methods(names: Iterable[str] | None) -> list[Method]:
    """The :data:`METHODS` named by ``names`` (all when None), in the order given;
    an unknown name is refused, naming it."""
    if names is None:
        return list(METHODS.values())
    chosen = list(names)
    unknown = [n for n in chosen if n not in METHODS]
    if unknown:
        raise ValidationError(
            [
                FieldError("forecast", "methods", n, f"is not a method; use {list(METHODS)}")
                for n in unknown
            ]
        )
    return [METHODS[n] for n in chosen]


def to_decimal(value: Any) -> Decimal:
    """An exact Decimal from a Decimal, an integer or a float (floats through their
    shortest repr, as SQLite returns sums); bools, NaN and infinities are refused."""
    if isinstance(value, bool):
        raise TypeError("a bool is not a number")
    if isinstance(value, Decimal):
        out = value
    elif isinstance(value, numbers.Integral):  # int, and numpy's from a Series
        out = Decimal(int(value))
    elif isinstance(value, numbers.Real):
        out = Decimal(repr(float(value)))
    else:
        raise TypeError(f"{type(value).__name__} is not a number")
    if not out.is_finite():
        raise ValueError("not a finite number")
    return out


def to_money(value: Any, currency: str | None = None) -> Decimal:
    """:func:`to_decimal` rounded half up to ``currency``'s minor units (KWD 3 places,
    JPY none), or to two places when no currency is given; None counts as zero."""
    amount = to_decimal(value if value is not None else 0)
    if currency is None:
        return amount.quantize(CENT, rounding=ROUND_HALF_UP)
    return quantize(amount, currency)


__all__ = [
    "CENT",
    "HORIZON",
    "METHODS",
    "MIN_HISTORY",
    "SEASON",
    "TREND_WINDOW",
    "Method",
    "Number",
    "as_series",
    "forecast",
    "linear_trend",
    "moving_average_3",
    "naive",
    "needed_history",
    "not_enough_history",
    "pick_methods",
    "seasonal_naive",
    "to_decimal",
    "to_money",
]
