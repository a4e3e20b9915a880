"""Figures for dashboards: headline numbers, the funnel and revenue by month.

Everything is aggregated in SQL and returned as plain values and DataFrames. What a
sales user sees covers only their own deals and activities (crm_core.access): their
pipeline, their wins and losses, the activities assigned to them, and the invoices
of the customers they own a deal with. Archived deals are left out, as in the
pipeline views.

Periods are calendar dates in the workspace time zone, both ends included; ``None``
leaves that end open.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Numeric, case, cast, distinct, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from crm_core import validation as v
from crm_core.access import activity_clauses, deal_clauses, own_only
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Activity, Invoice, Opportunity, Stage, StageChange
from crm_core.services.base import Service
from crm_core.validation import Reject

MONEY = Numeric(18, 2)
CENT = Decimal("0.01")
# Orders the won stage after every open stage in the funnel, whatever its sequence.
_WON_RANK = 1_000_000

FUNNEL_COLUMNS = ["stage_id", "stage", "sequence", "count", "entered"]
REVENUE_COLUMNS = ["month", "currency", "revenue", "won"]


class Metrics(Service):
    """Dashboard figures: ``ws.metrics``."""

    entity = "metrics"

    # -- headline figures -----------------------------------------------------------------
    def headline(self, period_from: Any = None, period_to: Any = None) -> dict[str, Any]:
        """The headline figures, as a dict of plain values.

        Keys:

        - ``period_from``, ``period_to``: the period as dates (None: open end);
        - ``pipeline_value``: open deals' expected revenue as ``{currency: Decimal}``,
          one entry per currency in use, sorted by currency (amounts in different
          currencies are never added up); the workspace currency with ``0.00`` when
          there is no open deal;
        - ``weighted_pipeline``: the same, each deal weighted by its probability;
        - ``open_deals``: how many open deals those sums cover;
        - ``won``, ``lost``: deals closed in the period (by ``closed_at``);
        - ``win_rate``: ``won / (won + lost)`` as a fraction 0..1, None when no deal
          closed in the period;
        - ``activities_done``: activities marked done in the period.

        The pipeline is a snapshot of now, across all pipelines; the period applies to
        the wins, losses and activities.
        """
        day_from, day_to = _period(period_from, period_to)
        start, end = self._instants(day_from, day_to)
        o = Opportunity
        with self._tx() as s:
            deal_filter: list[Any] = [o.active.is_(True), *deal_clauses(self.ws, o)]
            pipeline_rows = s.execute(
                select(
                    o.currency,
                    func.count(o.id),
                    cast(func.coalesce(func.sum(o.expected_revenue), 0), MONEY),
                    cast(
                        func.coalesce(func.sum(o.expected_revenue * o.probability / 100), 0),
                        MONEY,
                    ),
                )
                .where(o.status == "open", *deal_filter)
                .group_by(o.currency)
                .order_by(o.currency)
            ).all()
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
        value = {cur: _money(total) for cur, _n, total, _w in pipeline_rows}
        weighted = {cur: _money(w) for cur, _n, _total, w in pipeline_rows}
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
            "open_deals": sum(int(n) for _cur, n, _t, _w in pipeline_rows),
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
        this stage or a later one: a deal moved from New straight to Proposition, or
        won, passed through the stages between), ``entered`` (deals with a history
        row into exactly this stage). The won stage comes last; the lost stage is left
        out (losing is not a step forward; a deal lost in Proposition counts up to
        Proposition). ``pipeline``: id or name, default the first.
        """
        o = Opportunity
        start, end = self._instants(*_period(period_from, period_to))
        with self._tx() as s:
            p = self.ws.pipeline._pipeline(s, pipeline)
            deals: list[Any] = [
                o.pipeline_id == p.id,
                o.active.is_(True),
                *deal_clauses(self.ws, o),
            ]
            if start is not None:
                deals.append(o.created_at >= start)
            if end is not None:
                deals.append(o.created_at < end)
            reached = (
                select(StageChange.opportunity_id, func.max(_rank(Stage)).label("top"))
                .join(Stage, Stage.id == StageChange.to_stage_id)
                .join(o, o.id == StageChange.opportunity_id)
                .where(Stage.is_lost.is_(False), *deals)
                .group_by(StageChange.opportunity_id)
                .subquery()
            )
            entered = (
                select(
                    StageChange.to_stage_id,
                    func.count(distinct(StageChange.opportunity_id)).label("entered"),
                )
                .join(o, o.id == StageChange.opportunity_id)
                .where(*deals)
                .group_by(StageChange.to_stage_id)
                .subquery()
            )
            st = aliased(Stage)
            query = (
                select(
                    st.id.label("stage_id"),
                    st.name.label("stage"),
                    st.sequence,
                    func.count(reached.c.opportunity_id).label("count"),
                    func.coalesce(func.max(entered.c.entered), 0).label("entered"),
                )
                .select_from(st)
                .outerjoin(reached, reached.c.top >= _rank(st))
                .outerjoin(entered, entered.c.to_stage_id == st.id)
                .where(st.pipeline_id == p.id, st.is_lost.is_(False))
                .group_by(st.id, st.name, st.sequence, st.is_won)
                .order_by(_rank(st), st.id)
            )
            rows = [dict(r) for r in s.execute(query).mappings()]
        frame = pd.DataFrame(rows, columns=FUNNEL_COLUMNS)
        for col in ("count", "entered"):
            frame[col] = frame[col].astype(int)
        return frame

    # -- revenue ----------------------------------------------------------------------------
    def revenue_by_month(
        self, months: int = 12, *, period_from: Any = None, period_to: Any = None
    ) -> pd.DataFrame:
        """Revenue per calendar month and currency over the last ``months`` months
        (the current one included), oldest first; with ``period_from`` or
        ``period_to`` (dates), over the calendar months of that period instead (an open
        end: ``months`` months from, or up to, the given one; at most 120).

        Columns: ``month`` (``"YYYY-MM"``), ``currency``, ``revenue`` (Decimal: posted
        customer invoices minus posted credit notes, untaxed, by invoice date, from
        the ERP's copies; 0.00 without an ERP) and ``won`` (Decimal: expected revenue
        of the deals won that month, by ``closed_at`` in the workspace time zone).
        Every month appears for every currency that has a figure in the range (the
        workspace currency when none has), zeros included.
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
            last = _add_months(day_from.replace(day=1), count - 1)  # type: ignore[union-attr]
        else:
            last = day_to.replace(day=1)
        if day_from is not None:
            span = (last.year - day_from.year) * 12 + last.month - day_from.month + 1
            count = min(span, 120)
        starts = [_add_months(last, k) for k in range(1 - count, 2)]  # + the next month
        labels = [d.strftime("%Y-%m") for d in starts[:-1]]
        instants = [_start_of(d, self.ws) for d in starts]
        mine = own_only(self.ws)
        inv, o = Invoice, Opportunity
        with self._tx() as s:
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
                invoices.append(
                    or_(
                        inv.company_id.in_(select(o.company_id).where(o.owner_id == mine)),
                        inv.contact_id.in_(select(o.contact_id).where(o.owner_id == mine)),
                    )
                )
            revenue = _monthly(s, inv.invoice_date, starts, labels, inv.currency, signed, invoices)
            wins: list[Any] = [
                o.status == "won",
                o.active.is_(True),
                o.closed_at >= instants[0],
                o.closed_at < instants[-1],
            ]
            wins += deal_clauses(self.ws, o)
            won = _monthly(s, o.closed_at, instants, labels, o.currency, o.expected_revenue, wins)
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
        return pd.DataFrame(rows, columns=REVENUE_COLUMNS)

    # -- helpers ------------------------------------------------------------------------------
    def _instants(
        self, day_from: dt.date | None, day_to: dt.date | None
    ) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The period as UTC instants: from the start of the first day to the start of
        the day after the last (exclusive), in the workspace time zone."""
        start = _start_of(day_from, self.ws) if day_from else None
        end = _start_of(day_to + dt.timedelta(days=1), self.ws) if day_to else None
        return start, end


def _period(period_from: Any, period_to: Any) -> tuple[dt.date | None, dt.date | None]:
    errors: list[FieldError] = []
    days: dict[str, dt.date | None] = {}
    for name, raw in (("period_from", period_from), ("period_to", period_to)):
        try:
            days[name] = v.date_value(raw)
        except Reject as exc:
            errors.append(FieldError("dashboard period", name, raw, str(exc)))
            days[name] = None
    day_from, day_to = days["period_from"], days["period_to"]
    if day_from and day_to and day_from > day_to:
        errors.append(FieldError("dashboard period", "period_to", day_to, "is before period_from"))
    if errors:
        raise ValidationError(errors)
    return day_from, day_to


def _start_of(day: dt.date, ws: Any) -> dt.datetime:
    """Midnight starting ``day`` in the workspace time zone, as aware UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=ws.timezone).astimezone(dt.UTC)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _rank(stage: Any) -> Any:
    """A stage's place in the funnel: its sequence, the won stage after all others."""
    return case((stage.is_won.is_(True), _WON_RANK), else_=stage.sequence)


def _monthly(
    s: Session,
    when: Any,
    bounds: list[Any],
    labels: list[str],
    currency: Any,
    amount: Any,
    where: list[Any],
) -> dict[tuple[str, str], Decimal]:
    """``sum(amount)`` per (month label, currency), bucketed in SQL on ``when`` against
    month ``bounds`` computed here (so months follow the workspace time zone on every
    database, SQLite included)."""
    whens = [(when < bounds[i + 1], labels[i]) for i in range(len(labels) - 1)]
    bucket = case(*whens, else_=labels[-1]) if whens else literal(labels[0])
    rows = select(bucket.label("month"), currency.label("currency"), amount.label("amount")).where(
        *where
    )
    inner = rows.subquery()
    query = select(
        inner.c.month,
        inner.c.currency,
        cast(func.coalesce(func.sum(inner.c.amount), 0), MONEY),
    ).group_by(inner.c.month, inner.c.currency)
    return {(month, cur): _money(total) for month, cur, total in s.execute(query)}


def _money(value: Any) -> Decimal:
    # SQLite sums NUMERIC as floats: back to an exact two-place Decimal.
    return Decimal(str(value if value is not None else 0)).quantize(CENT)
