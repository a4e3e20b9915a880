"""Forecasting: the weighted pipeline, learned stage-to-won rates, a revenue forecast
and the backtest that says which forecast to trust.

Four reports (five with the backtest's detail):

- ``forecast_pipeline``: open deals by expected close month, weighted two ways: by the
  probability entered on each deal and by the stage-to-won rate learned from history;
- ``stage_win_rates``: per open stage, how many closed deals reached it and how many
  of those were won, beside the configured and the entered probabilities;
- ``revenue_forecast``: invoiced revenue by month (the ERP's copies) and the next
  :data:`HORIZON` months forecast by each method;
- ``forecast_backtest`` and ``forecast_backtest_detail``: every method replayed month
  by month over the history, with its error (MAPE, bias, MAE).

The forecasting methods are plain functions on a list (or Series) of monthly totals,
so they can be tried on any series without a database: :func:`naive`,
:func:`moving_average_3`, :func:`seasonal_naive`, :func:`linear_trend`; :func:`forecast`
runs them all and :func:`backtest` / :func:`score` replay and grade them. The learned
rate is :func:`learned_rate` (computed from the counts :func:`learned_rates` takes
from the stage history in SQL).

Money stays in Decimal with two places and is never added across currencies; a
forecast is made per currency from that currency's own history.
"""

from __future__ import annotations

import datetime as dt
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, cast, extract, func, or_, select
from sqlalchemy.orm import aliased

from crm_core.errors import FieldError, ValidationError
from crm_core.models import Invoice, Opportunity, Pipeline, Stage, StageChange
from crm_core.reports.base import Chart, Column, Scope, report
from crm_core.services.metrics import MONEY, _add_months, _rank

#: How many months after the history :func:`revenue_forecast` forecasts.
HORIZON = 3
#: Default length of the revenue history: this many full months before the current one.
HISTORY_MONTHS = 24
#: Months of history every method needs before the backtest scores it (so that all
#: methods are compared on the same months; the seasonal one needs a full season).
MIN_HISTORY = 3
#: Length of a season, in months (seasonal naive) and the trend's window.
SEASON = 12
TREND_WINDOW = 12
#: ``forecast_pipeline`` month labels for deals without a close date and for deals
#: whose expected close is in a month already past.
NO_DATE = "(none)"
OVERDUE = "overdue"
#: The forecast method from the open pipeline (not a function of the revenue series).
PIPELINE_METHOD = "pipeline"

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)

Number = Decimal | int | float


# ---------------------------------------------------------------------------------------
# Forecasting methods: pure functions on a series of monthly totals, oldest first.
# ---------------------------------------------------------------------------------------


def naive(history: Sequence[Number] | pd.Series, horizon: int = 1) -> list[Decimal]:
    """Naive forecast: every future month equals the last month of ``history``.

    Returns ``horizon`` Decimals (two places). Needs at least one month.
    """
    values = _series("naive", history, 1, horizon)
    return [_money(values[-1])] * horizon


def moving_average_3(history: Sequence[Number] | pd.Series, horizon: int = 1) -> list[Decimal]:
    """Moving average: every future month equals the mean of the last three months.

    On a steadily growing series it lags: the mean of months t-3..t-1 is the value of
    month t-2, so the forecast of month t is two steps behind. Needs three months.
    """
    values = _series("moving_average_3", history, 3, horizon)
    return [_money(sum(values[-3:], Decimal(0)) / 3)] * horizon


def seasonal_naive(history: Sequence[Number] | pd.Series, horizon: int = 1) -> list[Decimal]:
    """Seasonal naive: a future month equals the same calendar month a year
    (:data:`SEASON` months) before. Needs a full season of history."""
    values = _series("seasonal_naive", history, SEASON, horizon)
    n = len(values)
    return [_money(values[n - SEASON + (h % SEASON)]) for h in range(horizon)]


def linear_trend(history: Sequence[Number] | pd.Series, horizon: int = 1) -> list[Decimal]:
    """Linear trend: the least-squares line through the last :data:`TREND_WINDOW`
    months (fewer when the history is shorter), extended ``horizon`` months.

    With x = 0..n-1 over the window, ``slope = sum((x-mx)(y-my)) / sum((x-mx)^2)``,
    ``intercept = my - slope*mx``, and month h after the window is
    ``intercept + slope*(n-1+h)``. The line is not clipped: a falling trend may
    forecast less than zero. Needs two months.
    """
    values = _series("linear_trend", history, 2, horizon)[-TREND_WINDOW:]
    n = len(values)
    mx = Decimal(n - 1) / 2
    my = sum(values, Decimal(0)) / n
    sxx = sum(((Decimal(x) - mx) ** 2 for x in range(n)), Decimal(0))
    sxy = sum(((Decimal(x) - mx) * (y - my) for x, y in enumerate(values)), Decimal(0))
    slope = sxy / sxx
    intercept = my - slope * mx
    return [_money(intercept + slope * (n - 1 + h)) for h in range(1, horizon + 1)]


@dataclass(frozen=True)
class Method:
    """A forecasting method: its name, its function ``(history, horizon) -> list`` and
    the least history (months) it needs."""

    name: str
    function: Callable[[Sequence[Number] | pd.Series, int], list[Decimal]]
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
) -> dict[str, list[Decimal]]:
    """Forecast the ``horizon`` months after ``history`` with each method that has
    enough history (see :func:`needed_history`): ``{method: [month 1, month 2, ...]}``.
    ``methods`` picks some of :data:`METHODS` by name (default: all)."""
    chosen = _methods(methods)
    values = _series("forecast", history, 0, horizon)
    return {m.name: m.function(values, horizon) for m in chosen if len(values) >= needed_history(m)}


BACKTEST_COLUMNS = ["month", "method", "forecast", "actual", "error"]
SCORE_COLUMNS = ["method", "months", "mape", "bias", "mae", "best"]


def backtest(
    history: Sequence[Number] | pd.Series,
    months: Sequence[Any] | None = None,
    methods: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Replay ``history`` month by month: forecast each month one step ahead from the
    months strictly before it, with every method that has enough of them (see
    :func:`needed_history`), and compare with what happened.

    ``months`` labels the months (default: their positions 0, 1, ...). Columns:
    ``month``, ``method``, ``forecast``, ``actual`` and ``error`` (forecast - actual),
    all Decimal; ordered by month then method.
    """
    chosen = _methods(methods)
    values = _series("backtest", history, 0, 1)
    labels = list(range(len(values))) if months is None else list(months)
    if len(labels) != len(values):
        raise ValidationError(
            [FieldError("backtest", "months", len(labels), f"must label all {len(values)} months")]
        )
    rows = []
    for i, actual in enumerate(values):
        for m in chosen:
            if i >= needed_history(m):
                predicted = m.function(values[:i], 1)[0]
                actual_money = _money(actual)
                rows.append(
                    {
                        "month": labels[i],
                        "method": m.name,
                        "forecast": predicted,
                        "actual": actual_money,
                        "error": predicted - actual_money,
                    }
                )
    return pd.DataFrame(rows, columns=BACKTEST_COLUMNS)


def score(detail: pd.DataFrame, methods: Iterable[str] | None = None) -> pd.DataFrame:
    """Grade a :func:`backtest`: one row per method (every method of ``methods``,
    default all, even one never scored).

    Columns: ``method``; ``months`` scored; ``mape`` = mean of |error| / |actual| over
    the months whose actual is not zero (a fraction; None when there is none);
    ``bias`` = sum(error) / sum(actual) (a fraction, negative when the method
    forecasts too low; None when the actuals sum to zero); ``mae`` = mean |error|
    (Decimal, None when no month was scored); ``best``: True for the lowest MAPE
    (every method tied for it), False otherwise and when no MAPE exists.
    """
    rows: list[dict[str, Any]] = []
    for m in _methods(methods):
        part = detail[detail["method"] == m.name]
        errors = [Decimal(e) for e in part["error"]]
        actuals = [Decimal(a) for a in part["actual"]]
        ratios = [abs(e) / abs(a) for e, a in zip(errors, actuals, strict=True) if a != 0]
        total = sum(actuals, Decimal(0))
        rows.append(
            {
                "method": m.name,
                "months": len(errors),
                "mape": float(sum(ratios, Decimal(0)) / len(ratios)) if ratios else None,
                "bias": float(sum(errors, Decimal(0)) / total) if total != 0 else None,
                "mae": _money(sum((abs(e) for e in errors), Decimal(0)) / len(errors))
                if errors
                else None,
                "best": False,
            }
        )
    scored: list[float] = [r["mape"] for r in rows if r["mape"] is not None]
    if scored:
        lowest = min(scored)
        for r in rows:
            r["best"] = r["mape"] is not None and r["mape"] == lowest
    frame = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    return _nullable(frame, ("mape", "bias", "mae"))


# ---------------------------------------------------------------------------------------
# Learned stage-to-won rates.
# ---------------------------------------------------------------------------------------


def learned_rate(won: int, reached_closed: int) -> float | None:
    """The stage-to-won rate learned from history: ``won / reached_closed``, the share
    of the closed deals that reached a stage (or a later one) that were won. None when
    no closed deal reached it. Not smoothed: a stage with one won deal has rate 1."""
    if reached_closed < 0 or won < 0 or won > reached_closed:
        raise ValueError(f"need 0 <= won <= reached_closed, got {won} of {reached_closed}")
    return won / reached_closed if reached_closed else None


def learned_weight(won: int, reached_closed: int, configured_probability: Number) -> Decimal:
    """The exact weight a deal gets from its stage's history: ``won / reached_closed``
    as a Decimal, or the stage's configured probability (percent, 0..100) / 100 when
    no closed deal reached the stage yet (nothing learned, so the configuration
    stands)."""
    if learned_rate(won, reached_closed) is None:
        return _decimal(configured_probability) / HUNDRED
    return Decimal(won) / Decimal(reached_closed)


RATE_COLUMNS = [
    "pipeline",
    "stage_id",
    "stage",
    "sequence",
    "probability",
    "reached_closed",
    "won",
    "learned_rate",
]


def learned_rates(scope: Scope, *, closed_in_period: bool = True) -> pd.DataFrame:
    """Stage-to-won counts from the stage history, aggregated in SQL: one row per open
    stage (won and lost stages left out) of every pipeline, in pipeline then stage
    order.

    Columns: ``pipeline`` (name), ``stage_id``, ``stage``, ``sequence``,
    ``probability`` (the stage's configured probability as a fraction 0..1),
    ``reached_closed`` (closed deals, won or lost, that reached this stage or a later
    one: a deal that jumped from New to Proposition, or was won, passed the stages
    between; the lost stage is no step forward), ``won`` (of those, the won ones) and
    ``learned_rate`` (:func:`learned_rate`).

    The deals are the active ones in ``scope`` (owner/team, tag, source, campaign);
    with ``closed_in_period`` only those closed (``closed_at``) in the scope's period.
    """
    o = Opportunity
    closed: list[Any] = [o.status.in_(("won", "lost")), *scope.deals(o)]
    if closed_in_period:
        closed += scope.in_period(o.closed_at)
    with scope.ws.transaction() as s:
        reached = (
            select(
                StageChange.opportunity_id,
                o.pipeline_id,
                o.status,
                func.max(_rank(Stage)).label("top"),
            )
            .join(Stage, Stage.id == StageChange.to_stage_id)
            .join(o, o.id == StageChange.opportunity_id)
            .where(Stage.is_lost.is_(False), *closed)
            .group_by(StageChange.opportunity_id, o.pipeline_id, o.status)
            .subquery()
        )
        st = aliased(Stage)
        query = (
            select(
                Pipeline.name.label("pipeline"),
                st.id.label("stage_id"),
                st.name.label("stage"),
                st.sequence,
                st.probability,
                func.count(reached.c.opportunity_id).label("reached_closed"),
                func.coalesce(func.sum(case((reached.c.status == "won", 1), else_=0)), 0).label(
                    "won"
                ),
            )
            .select_from(st)
            .join(Pipeline, Pipeline.id == st.pipeline_id)
            .outerjoin(
                reached,
                and_(reached.c.pipeline_id == st.pipeline_id, reached.c.top >= _rank(st)),
            )
            .where(st.is_won.is_(False), st.is_lost.is_(False))
            .group_by(Pipeline.id, Pipeline.name, st.id, st.name, st.sequence, st.probability)
            .order_by(Pipeline.id, st.sequence, st.id)
        )
        rows = [dict(r) for r in s.execute(query).mappings()]
    for r in rows:
        r["probability"] = float(_decimal(r["probability"]) / HUNDRED)
        r["reached_closed"] = int(r["reached_closed"])
        r["won"] = int(r["won"])
        r["learned_rate"] = learned_rate(r["won"], r["reached_closed"])
    frame = pd.DataFrame(rows, columns=RATE_COLUMNS)
    return _nullable(frame, ("learned_rate",))


def _stage_weights(scope: Scope) -> dict[int, Decimal]:
    """Stage id -> :func:`learned_weight`, learned from all the history of the deals
    in scope (the period is the caller's, not a close-date window)."""
    rates = learned_rates(scope, closed_in_period=False)
    return {
        int(r.stage_id): learned_weight(r.won, r.reached_closed, Decimal(str(r.probability)) * 100)
        for r in rates.itertuples()
    }


@report(
    "stage_win_rates",
    title="Stage-to-won rates",
    columns=[
        Column("pipeline", "text", "Pipeline name"),
        Column("stage", "text", "Open stage (won and lost stages are not listed)"),
        Column("sequence", "int", "The stage's place in its pipeline"),
        Column("probability", "percent", "The stage's configured probability"),
        Column("mean_entered", "percent", "Mean probability entered on open deals in it"),
        Column("reached_closed", "int", "Closed deals that reached this stage or a later one"),
        Column("won", "int", "Of those, the won ones"),
        Column("learned_rate", "percent", "won / reached_closed: the learned chance to win"),
    ],
    chart=Chart("column", "stage", ("probability", "learned_rate"), "Configured vs learned"),
)
def stage_win_rates(scope: Scope) -> pd.DataFrame:
    """Stage-to-won rates learned from history, beside the probabilities people enter.

    One row per open stage of every pipeline (the won stage, rate 1, and the lost
    stage are left out), in pipeline and stage order. Columns:

    - ``pipeline``, ``stage``, ``sequence``;
    - ``probability``: the stage's configured probability, a fraction 0..1;
    - ``mean_entered``: the mean probability entered on the open deals now in the
      stage, a fraction (None when the stage holds none); a snapshot of today;
    - ``reached_closed``: closed deals (won or lost, active) that reached this stage
      or a later one in their stage history; a deal that jumped stages passed the
      ones between, a won deal passed every open stage;
    - ``won``: how many of those were won;
    - ``learned_rate``: ``won / reached_closed`` exactly (no smoothing), None when no
      closed deal reached the stage.

    Filters: owner/team (deal owner), tag, source and campaign select the deals;
    the period selects the closed deals by their close date (``closed_at``).
    """
    rates = learned_rates(scope, closed_in_period=True)
    o = Opportunity
    with scope.ws.transaction() as s:
        entered = {
            int(stage_id): avg
            for stage_id, avg in s.execute(
                select(o.stage_id, func.avg(o.probability))
                .where(o.status == "open", *scope.deals(o))
                .group_by(o.stage_id)
            )
        }
    rates["mean_entered"] = [
        float(_decimal(entered[sid]) / HUNDRED) if sid in entered else None
        for sid in rates["stage_id"]
    ]
    frame = rates[
        [
            "pipeline",
            "stage",
            "sequence",
            "probability",
            "mean_entered",
            "reached_closed",
            "won",
            "learned_rate",
        ]
    ].reset_index(drop=True)
    return _nullable(frame, ("mean_entered", "learned_rate"))


# ---------------------------------------------------------------------------------------
# Weighted pipeline.
# ---------------------------------------------------------------------------------------


@dataclass
class _Bucket:
    deals: int = 0
    value: Decimal = Decimal(0)
    entered: Decimal = Decimal(0)
    learned: Decimal = Decimal(0)


def _weighted_pipeline(
    scope: Scope, where: list[Any], today: dt.date
) -> dict[tuple[str, str], _Bucket]:
    """Open active deals in scope matching ``where``, summed in SQL per expected close
    month, currency and stage, then weighted per stage by the learned rates:
    ``{(month label, currency): bucket}`` with unrounded sums."""
    weights = _stage_weights(scope)
    o = Opportunity
    year, month = extract("year", o.expected_close), extract("month", o.expected_close)
    with scope.ws.transaction() as s:
        rows = s.execute(
            select(
                year,
                month,
                o.currency,
                o.stage_id,
                func.count(o.id),
                func.coalesce(func.sum(o.expected_revenue), 0),
                func.coalesce(func.sum(o.expected_revenue * o.probability), 0),
            )
            .where(o.status == "open", *scope.deals(o), *where)
            .group_by(year, month, o.currency, o.stage_id)
        ).all()
    current = (today.year, today.month)
    out: dict[tuple[str, str], _Bucket] = {}
    for y, m, currency, stage_id, count, value, weighted in rows:
        if y is None:
            label = NO_DATE
        elif (int(y), int(m)) < current:
            label = OVERDUE
        else:
            label = f"{int(y):04d}-{int(m):02d}"
        bucket = out.setdefault((label, currency), _Bucket())
        value = _decimal(value)
        bucket.deals += int(count)
        bucket.value += value
        bucket.entered += _decimal(weighted) / HUNDRED
        bucket.learned += value * weights.get(int(stage_id), Decimal(0))
    return out


@report(
    "forecast_pipeline",
    title="Weighted pipeline by close month",
    columns=[
        Column("month", "text", 'Expected close month "YYYY-MM", "overdue" or "(none)"'),
        Column("currency", "text", "Currency of the amounts"),
        Column("deals", "int", "Open deals"),
        Column("value", "money", "Their expected revenue"),
        Column("weighted_entered", "money", "Weighted by each deal's entered probability"),
        Column("weighted_learned", "money", "Weighted by the learned rate of its stage"),
    ],
    chart=Chart("column", "month", ("weighted_entered", "weighted_learned"), "Weighted pipeline"),
)
def forecast_pipeline(scope: Scope) -> pd.DataFrame:
    """The open pipeline by expected close month, weighted two ways.

    One row per month and currency, open active deals only. Columns:

    - ``month``: the expected close month ``"YYYY-MM"``; ``"overdue"`` gathers the
      deals whose expected close is in a month before the current one (they slipped:
      shown apart rather than inflating this month); ``"(none)"`` the deals without
      an expected close. Order: overdue, the months, (none);
    - ``currency``; ``deals``: how many; ``value``: their expected revenue;
    - ``weighted_entered``: sum of revenue x the probability entered on each deal;
    - ``weighted_learned``: sum of revenue x the learned stage-to-won rate of the
      deal's stage (see ``stage_win_rates``), learned from all closed deals in the
      same owner/team/tag/source/campaign scope, whatever their close date; a stage
      no closed deal has reached yet keeps its configured probability.

    Filters: owner/team (deal owner), tag, source, campaign; the period keeps deals
    whose expected close date is in it (so deals without one drop out).
    """
    o = Opportunity
    today = scope.today()
    buckets = _weighted_pipeline(scope, scope.days_in_period(o.expected_close), today)

    def order(key: tuple[str, str]) -> tuple[int, str, str]:
        label, currency = key
        rank = 0 if label == OVERDUE else 2 if label == NO_DATE else 1
        return (rank, label, currency)

    rows = [
        {
            "month": label,
            "currency": currency,
            "deals": b.deals,
            "value": _money(b.value),
            "weighted_entered": _money(b.entered),
            "weighted_learned": _money(b.learned),
        }
        for (label, currency), b in sorted(buckets.items(), key=lambda kv: order(kv[0]))
    ]
    return pd.DataFrame(
        rows,
        columns=["month", "currency", "deals", "value", "weighted_entered", "weighted_learned"],
    )


# ---------------------------------------------------------------------------------------
# Invoiced revenue: history, forecast and backtest.
# ---------------------------------------------------------------------------------------

_REVENUE_FILTERS = ("period_from", "period_to", "owner", "team")


@dataclass
class _History:
    months: list[dt.date]  # first days, oldest first
    series: dict[str, list[Decimal]]  # currency -> monthly revenue

    @property
    def labels(self) -> list[str]:
        return [_label(m) for m in self.months]


def history_months(
    today: dt.date, period_from: dt.date | None = None, period_to: dt.date | None = None
) -> list[dt.date]:
    """The months (first days) of the revenue history: the calendar months the period
    touches, whole. Without ``period_to`` it ends with the month before ``today``'s
    (the current month is not over: its partial revenue would look like a drop), or
    with ``period_from``'s month when that is later; without ``period_from`` it
    covers :data:`HISTORY_MONTHS` months up to its end."""
    last = (
        _first(period_to)
        if period_to
        else max(_add_months(_first(today), -1), _first(period_from or dt.date.min))
    )
    first = _first(period_from) if period_from else _add_months(last, 1 - HISTORY_MONTHS)
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [_add_months(first, k) for k in range(count)]


def _revenue_history(scope: Scope) -> _History:
    """Posted customer invoices minus posted credit notes, untaxed, by invoice month
    and currency, summed in SQL; every currency invoiced in the history gets every
    month (zeros included), the workspace currency when none was."""
    months = history_months(scope.today(), scope.period_from, scope.period_to)
    inv, o = Invoice, Opportunity
    signed = case((inv.move_type == "out_refund", -inv.amount_untaxed), else_=inv.amount_untaxed)
    where: list[Any] = [
        inv.state == "posted",
        inv.move_type.in_(("out_invoice", "out_refund")),
        inv.invoice_date >= months[0],
        inv.invoice_date < _add_months(months[-1], 1),
    ]
    if scope.owner_ids is not None:
        # The customers' owner: invoices of the companies and contacts the users in
        # scope own a deal with (as ws.metrics.revenue_by_month does for sales users).
        ids = sorted(scope.owner_ids)
        where.append(
            or_(
                inv.company_id.in_(select(o.company_id).where(o.owner_id.in_(ids))),
                inv.contact_id.in_(select(o.contact_id).where(o.owner_id.in_(ids))),
            )
        )
    year, month = extract("year", inv.invoice_date), extract("month", inv.invoice_date)
    with scope.ws.transaction() as s:
        rows = s.execute(
            select(year, month, inv.currency, cast(func.coalesce(func.sum(signed), 0), MONEY))
            .where(*where)
            .group_by(year, month, inv.currency)
        ).all()
    totals = {(int(y), int(m), cur): _money(total) for y, m, cur, total in rows}
    currencies = sorted({cur for _y, _m, cur in totals}) or [scope.ws.setting("currency")]
    series = {cur: [totals.get((d.year, d.month, cur), ZERO) for d in months] for cur in currencies}
    return _History(months=months, series=series)


def _pipeline_forecast(scope: Scope, months: list[dt.date]) -> dict[tuple[str, str], Decimal]:
    """The ``pipeline`` method: per forecast month (not before the current month) and
    currency, the expected revenue of the open deals expected to close that month,
    weighted by the learned stage rates."""
    today = scope.today()
    future = [m for m in months if m >= _first(today)]
    if not future:
        return {}
    o = Opportunity
    where = [o.expected_close >= future[0], o.expected_close < _add_months(future[-1], 1)]
    buckets = _weighted_pipeline(scope, where, today)
    return {key: _money(b.learned) for key, b in buckets.items()}


@report(
    "revenue_forecast",
    title="Revenue forecast",
    columns=[
        Column("month", "text", 'Month "YYYY-MM"'),
        Column("currency", "text", "Currency of the revenue"),
        Column("kind", "text", '"actual" (history) or "forecast"'),
        Column("method", "text", '"actual", or the forecasting method'),
        Column("revenue", "money", "Invoiced revenue, untaxed, net of credit notes"),
    ],
    filters=_REVENUE_FILTERS,
    chart=Chart("line", "month", ("revenue",), "Revenue by month"),
)
def revenue_forecast(scope: Scope) -> pd.DataFrame:
    """Invoiced revenue by month and its forecast for the next :data:`HORIZON` months.

    History rows (``kind`` and ``method`` "actual"): posted customer invoices minus
    posted credit notes, untaxed, by invoice date, from the ERP's copies, per
    currency; every month of the history appears for every currency invoiced in it
    or forecast by ``pipeline`` (the workspace currency when there is none), zeros
    included.

    Forecast rows (``kind`` "forecast"), the :data:`HORIZON` months after the
    history, one per month, currency and method: ``naive`` (last month),
    ``moving_average_3`` (mean of the last 3 months), ``seasonal_naive`` (the same
    month a year before), ``linear_trend`` (least squares over the last 12 months)
    — each only once the history has the months it needs (3; 12 for the seasonal
    one) — and ``pipeline``: the expected revenue of the open deals expected to close
    that month, weighted by the learned stage-to-won rates (see
    ``forecast_pipeline``), for months from the current one on only (it knows the
    deals as they are today, not as they were).

    Filters: the period is the history, whole calendar months (default: the
    :data:`HISTORY_MONTHS` full months before the current one, so the forecast starts
    with the current month); owner/team keep the invoices of the customers (companies
    and contacts) those users own a deal with, and their deals for ``pipeline``.
    Rows are ordered by currency, month, then actual and the methods in order.
    """
    history = _revenue_history(scope)
    ahead = [_add_months(history.months[-1], h) for h in range(1, HORIZON + 1)]
    pipeline = _pipeline_forecast(scope, ahead)
    currencies = sorted(set(history.series) | {cur for _label, cur in pipeline})
    rows: list[dict[str, Any]] = []
    for cur in currencies:
        series = history.series.get(cur, [ZERO] * len(history.months))
        for label, value in zip(history.labels, series, strict=True):
            rows.append(_revenue_row(label, cur, "actual", "actual", value))
        predicted = forecast(series, HORIZON)
        for h, first in enumerate(ahead):
            label = _label(first)
            for name, values in predicted.items():
                rows.append(_revenue_row(label, cur, "forecast", name, values[h]))
            if first >= _first(scope.today()):
                value = pipeline.get((label, cur), ZERO)
                rows.append(_revenue_row(label, cur, "forecast", PIPELINE_METHOD, value))
    return pd.DataFrame(rows, columns=["month", "currency", "kind", "method", "revenue"])


def _revenue_row(
    month: str, currency: str, kind: str, method: str, revenue: Decimal
) -> dict[str, Any]:
    return {
        "month": month,
        "currency": currency,
        "kind": kind,
        "method": method,
        "revenue": revenue,
    }


@report(
    "forecast_backtest",
    title="Forecast backtest",
    columns=[
        Column("currency", "text", "Currency of the history"),
        Column("method", "text", "Forecasting method"),
        Column("months", "int", "Months scored"),
        Column("mape", "percent", "Mean absolute percentage error"),
        Column("bias", "percent", "sum(forecast - actual) / sum(actual)"),
        Column("mae", "money", "Mean absolute error"),
        Column("best", "text", "True for the lowest MAPE in the currency"),
    ],
    filters=_REVENUE_FILTERS,
)
def forecast_backtest(scope: Scope) -> pd.DataFrame:
    """Which forecast to trust: each method replayed over the revenue history.

    One row per currency and method (``naive``, ``moving_average_3``,
    ``seasonal_naive``, ``linear_trend``; a method never scored has ``months`` 0 and
    no errors). Columns: ``currency``, ``method``, ``months`` (months scored),
    ``mape`` (mean of |forecast - actual| / |actual| over the months whose actual is
    not zero, a fraction; None without such a month), ``bias`` (sum(forecast -
    actual) / sum(actual), a fraction, negative when the method forecasts too low;
    None when the actuals sum to zero), ``mae`` (mean |forecast - actual|, money),
    ``best`` (True for the lowest MAPE in the currency, every tied method).

    The history is the one of ``revenue_forecast`` (same period, default and
    owner/team filters). Each month with at least 3 months before it in the history
    (12 for ``seasonal_naive``) is forecast one month ahead by each method from the
    months strictly before it, and compared with the actual. ``pipeline`` is not
    replayed: the database keeps the stage moves but not the expected close dates
    and amounts the deals had back then, so replaying it would use today's knowledge
    of the past and flatter it.
    """
    frames = []
    for cur, detail in _backtests(scope):
        graded = score(detail)
        graded.insert(0, "currency", cur)
        frames.append(graded)
    columns = ["currency", *SCORE_COLUMNS]
    if not frames:
        return pd.DataFrame([], columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]


@report(
    "forecast_backtest_detail",
    title="Forecast backtest, month by month",
    columns=[
        Column("currency", "text", "Currency of the history"),
        Column("month", "text", 'Month forecast, "YYYY-MM"'),
        Column("method", "text", "Forecasting method"),
        Column("forecast", "money", "What the method forecast from the months before"),
        Column("actual", "money", "What was invoiced"),
        Column("error", "money", "forecast - actual"),
    ],
    filters=_REVENUE_FILTERS,
    chart=Chart("line", "month", ("forecast", "actual"), "Forecast by method vs actual"),
)
def forecast_backtest_detail(scope: Scope) -> pd.DataFrame:
    """The backtest month by month: one row per currency, month scored and method.

    Columns: ``currency``, ``month`` (``"YYYY-MM"``), ``method``, ``forecast``,
    ``actual`` and ``error`` (forecast - actual), money. Ordered by currency, month,
    method.

    The history is the one of ``revenue_forecast`` (same period, default and
    owner/team filters). Each month with at least 3 months before it in the history
    (12 for ``seasonal_naive``) is forecast one month ahead by each method from the
    months strictly before it, and compared with the actual. ``pipeline`` is not
    replayed: the database keeps the stage moves but not the expected close dates
    and amounts the deals had back then, so replaying it would use today's knowledge
    of the past and flatter it.
    """
    frames = []
    for cur, detail in _backtests(scope):
        detail.insert(0, "currency", cur)
        frames.append(detail)
    columns = ["currency", *BACKTEST_COLUMNS]
    if not frames or all(f.empty for f in frames):
        return pd.DataFrame([], columns=columns)
    return pd.concat([f for f in frames if not f.empty], ignore_index=True)[columns]


def _backtests(scope: Scope) -> list[tuple[str, pd.DataFrame]]:
    history = _revenue_history(scope)
    return [
        (cur, backtest(series, history.labels)) for cur, series in sorted(history.series.items())
    ]


# ---------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------


def _series(name: str, history: Any, minimum: int, horizon: int) -> list[Decimal]:
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
            values.append(_decimal(raw))
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


def _methods(names: Iterable[str] | None) -> list[Method]:
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


def _decimal(value: Any) -> Decimal:
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


def _money(value: Any) -> Decimal:
    return _decimal(value if value is not None else 0).quantize(CENT)


def _nullable(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """Keep None (not NaN) for the missing values of ``columns``."""
    for col in columns:
        frame[col] = pd.Series(
            [None if pd.isna(x) else x for x in frame[col]], index=frame.index, dtype=object
        )
    return frame


def _first(day: dt.date) -> dt.date:
    return day.replace(day=1)


def _label(first: dt.date) -> str:
    return f"{first.year:04d}-{first.month:02d}"


__all__ = [
    "HISTORY_MONTHS",
    "HORIZON",
    "METHODS",
    "MIN_HISTORY",
    "NO_DATE",
    "OVERDUE",
    "PIPELINE_METHOD",
    "Method",
    "backtest",
    "forecast",
    "forecast_backtest",
    "forecast_backtest_detail",
    "forecast_pipeline",
    "history_months",
    "learned_rate",
    "learned_rates",
    "learned_weight",
    "linear_trend",
    "moving_average_3",
    "naive",
    "needed_history",
    "revenue_forecast",
    "score",
    "seasonal_naive",
    "stage_win_rates",
]
