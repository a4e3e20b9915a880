"""Forecasting: the weighted pipeline, learned stage-to-won rates, a revenue forecast
and the backtest that says which forecast to trust, if any.

Four reports (five with the backtest's detail):

- ``forecast_pipeline``: open deals by expected close month, weighted two ways: by the
  probability entered on each deal and by the stage-to-won rate learned from history;
- ``stage_win_rates``: per open stage, how many closed deals reached it and how many
  of those were won, beside the configured and the entered probabilities;
- ``revenue_forecast``: invoiced revenue by month (the ERP's copies), from the first
  month with an invoice, and the next :data:`HORIZON` months forecast by each method
  that has the history it needs;
- ``forecast_backtest`` and ``forecast_backtest_detail``: every method, the pipeline's
  included once the journal holds the deals' history, replayed month by month on the
  same months, graded (MAE, MAPE, bias, MASE) and judged in words.

The forecasting methods are plain functions on a series of monthly totals, in
:mod:`crm_core.reports.forecast_methods`; the replay and the grading are in
:mod:`crm_core.reports.backtest`; the deals as they were, rebuilt from the journal,
in :mod:`crm_core.reports.deal_history`. Their public names are re-exported here.
The learned rate is :func:`learned_rate` (computed from the counts
:func:`learned_rates` takes from the stage history in SQL).

Money stays in Decimal and is only added up in one currency: the revenue history,
its forecasts and the backtest are one series in the run's reporting currency, each
invoice and deal amount converted at the rate of its own date (invoice date,
expected close date) before the months are summed; a missing rate is named in the
run's ``attrs["missing_rates"]`` and never taken as 1 (see ``revenue_forecast``).
``forecast_pipeline`` keeps a row per currency, with the converted amounts beside.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import and_, case, cast, false, func, select
from sqlalchemy.orm import aliased

from crm_core.access import own_only, owned_customers_invoices
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Invoice, Opportunity, Pipeline, Stage, StageChange
from crm_core.periods import add_months
from crm_core.reports.backtest import (
    BACKTEST_COLUMNS,
    MIN_SCORED,
    SCORE_COLUMNS,
    backtest,
    score,
)
from crm_core.reports.base import (
    REGISTRY,
    REPORTING_CURRENCY,
    Chart,
    Column,
    Scope,
    converted,
    frame_of,
    report,
)
from crm_core.reports.deal_history import DealHistory
from crm_core.reports.forecast_methods import (
    HORIZON,
    METHODS,
    MIN_HISTORY,
    Method,
    Number,
    forecast,
    linear_trend,
    moving_average_3,
    naive,
    needed_history,
    not_enough_history,
    seasonal_naive,
    to_decimal,
    to_money,
)
from crm_core.services.figures import MONEY, stage_rank

#: Default length of the revenue history: this many full months before the current one
#: (at most: it starts with the first month that has an invoice, see ``revenue_forecast``).
HISTORY_MONTHS = 24
#: ``forecast_pipeline`` month labels for deals without a close date and for deals
#: whose expected close is in a month already past.
NO_DATE = "(none)"
OVERDUE = "overdue"
#: The forecast method from the open pipeline (not a function of the revenue series).
PIPELINE_METHOD = "pipeline"

ZERO = Decimal("0.00")
HUNDRED = Decimal(100)


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
        return to_decimal(configured_probability) / HUNDRED
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


def learned_rates(
    scope: Scope, *, closed_in_period: bool = True, as_of: dt.datetime | None = None
) -> pd.DataFrame:
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
    with ``closed_in_period`` only those closed (``closed_at``) in the scope's period;
    with ``as_of`` (an aware instant) only what was known then: the deals closed
    before it, and their stage moves before it (what the backtest replays).
    """
    o = Opportunity
    closed: list[Any] = [o.status.in_(("won", "lost")), *scope.deals(o)]
    if closed_in_period:
        closed += scope.in_period(o.closed_at)
    if as_of is not None:
        closed += [o.closed_at < as_of, StageChange.changed_at < as_of]
    with scope.ws.transaction() as s:
        reached = (
            select(
                StageChange.opportunity_id,
                o.pipeline_id,
                o.status,
                func.max(stage_rank(Stage)).label("top"),
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
                and_(reached.c.pipeline_id == st.pipeline_id, reached.c.top >= stage_rank(st)),
            )
            .where(st.is_won.is_(False), st.is_lost.is_(False))
            .group_by(Pipeline.id, Pipeline.name, st.id, st.name, st.sequence, st.probability)
            .order_by(Pipeline.id, st.sequence, st.id)
        )
        rows = [dict(r) for r in s.execute(query).mappings()]
    for r in rows:
        r["probability"] = float(to_decimal(r["probability"]) / HUNDRED)
        r["reached_closed"] = int(r["reached_closed"])
        r["won"] = int(r["won"])
        r["learned_rate"] = learned_rate(r["won"], r["reached_closed"])
    frame = pd.DataFrame(rows, columns=RATE_COLUMNS)
    return _nullable(frame, ("learned_rate",))


def _stage_weights(scope: Scope, as_of: dt.datetime | None = None) -> dict[int, Decimal]:
    """Stage id -> :func:`learned_weight`, learned from all the history of the deals
    in scope (the period is the caller's, not a close-date window), or from what was
    known ``as_of`` an instant."""
    rates = learned_rates(scope, closed_in_period=False, as_of=as_of)
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
    chart=Chart(
        "column",
        "stage",
        ("probability", "learned_rate"),
        "Configured vs learned",
        order="sequence",
    ),
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
        float(to_decimal(entered[sid]) / HUNDRED) if sid in entered else None
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
    # The same in the reporting currency; None once a part lacks its rate.
    value_converted: Decimal | None = Decimal(0)
    entered_converted: Decimal | None = Decimal(0)
    learned_converted: Decimal | None = Decimal(0)

    def add_converted(self, scope: Scope, currency: str, on: dt.date, *parts: Decimal) -> None:
        """Add ``parts`` (value, entered, learned) converted at the rate of ``on``:
        each exact part converted, then rounded once in the reporting currency (as
        :func:`crm_core.services.figures.weighted_pipeline` does, so the weighted
        pipeline converted is one figure in every report)."""
        names = ("value_converted", "entered_converted", "learned_converted")
        for name, part in zip(names, parts, strict=True):
            done = scope.convert(part, currency, on)
            total = getattr(self, name)
            setattr(self, name, None if done is None or total is None else total + done)


def _weighted_pipeline(
    scope: Scope, where: list[Any], today: dt.date
) -> dict[tuple[str, str], _Bucket]:
    """Open active deals in scope matching ``where``, summed in SQL per expected close
    day, currency and stage, then weighted per stage by the learned rates:
    ``{(month label, currency): bucket}`` with unrounded sums, and the same in the
    reporting currency, each day's sum converted at the rate of that day (today's for
    deals without an expected close)."""
    weights = _stage_weights(scope)
    o = Opportunity
    with scope.ws.transaction() as s:
        rows = s.execute(
            select(
                o.expected_close,
                o.currency,
                o.stage_id,
                func.count(o.id),
                func.coalesce(func.sum(o.expected_revenue), 0),
                func.coalesce(func.sum(o.expected_revenue * o.probability), 0),
            )
            .where(o.status == "open", *scope.deals(o), *where)
            .group_by(o.expected_close, o.currency, o.stage_id)
        ).all()
    out: dict[tuple[str, str], _Bucket] = {}
    for close, currency, stage_id, count, value, weighted in rows:
        if close is None:
            label = NO_DATE
        elif _first(close) < _first(today):
            label = OVERDUE
        else:
            label = _label(_first(close))
        bucket = out.setdefault((label, currency), _Bucket())
        value = to_decimal(value)
        entered = to_decimal(weighted) / HUNDRED
        learned = value * weights.get(int(stage_id), Decimal(0))
        bucket.deals += int(count)
        bucket.value += value
        bucket.entered += entered
        bucket.learned += learned
        bucket.add_converted(scope, currency, close or today, value, entered, learned)
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
        REPORTING_CURRENCY,
        converted("value", "value"),
        converted("weighted_entered", "weighted_entered"),
        converted("weighted_learned", "weighted_learned"),
    ],
    chart=Chart(
        "column",
        "month",
        ("weighted_entered", "weighted_learned"),
        "Weighted pipeline by close month",
    ),
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
            "value": to_money(b.value, currency),
            "weighted_entered": to_money(b.entered, currency),
            "weighted_learned": to_money(b.learned, currency),
            "reporting_currency": scope.rates.reporting,
            "value_converted": b.value_converted,
            "weighted_entered_converted": b.entered_converted,
            "weighted_learned_converted": b.learned_converted,
        }
        for (label, currency), b in sorted(buckets.items(), key=lambda kv: order(kv[0]))
    ]
    return frame_of(rows, REGISTRY["forecast_pipeline"].columns)


# ---------------------------------------------------------------------------------------
# Invoiced revenue: history, forecast and backtest.
# ---------------------------------------------------------------------------------------

_REVENUE_FILTERS = ("period_from", "period_to", "owner", "team")


@dataclass
class _History:
    months: list[dt.date]  # first days, oldest first; from the first invoiced month
    currency: str  # the reporting currency
    series: list[Decimal]  # monthly revenue in it
    incomplete: list[dt.date]  # months with an amount whose rate is missing
    end: dt.date  # the last month asked for (the forecasts follow it), even unlisted

    @property
    def labels(self) -> list[str]:
        return [_label(m) for m in self.months]


def history_months(
    today: dt.date, period_from: dt.date | None = None, period_to: dt.date | None = None
) -> list[dt.date]:
    """The months (first days) of the revenue history: the calendar months the period
    touches, whole, and over: it ends with ``period_to``'s month or the month before
    ``today``'s, whichever is earlier (the current month is not over: its partial
    revenue would look like a drop, and a month to come would count as a month of no
    revenue); without ``period_from`` it covers :data:`HISTORY_MONTHS` months up to its
    end. A ``period_from`` in the current month or later is refused: no month of it is
    over."""
    done = add_months(_first(today), -1)
    last = min(_first(period_to), done) if period_to else done
    if period_from and _first(period_from) > done:
        raise ValidationError(
            [
                FieldError(
                    "revenue history",
                    "period_from",
                    period_from.isoformat(),
                    f"must be in a month that is over (before {_first(today):%Y-%m}):"
                    " the history holds whole past months",
                )
            ]
        )
    first = _first(period_from) if period_from else add_months(last, 1 - HISTORY_MONTHS)
    count = (last.year - first.year) * 12 + last.month - first.month + 1
    return [add_months(first, k) for k in range(count)]


def revenue_clauses(scope: Scope, inv: Any = Invoice) -> tuple[list[Any], list[Any]]:
    """Whose invoices the revenue history counts: ``(visible, filtered)``, two lists
    of WHERE clauses on ``inv`` (Invoice or an alias of it).

    ``visible``: the posted customer invoices and credit notes the acting user may
    count: every one for the workspace's owner, an admin or a manager; for a sales
    user those of the customers they own (:func:`owned_customers_invoices`, the rule
    of ``sales_per_customer`` and ``rfm`` and of the dashboard's revenue), whoever
    owns the deals. ``filtered``: the ``owner`` / ``team`` filters of a user who sees
    everything: the invoices of the customers those users own, by the same rule, so
    that a manager asking for a salesperson reads the figure the salesperson reads.
    A sales user's filters can only name themselves: they change nothing (another
    user leaves nothing)."""
    visible: list[Any] = [
        inv.state == "posted",
        inv.move_type.in_(("out_invoice", "out_refund")),
    ]
    filtered: list[Any] = []
    mine = own_only(scope.ws)
    if mine is not None:
        visible.append(owned_customers_invoices(mine, inv))
        if scope.owner_ids is not None and mine not in scope.owner_ids:
            filtered.append(false())
    elif scope.owner_ids is not None:
        filtered.append(owned_customers_invoices(scope.owner_ids, inv))
    return visible, filtered


def _revenue_history(scope: Scope) -> _History:
    """Posted customer invoices minus posted credit notes, untaxed, in the reporting
    currency by invoice month: each invoice converted on its own at the rate of its
    date and rounded to the reporting currency's minor units (:meth:`Scope.convert`,
    as ``sales_per_customer`` and ``rfm`` do, so that the same invoices make the same
    figure there and here), then added up by month (zeros included). A
    month with an amount whose rate is missing is listed as incomplete (the rate is
    named in the run's ``missing_rates``), never converted at 1.

    The months are those of :func:`history_months` from the first month with an
    invoice the acting user may count (whatever the owner/team filters select, so
    that every owner's and team's series covers the same months): the months before
    it are no data, not months of zero revenue; none when there is no such invoice
    up to the end of the history."""
    asked = history_months(scope.today(), scope.period_from, scope.period_to)
    inv = Invoice
    signed = case((inv.move_type == "out_refund", -inv.amount_untaxed), else_=inv.amount_untaxed)
    end = add_months(asked[-1], 1)
    visible, filtered = revenue_clauses(scope, inv)
    with scope.ws.transaction() as s:
        first = s.scalar(select(func.min(inv.invoice_date)).where(*visible, inv.invoice_date < end))
        months = [m for m in asked if first is not None and m >= _first(first)]
        where = [*visible, *filtered, inv.invoice_date >= asked[0], inv.invoice_date < end]
        rows = s.execute(
            select(inv.invoice_date, inv.currency, cast(func.coalesce(signed, 0), MONEY)).where(
                *where
            )
        ).all()
    totals: dict[dt.date, Decimal] = {}
    incomplete: set[dt.date] = set()
    for day, currency, total in rows:
        if day is None:  # not selected (the period bounds the date): for the type
            continue
        month = _first(day)
        value = scope.convert(to_money(total, currency), currency, day)
        if value is None:
            incomplete.add(month)
        else:
            totals[month] = totals.get(month, ZERO) + value
    return _History(
        months=months,
        currency=scope.rates.reporting,
        series=[to_money(totals.get(m, ZERO), scope.rates.reporting) for m in months],
        incomplete=sorted(incomplete),
        end=asked[-1],
    )


def _pipeline_forecast(scope: Scope, months: list[dt.date]) -> dict[str, Decimal | None]:
    """The ``pipeline`` method: per forecast month (not before the current month), the
    expected revenue of the open deals expected to close that month, weighted by the
    learned stage rates, in the reporting currency (None when a rate is missing)."""
    today = scope.today()
    future = [m for m in months if m >= _first(today)]
    if not future:
        return {}
    o = Opportunity
    where = [o.expected_close >= future[0], o.expected_close < add_months(future[-1], 1)]
    out: dict[str, Decimal | None] = {}
    for (label, _currency), b in _weighted_pipeline(scope, where, today).items():
        total, part = out.get(label, ZERO), b.learned_converted
        out[label] = None if total is None or part is None else total + part
    return out


@report(
    "revenue_forecast",
    title="Revenue forecast",
    columns=[
        Column("month", "text", 'Month "YYYY-MM"'),
        Column("currency", "text", "The reporting currency: every amount converted to it"),
        Column("kind", "text", '"actual" (history) or "forecast"'),
        Column("method", "text", '"actual", or the forecasting method'),
        Column("revenue", "money", "Invoiced revenue, untaxed, net of credit notes"),
    ],
    filters=_REVENUE_FILTERS,
    chart=Chart("line", "month", ("revenue",), "Revenue by month", series="method"),
)
def revenue_forecast(scope: Scope) -> pd.DataFrame:
    """Invoiced revenue by month and its forecast for the next :data:`HORIZON` months.

    One series in the reporting currency (``currency=`` of the run, default the
    workspace's): every invoice and deal amount is converted at the rate of its own
    date (invoice date; a deal's expected close date) before the months are added
    up. History rows (``kind`` and ``method`` "actual"): posted customer invoices
    minus posted credit notes, untaxed, by invoice date, from the ERP's copies;
    every month of the history appears, zeros included. The history starts with the
    first month that has an invoice (or credit note) the user may count, whatever
    the owner/team filters: the months before it are no data, not months of zero
    revenue, so they are neither shown nor forecast from (with no invoice at all
    there is no history). ``attrs["history_from"]`` is that first month
    (``"YYYY-MM"``, None without history) and ``attrs["not_forecast"]`` says, per
    method left out, why ("not enough history: needs 12 months, the history has 2
    (from 2026-10)"). A month holding an amount
    whose exchange rate is missing has no revenue (None) and nothing is forecast
    from an incomplete history: the run's ``attrs["missing_rates"]`` names the
    rates to add (never converted at 1).

    Forecast rows (``kind`` "forecast"), the :data:`HORIZON` months after the
    history, one per month and method: ``naive`` (last month),
    ``moving_average_3`` (mean of the last 3 months), ``seasonal_naive`` (the same
    month a year before), ``linear_trend`` (least squares over the last 12 months)
    — each only once the history has the months it needs (3; 12 for the seasonal
    one) — and ``pipeline``: the expected revenue of the open deals expected to close
    that month, weighted by the learned stage-to-won rates (see
    ``forecast_pipeline``), each deal converted at the rate of its expected close
    date (None for a month with a deal whose rate is missing), for months from the
    current one on only (it knows the deals as they are today, not as they were).

    Whose invoices: the workspace's owner, admins and managers count every one; a
    sales user the invoices of the customers they own (``Company.owner_id``, or
    ``Contact.owner_id`` for an invoice without a company), as ``sales_per_customer``
    and the dashboard count them, whoever owns the deals.

    Filters: the period is the history, whole calendar months (default: the
    :data:`HISTORY_MONTHS` full months before the current one, from the first
    invoiced month; the forecast starts with the current month); owner/team keep the
    invoices of the customers those users own (the rule above, as for a sales user,
    who may only name themselves), and their deals for ``pipeline``. Rows are ordered
    by month, then actual and the methods in order.
    """
    history = _revenue_history(scope)
    cur = history.currency
    rows: list[dict[str, Any]] = []
    for first, label, value in zip(history.months, history.labels, history.series, strict=True):
        known = None if first in history.incomplete else value
        rows.append(_revenue_row(label, cur, "actual", "actual", known))
    since = history.labels[0] if history.months else None
    if history.incomplete:
        left_out = dict.fromkeys(METHODS, f"not forecast: {_INCOMPLETE}")
    elif not history.months:
        left_out = dict.fromkeys(METHODS, "not enough history: no invoice yet")
    else:
        left_out = not_enough_history(len(history.months), since=since)
    if not history.incomplete:
        ahead = [add_months(history.end, h) for h in range(1, HORIZON + 1)]
        pipeline = _pipeline_forecast(scope, ahead)
        predicted = forecast(history.series, HORIZON, currency=cur)
        for h, first in enumerate(ahead):
            label = _label(first)
            for name, values in predicted.items():
                rows.append(_revenue_row(label, cur, "forecast", name, values[h]))
            if first >= _first(scope.today()):
                weighted = pipeline.get(label, ZERO)
                weighted = None if weighted is None else to_money(weighted, cur)
                rows.append(_revenue_row(label, cur, "forecast", PIPELINE_METHOD, weighted))
    frame = frame_of(rows, REGISTRY["revenue_forecast"].columns)
    frame.attrs["history_from"] = since
    frame.attrs["not_forecast"] = left_out
    return frame


def _revenue_row(
    month: str, currency: str, kind: str, method: str, revenue: Decimal | None
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
        Column("currency", "text", "The reporting currency of the history"),
        Column("method", "text", "Forecasting method"),
        Column("months", "int", "Months scored: the same months for every method scored"),
        Column("mae", "money", "Mean absolute error"),
        Column("mape", "percent", "Mean absolute percentage error, near-zero months left out"),
        Column("bias", "money", "Mean signed error (forecast - actual): below 0 forecasts low"),
        Column("bias_pct", "percent", "sum(forecast - actual) / sum(actual)"),
        Column("mase", "number", "MAE / MAE of last month's figure: below 1 beats it"),
        Column("recommended", "bool", "The method to trust, if any (at most one)"),
        Column("verdict", "text", "Whether to trust the method, in words"),
    ],
    filters=_REVENUE_FILTERS,
)
def forecast_backtest(scope: Scope) -> pd.DataFrame:
    """Which forecast to trust, if any: each method replayed over the revenue history.

    One row per method (``naive``, ``moving_average_3``, ``seasonal_naive``,
    ``linear_trend``, ``pipeline``), on the history in the reporting currency
    (``currency``: every amount converted at the rate of its own date; see
    ``revenue_forecast``). Every method is scored on
    the same months, the months all of them can forecast one month ahead from the
    months before (``months`` says how many; a method that could forecast too few of
    them has ``months`` 0 and its verdict says why). Columns: ``mae`` (mean
    |forecast - actual|), ``mape`` (MAPE over the months whose actual is at least
    10 % of the mean actual: near-zero months would swamp it), ``bias`` (mean
    forecast - actual, money) and ``bias_pct`` (as a share of the actuals),
    ``mase`` (the MAE divided by the naive forecast's, last month's figure, on the
    same months), ``recommended`` and ``verdict``.

    The recommended method has the lowest MASE among those that beat last month's
    figure (MASE below 1) with a bias of at most 15 %; MAPE does not choose, since
    it favours a method that forecasts too low. When no method earns it, the naive
    row says so: "no method beats last month's figure; trust none". A method worse
    than forecasting zero is flagged as such.

    The history is the one of ``revenue_forecast`` (same period, default, first
    invoiced month, sales users' customers and owner/team filters): with fewer than
    6 months (a method needs 3 months before each month it forecasts, and at least
    3 months are compared) nothing is scored and every verdict says why;
    ``attrs["verdict"]`` then says "not enough history to compare the methods; trust
    none", and ``attrs["history_from"]`` names the first month of the history.
    ``pipeline`` is replayed from the journal: at the start of each month, the open
    deals as they were then (amount, stage, expected close, owner), expected to
    close that month, weighted by the stage-to-won rates learned from the deals
    closed before then. It is scored once the journal covers enough of the months
    (it starts with the first deal the workspace recorded); until then its verdict
    says how much is covered. When an exchange rate is missing for a month of the
    history, nothing is scored: every verdict says so and the run's
    ``attrs["missing_rates"]`` names the rates. ``attrs["verdict"]`` holds the
    conclusion in one sentence ("trust linear_trend: MASE 0.62, bias -3%, on the
    same 12 months as every other method").
    """
    currency, detail = _backtest(scope)
    if detail is None:
        why = f"not scored: {_INCOMPLETE}; trust none until the rates are added"
        names = [*METHODS, PIPELINE_METHOD]
        rows = [
            {"currency": currency, "method": n, "months": 0, "recommended": False, "verdict": why}
            for n in names
        ]
        for r in rows:
            r.update(dict.fromkeys(("mae", "mape", "bias", "bias_pct", "mase")))
        frame = frame_of(rows, REGISTRY["forecast_backtest"].columns)
        frame.attrs["verdict"] = why
        return frame
    graded = score(detail)
    graded.insert(0, "currency", currency)
    out = graded[["currency", *SCORE_COLUMNS]]
    out.attrs["history_from"] = detail.attrs.get("history_from")
    return out


@report(
    "forecast_backtest_detail",
    title="Forecast backtest, month by month",
    columns=[
        Column("currency", "text", "The reporting currency of the history"),
        Column("month", "text", 'Month forecast, "YYYY-MM"'),
        Column("method", "text", "Forecasting method"),
        Column("forecast", "money", "What the method forecast from the months before"),
        Column("actual", "money", "What was invoiced"),
        Column("error", "money", "forecast - actual"),
    ],
    filters=_REVENUE_FILTERS,
    chart=Chart(
        "line",
        "month",
        ("forecast",),
        "Forecast by method vs actual",
        series="method",
        common=("actual",),
    ),
)
def forecast_backtest_detail(scope: Scope) -> pd.DataFrame:
    """The backtest month by month: one row per month scored and method scored, on
    the months ``forecast_backtest`` compares (the same for every method), in the
    reporting currency.

    Columns: ``currency``, ``month`` (``"YYYY-MM"``), ``method``, ``forecast``,
    ``actual`` and ``error`` (forecast - actual), money. Ordered by month, method.
    See ``forecast_backtest`` for the months, the ``pipeline`` replay and missing
    exchange rates (no rows then).
    """
    currency, detail = _backtest(scope)
    columns = ["currency", *BACKTEST_COLUMNS]
    if detail is None or detail.empty:
        return pd.DataFrame([], columns=columns)
    detail.insert(0, "currency", currency)
    return detail[columns]


_INCOMPLETE = "exchange rates are missing for part of the history (see missing_rates)"


def _backtest(scope: Scope) -> tuple[str, pd.DataFrame | None]:
    """The reporting currency and the backtest of the revenue history in it, the
    pipeline's replay included; None when a rate is missing in the history."""
    history = _revenue_history(scope)
    if history.incomplete:
        return history.currency, None
    past, reason = pipeline_backtest(scope, history.months)
    detail = backtest(
        history.series,
        history.labels,
        extra={PIPELINE_METHOD: past},
        reasons={PIPELINE_METHOD: reason},
        currency=history.currency,
    )
    detail.attrs["history_from"] = history.labels[0] if history.months else None
    return history.currency, detail


def pipeline_backtest(scope: Scope, months: list[dt.date]) -> tuple[list[Decimal | None], str]:
    """The ``pipeline`` forecast of each of ``months`` (first days) as it would have
    been made at the start of that month, from the journal (see
    :mod:`crm_core.reports.deal_history`): the expected revenue of the deals open
    then, active, in scope (owner/team as they were) and expected to close in the
    month, each weighted by its stage's rate learned from the deals closed before
    the month (:func:`learned_rates` ``as_of``) and converted to the reporting
    currency at the rate of its expected close date.

    Returns ``([forecast or None per month], reason)``: None for a month that starts
    before the journal's first entry about a deal (nothing to replay) or holds a
    deal whose exchange rate is missing (named in the run's ``missing_rates``);
    ``reason`` says what the journal covers, for the verdict.
    """
    deals = DealHistory.load(scope.ws)
    starts = [scope.start_of(m) for m in months]
    covered = [deals.first is not None and s >= deals.first for s in starts]
    if deals.first is None:
        reason = "the journal holds no deal's history yet"
    else:
        reason = f"the journal holds the deals' history from {deals.first:%Y-%m-%d} only"
    sums: list[Decimal | None] = [ZERO if c else None for c in covered]
    for i, (first, start) in enumerate(zip(months, starts, strict=True)):
        if not covered[i]:
            continue
        weights = _stage_weights(scope, as_of=start)
        end = add_months(first, 1)
        for deal in deals.as_of(start):
            if not (deal.active and deal.status == "open" and deal.expected_close):
                continue
            if not first <= deal.expected_close < end:
                continue
            if scope.owner_ids is not None and deal.owner_id not in scope.owner_ids:
                continue
            weighted = to_money(
                deal.expected_revenue * weights.get(deal.stage_id, ZERO), deal.currency
            )
            value = scope.convert(weighted, deal.currency, deal.expected_close)
            total = sums[i]
            sums[i] = None if value is None or total is None else total + value
    return [None if v is None else to_money(v, scope.rates.reporting) for v in sums], reason


# ---------------------------------------------------------------------------------------
# Helpers.
# ---------------------------------------------------------------------------------------


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
    "BACKTEST_COLUMNS",
    "HISTORY_MONTHS",
    "HORIZON",
    "METHODS",
    "MIN_HISTORY",
    "MIN_SCORED",
    "NO_DATE",
    "OVERDUE",
    "PIPELINE_METHOD",
    "SCORE_COLUMNS",
    "Method",
    "Number",
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
    "pipeline_backtest",
    "revenue_forecast",
    "score",
    "seasonal_naive",
    "stage_win_rates",
]
