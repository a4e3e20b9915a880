"""Figures for dashboards: headline numbers, the funnel and revenue by month.

Everything is aggregated in SQL and returned as plain values and DataFrames. What a
sales user sees covers only their own deals and activities (crm_core.access): their
pipeline, their wins and losses, the activities assigned to them, and the invoices
of the customers they own (:func:`owned_customers_invoices`, the rule of the customer
reports). Archived deals are left out, as in the pipeline views.

Periods are calendar dates in the workspace time zone, both ends included; ``None``
leaves that end open.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import case, cast, distinct, func, literal, select
from sqlalchemy.orm import Session

from crm_core import validation as v
from crm_core.access import activity_clauses, deal_clauses, own_only, owned_customers_invoices
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Activity, Invoice, Opportunity, StageChange
from crm_core.money import Rates
from crm_core.periods import add_months, checked_period, period_instants, start_of
from crm_core.services.base import Service
from crm_core.services.figures import (
    CENT,
    MONEY,
    funnel_reached,
    funnel_stages,
    money,
    total,
    weighted_pipeline,
)
from crm_core.validation import Reject

__all__ = [
    "CENT",
    "FUNNEL_COLUMNS",
    "MONEY",
    "REVENUE_COLUMNS",
    "Metrics",
    "owned_customers_invoices",
]

FUNNEL_COLUMNS = ["stage_id", "stage", "sequence", "count", "entered"]
REVENUE_COLUMNS = ["month", "currency", "revenue", "won"]


class Metrics(Service):
    """Dashboard figures: ``ws.metrics``."""

    entity = "metrics"

    # -- headline figures -----------------------------------------------------------------
    def headline(
        self, period_from: Any = None, period_to: Any = None, currency: str | None = None
    ) -> dict[str, Any]:
        """The headline figures, as a dict of plain values.

        Keys:

        - ``period_from``, ``period_to``: the period as dates (None: open end);
        - ``pipeline_value``: open deals' expected revenue as ``{currency: Decimal}``,
          one entry per currency in use, sorted by currency (amounts in different
          currencies are never added up); the workspace currency with ``0.00`` when
          there is no open deal;
        - ``weighted_pipeline``: the same, each deal weighted by its probability;
        - ``reporting_currency``: ``currency`` (default: the workspace's setting);
        - ``pipeline_value_converted``, ``weighted_pipeline_converted``: the two as one
          Decimal in the reporting currency, each deal converted at the rate of its
          expected close date (today's without one; the latest rate on or before it),
          None when a rate is missing (never converted at 1);
        - ``missing_rates``: which rates were missing, in words ('' when none);
        - ``open_deals``: how many open deals those sums cover;
        - ``won``, ``lost``: deals closed in the period (by ``closed_at``);
        - ``win_rate``: ``won / (won + lost)`` as a fraction 0..1, None when no deal
          closed in the period;
        - ``activities_done``: activities marked done in the period.

        The pipeline is a snapshot of now, across all pipelines; the period applies to
        the wins, losses and activities.
        """
        day_from, day_to = _period(period_from, period_to)
        reporting = _reporting(currency, self.ws.setting("currency"))
        start, end = period_instants(day_from, day_to, self.ws.timezone)
        o = Opportunity
        with self._tx() as s:
            deal_filter: list[Any] = [o.active.is_(True), *deal_clauses(self.ws, o)]
            rates = Rates.load(s, reporting)
            # By stage, as the board and pipeline_by_stage add it up: the headline is
            # the sum of their rows to the cent (each row's conversion is rounded).
            pipeline = weighted_pipeline(
                s, [o.status == "open", *deal_filter], rates=rates, today=self.ws.today()
            )
            closed = [o.status.in_(("won", "lost")), *deal_filter]
            if start is not None:
                closed.append(o.closed_at >= start)
            if end is not None:
                closed.append(o.closed_at < end)
            outcomes = {
                status: int(n)
                for status, n in s.execute(
                    select(o.status, func.count(o.id)).where(*closed).group_by(o.status)
                )
            }
            done: list[Any] = [Activity.done_at.is_not(None)]
            if start is not None:
                done.append(Activity.done_at >= start)
            if end is not None:
                done.append(Activity.done_at < end)
            done += activity_clauses(self.ws, Activity)
            activities_done = int(s.scalar(select(func.count(Activity.id)).where(*done)) or 0)
        value: dict[str, Decimal] = {}
        weighted: dict[str, Decimal] = {}
        for row in pipeline.itertuples():
            value[row.currency] = value.get(row.currency, Decimal(0)) + row.value
            weighted[row.currency] = weighted.get(row.currency, Decimal(0)) + row.weighted
        if not value:
            zero = Decimal("0.00")
            value = {self.ws.setting("currency"): zero}
            weighted = {self.ws.setting("currency"): zero}
        won, lost = outcomes.get("won", 0), outcomes.get("lost", 0)
        return {
            "period_from": day_from,
            "period_to": day_to,
            "pipeline_value": value,
            "weighted_pipeline": weighted,
            "reporting_currency": reporting,
            "pipeline_value_converted": total(list(pipeline["value_converted"])),
            "weighted_pipeline_converted": total(list(pipeline["weighted_converted"])),
            "missing_rates": rates.missing_text(),
            "open_deals": int(pipeline["count"].sum()),
            "won": won,
            "lost": lost,
            "win_rate": won / (won + lost) if won + lost else None,
            "activities_done": activities_done,
        }

    # -- funnel -----------------------------------------------------------------------------
    def funnel(
        self, pipeline: int | str | None = None, period_from: Any = None, period_to: Any = None
    ) -> pd.DataFrame:
        """How far deals got, from the stage history: one row per stage, in order.
        With ``period_from``/``period_to`` (dates, either may be None), only the deals
        created in that period (the dashboard's From/To).

        Columns: ``stage_id``, ``stage``, ``sequence``, ``count`` (deals that reached
        this stage or a later one, by :func:`crm_core.services.figures.funnel_reached`
        as the funnel report counts them: a deal moved from New straight to
        Proposition, or won, passed through the stages between), ``entered`` (deals
        with a history row into exactly this stage). The won stage comes last; the
        lost stage is left out (losing is not a step forward; a deal lost in
        Proposition counts up to Proposition). ``pipeline``: id or name, default the
        first.
        """
        o = Opportunity
        start, end = period_instants(*_period(period_from, period_to), self.ws.timezone)
        with self._tx() as s:
            p = self.ws.pipeline.get_pipeline(s, pipeline)
            deals: list[Any] = [o.active.is_(True), *deal_clauses(self.ws, o)]
            if start is not None:
                deals.append(o.created_at >= start)
            if end is not None:
                deals.append(o.created_at < end)
            stages = funnel_stages(s, p.id)
            reached = funnel_reached(s, p.id, deals)
            entered = dict(
                s.execute(
                    select(
                        StageChange.to_stage_id, func.count(distinct(StageChange.opportunity_id))
                    )
                    .join(o, o.id == StageChange.opportunity_id)
                    .where(o.pipeline_id == p.id, *deals)
                    .group_by(StageChange.to_stage_id)
                ).all()
            )
        rows = [
            (
                stage_id,
                name,
                sequence,
                reached.get(("", stage_id), 0),
                int(entered.get(stage_id, 0)),
            )
            for stage_id, name, sequence in stages
        ]
        frame = pd.DataFrame(rows, columns=FUNNEL_COLUMNS)
        for col in ("count", "entered"):
            frame[col] = frame[col].astype(int)
        return frame

    # -- revenue ----------------------------------------------------------------------------
    def revenue_by_month(
        self,
        months: int = 12,
        *,
        period_from: Any = None,
        period_to: Any = None,
        currency: str | None = None,
    ) -> pd.DataFrame:
        """Revenue per calendar month and currency over the last ``months`` months
        (the current one included), oldest first; with ``period_from`` or
        ``period_to`` (dates), over the calendar months of that period instead (an open
        end: ``months`` months from, or up to, the given one; at most 120).

        Columns: ``month`` (``"YYYY-MM"``), ``currency``, ``revenue`` (Decimal: posted
        customer invoices minus posted credit notes, untaxed, by invoice date, from
        the ERP's copies; 0.00 without an ERP; a sales user's: those of the customers
        they own, see :func:`owned_customers_invoices`) and ``won`` (Decimal: expected revenue
        of the deals won that month, by ``closed_at`` in the workspace time zone).
        Every month appears for every currency that has a figure in the range (the
        workspace currency when none has), zeros included.

        With ``currency`` (a reporting currency), also ``reporting_currency``,
        ``revenue_converted`` (each invoice at the rate of its invoice date) and
        ``won_converted`` (each deal at the rate of the day it was won), None where a
        rate is missing; ``attrs["missing_rates"]`` names those rates ('' when none).
        A month's figure in the reporting currency is the sum of its rows.
        """
        try:
            count = v.integer(months, 1, 120)
        except Reject as exc:
            raise ValidationError(
                [FieldError("revenue by month", "months", months, str(exc))]
            ) from None
        day_from, day_to = _period(period_from, period_to)
        if day_from is None and day_to is None:
            last = self.ws.today().replace(day=1)
        elif day_to is None:
            last = add_months(day_from.replace(day=1), count - 1)  # type: ignore[union-attr]
        else:
            last = day_to.replace(day=1)
        if day_from is not None:
            span = (last.year - day_from.year) * 12 + last.month - day_from.month + 1
            count = min(span, 120)
        starts = [add_months(last, k) for k in range(1 - count, 2)]  # + the next month
        labels = [d.strftime("%Y-%m") for d in starts[:-1]]
        instants = [start_of(d, self.ws.timezone) for d in starts]
        reporting = None if currency is None else _reporting(currency, "")
        mine = own_only(self.ws)
        inv, o = Invoice, Opportunity
        with self._tx() as s:
            rates = Rates.load(s, reporting) if reporting is not None else None
            monthly = partial(_monthly, s, labels=labels, rates=rates, ws=self.ws)
            signed = case(
                (inv.move_type == "out_refund", -inv.amount_untaxed), else_=inv.amount_untaxed
            )
            invoices: list[Any] = [
                inv.state == "posted",
                inv.move_type.in_(("out_invoice", "out_refund")),
                inv.invoice_date >= starts[0],
                inv.invoice_date < starts[-1],
            ]
            if mine is not None:
                invoices.append(owned_customers_invoices(mine, inv))
            revenue, revenue_conv = monthly(
                inv.invoice_date, starts, inv.currency, signed, invoices
            )
            wins: list[Any] = [
                o.status == "won",
                o.active.is_(True),
                o.closed_at >= instants[0],
                o.closed_at < instants[-1],
            ]
            wins += deal_clauses(self.ws, o)
            won, won_conv = monthly(o.closed_at, instants, o.currency, o.expected_revenue, wins)
        currencies = sorted({c for _m, c in revenue} | {c for _m, c in won}) or [
            self.ws.setting("currency")
        ]
        zero = Decimal("0.00")
        rows = [
            {
                "month": month,
                "currency": cur,
                "revenue": revenue.get((month, cur), zero),
                "won": won.get((month, cur), zero),
            }
            for month in labels
            for cur in currencies
        ]
        if rates is None:
            return pd.DataFrame(rows, columns=REVENUE_COLUMNS)
        for row in rows:
            key = (str(row["month"]), str(row["currency"]))
            row["reporting_currency"] = rates.reporting
            row["revenue_converted"] = revenue_conv.get(key, zero)
            row["won_converted"] = won_conv.get(key, zero)
        converted = ["reporting_currency", "revenue_converted", "won_converted"]
        frame = pd.DataFrame(rows, columns=[*REVENUE_COLUMNS, *converted])
        for name in converted[1:]:
            frame[name] = frame[name].astype(object)
        frame.attrs["reporting_currency"] = rates.reporting
        frame.attrs["missing_rates"] = rates.missing_text()
        return frame


def _reporting(currency: Any, default: str) -> str:
    """The reporting currency asked for (a currency code), or the workspace's."""
    if currency is None:
        return default
    try:
        return v.currency(currency)
    except Reject as exc:
        raise ValidationError([FieldError("dashboard", "currency", currency, str(exc))]) from None


def _period(period_from: Any, period_to: Any) -> tuple[dt.date | None, dt.date | None]:
    return checked_period(period_from, period_to, "dashboard period")


def _monthly(
    s: Session,
    when: Any,
    bounds: list[Any],
    currency: Any,
    amount: Any,
    where: list[Any],
    *,
    labels: list[str],
    rates: Rates | None,
    ws: Any,
) -> tuple[dict[tuple[str, str], Decimal], dict[tuple[str, str], Decimal | None]]:
    """``sum(amount)`` per (month label, currency), bucketed in SQL on ``when`` against
    month ``bounds`` computed here (so months follow the workspace time zone on every
    database, SQLite included); with ``rates``, also that sum converted, each record on
    its own at the rate of its day (``when`` as a workspace-local date) and rounded, then
    added up, as the reports convert invoices (one figure for the same records; None
    when a rate is missing)."""
    whens = [(when < bounds[i + 1], labels[i]) for i in range(len(labels) - 1)]
    bucket = case(*whens, else_=labels[-1]) if whens else literal(labels[0])
    day = when if rates is not None else literal(None)
    rows = select(
        bucket.label("month"), currency.label("currency"), day.label("day"), amount.label("amount")
    ).where(*where)
    inner = rows.subquery()
    if rates is None:  # the month's sum per currency, added up in SQL
        query = select(
            inner.c.month,
            inner.c.currency,
            inner.c.day,
            cast(func.coalesce(func.sum(inner.c.amount), 0), MONEY),
        ).group_by(inner.c.month, inner.c.currency, inner.c.day)
    else:  # each record, to be converted on its own
        query = select(
            inner.c.month,
            inner.c.currency,
            inner.c.day,
            cast(func.coalesce(inner.c.amount, 0), MONEY),
        )
    sums: dict[tuple[str, str], Decimal] = {}
    parts: dict[tuple[str, str], list[Decimal | None]] = {}
    for month, cur, on, part in s.execute(query):
        key, part = (month, cur), money(part, cur)
        sums[key] = sums.get(key, Decimal("0.00")) + part
        if rates is not None:
            if isinstance(on, dt.datetime):
                on = on.astimezone(ws.timezone).date()
            parts.setdefault(key, []).append(rates.try_convert(part, cur, on or ws.today()))
    return sums, {key: total(found) for key, found in parts.items()}
