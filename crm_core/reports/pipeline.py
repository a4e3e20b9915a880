"""Pipeline reports: pipeline by stage, funnel per cohort, stage velocity, win and loss.

Everything is aggregated in SQL (SQLite and PostgreSQL alike); only what SQL cannot
do portably is finished in pandas (conversion ratios between rows, medians). Amounts
in different currencies are never added as they are: money columns hold two-place
Decimals in the currency of the row's ``currency`` column, and ``<column>_converted``
the same in the run's reporting currency (``reporting_currency``; None where a rate
is missing), which is what adds up across currencies. Archived deals are left out; a sales
user sees only their own deals (the :class:`~crm_core.reports.base.Scope` does both).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Float, case, cast, extract, func, literal, select
from sqlalchemy.orm import Session

from crm_core.models import LostReason, Opportunity, Pipeline, Stage, StageChange
from crm_core.models.base import UTCDateTime
from crm_core.reports.base import (
    REGISTRY,
    REPORTING_CURRENCY,
    Chart,
    Column,
    Scope,
    converted,
    name_order,
    report,
)
from crm_core.services.figures import (
    funnel_reached,
    funnel_stages,
    money,
    total,
    weighted_pipeline,
)

NO_REASON = "(no reason)"
NAN = float("nan")


# -- pipeline by stage ------------------------------------------------------------------
@report(
    "pipeline_by_stage",
    title="Pipeline by stage",
    columns=[
        Column("pipeline", "text", "the pipeline"),
        Column("stage", "text", "an open stage of the pipeline (won and lost are left out)"),
        Column("sequence", "int", "the stage's place in its pipeline"),
        Column("currency", "text", "currency of value and weighted_value"),
        Column("count", "int", "open deals in the stage"),
        Column("value", "money", "their expected revenue"),
        Column("weighted_value", "money", "expected revenue x probability / 100"),
        REPORTING_CURRENCY,
        converted("value", "value"),
        converted("weighted_value", "weighted_value"),
    ],
    chart=Chart(
        "column", "stage", ("value", "weighted_value"), "Pipeline value by stage", order="sequence"
    ),
)
def pipeline_by_stage(scope: Scope) -> pd.DataFrame:
    """Open deals per pipeline stage and currency: a snapshot of the pipeline now.

    One row per pipeline, open stage (in stage order, won and lost stages left out)
    and currency; every open stage is listed, with zeros when no deal is there. The
    currencies of a pipeline are those of its deals in scope (the workspace currency
    when it has none), so each stage appears once per currency.

    Columns: ``pipeline``, ``stage``, ``sequence``, ``currency``, ``count`` (open,
    active deals), ``value`` (sum of expected revenue) and ``weighted_value`` (sum of
    expected revenue x the deal's probability / 100); ``reporting_currency`` and
    ``value_converted``, ``weighted_value_converted``: the same in the reporting
    currency, each deal converted at the rate of its expected close date (today's
    when it has none; the latest rate on or before it), None when a rate is missing.
    A stage's total in the reporting currency is the sum of its rows' converted
    values (:func:`crm_core.services.figures.weighted_pipeline`, as the board and
    the dashboard add it up).

    Filters: ``owner``/``team`` (the deal's owner), ``tag``, ``source``, ``campaign``;
    ``period_from``/``period_to`` keep the deals whose *expected close date* falls in
    the period (deals without one are then left out).
    """
    o = Opportunity
    with scope.ws.transaction() as s:
        totals = weighted_pipeline(
            s,
            [o.status == "open", *scope.deals(o), *scope.days_in_period(o.expected_close)],
            rates=scope.rates,
            today=scope.today(),
        )
        stages = s.execute(
            select(Pipeline.id, Pipeline.name, Stage.id, Stage.name, Stage.sequence)
            .join(Stage, Stage.pipeline_id == Pipeline.id)
            .where(Stage.is_won.is_(False), Stage.is_lost.is_(False))
            .order_by(Pipeline.id, Stage.sequence, Stage.id)
        ).all()
    figures = {
        (int(r["stage_id"]), r["currency"]): (
            int(r["count"]),
            r["value"],
            r["weighted"],
            r["value_converted"],
            r["weighted_converted"],
        )
        for r in totals.to_dict("records")
    }
    pipeline_of = {stage_id: pipeline_id for pipeline_id, _p, stage_id, _s, _q in stages}
    currencies: dict[int, set[str]] = {}
    for stage_id, cur in figures:
        if stage_id in pipeline_of:
            currencies.setdefault(pipeline_of[stage_id], set()).add(cur)
    default = scope.ws.setting("currency")
    nothing = Decimal("0.00")
    reporting = scope.rates.reporting
    rows = []
    for pipeline_id, pipeline, stage_id, stage, sequence in stages:
        for cur in sorted(currencies.get(pipeline_id, {default})):
            # an empty stage is worth nothing in any currency: 0, not a missing rate
            zero = (0, nothing, nothing, nothing, nothing)
            n, value, weighted, value_conv, weighted_conv = figures.get((stage_id, cur), zero)
            figures_row = (
                n,
                money(value, cur),
                money(weighted, cur),
                reporting,
                value_conv,
                weighted_conv,
            )
            rows.append((pipeline, stage, int(sequence), cur, *figures_row))
    frame = pd.DataFrame(rows, columns=_columns("pipeline_by_stage"))
    return _objects(frame, "value_converted", "weighted_value_converted")


# -- funnel -----------------------------------------------------------------------------
@report(
    "funnel",
    title="Funnel by creation month",
    columns=[
        Column("cohort", "text", "month the deals were created, YYYY-MM (workspace time zone)"),
        Column("stage", "text", "a stage of the funnel; the won stage last, lost left out"),
        Column("sequence", "int", "the stage's place in the pipeline"),
        Column("reached", "int", "deals of the cohort that reached this stage or a later one"),
        Column("conversion", "percent", "reached / reached at the previous stage"),
        Column("win_rate", "percent", "won deals of the cohort / deals of the cohort"),
    ],
    chart=Chart("bar", "stage", ("reached",), "Deals reaching each stage", order="sequence"),
)
def funnel(scope: Scope) -> pd.DataFrame:
    """How far deals got, from the stage history, per cohort of creation month.

    Covers the workspace's first pipeline (the default one). One row per cohort and
    stage, cohorts oldest first, stages in order with the won stage last; the lost
    stage is left out (losing is not a step forward: a deal lost in Proposition counts
    up to Proposition). Cohorts without a deal are not listed.

    Columns: ``cohort`` (month of creation, ``"YYYY-MM"`` in the workspace time zone),
    ``stage``, ``sequence``, ``reached`` (deals of the cohort that reached this stage
    or a later one, from the stage history and the current stage: a deal moved from
    New straight to Proposition, or won, passed through the stages between),
    ``conversion`` (fraction: reached / reached at the previous stage; 1.0 on the
    first stage, NaN after a stage nobody reached) and ``win_rate`` (fraction: deals
    of the cohort now won / deals of the cohort; the same on every row of a cohort).

    Filters: the period keeps the deals *created* in it (so it picks the cohorts);
    ``owner``/``team``, ``tag``, ``source``, ``campaign`` select the deals.
    """
    o = Opportunity
    columns = _columns("funnel")
    with scope.ws.transaction() as s:
        p = scope.ws.pipeline.get_pipeline(s, None)
        in_scope = [o.pipeline_id == p.id, *scope.deals(o), *scope.in_period(o.created_at)]
        first, last = s.execute(
            select(func.min(o.created_at), func.max(o.created_at)).where(*in_scope)
        ).one()
        if first is None:
            return pd.DataFrame([], columns=columns)
        labels, bounds = _months(scope, first, last)
        whens = [(o.created_at < bounds[i + 1], labels[i]) for i in range(len(labels) - 1)]
        cohort = case(*whens, else_=labels[-1]) if whens else literal(labels[0])
        win_rates = {
            label: int(won or 0) / int(n)
            for label, n, won in s.execute(
                select(
                    cohort.label("cohort"),
                    func.count(o.id),
                    func.sum(case((o.status == "won", 1), else_=0)),
                )
                .where(*in_scope)
                .group_by(cohort)
            )
        }
        stages = funnel_stages(s, p.id)
        reached = funnel_reached(s, p.id, in_scope[1:], cohort)
    rows: list[tuple[Any, ...]] = []
    for label in sorted(win_rates):
        previous: int | None = None
        for stage_id, stage, sequence in stages:
            count = reached.get((label, stage_id), 0)
            # 1.0 on the first stage; NaN after a stage nobody reached
            conversion = 1.0 if previous is None else (count / previous if previous else NAN)
            rows.append((label, stage, sequence, count, conversion, win_rates[label]))
            previous = count
    frame = pd.DataFrame(rows, columns=columns)
    return frame.astype({"conversion": float, "win_rate": float})


# -- stage velocity ---------------------------------------------------------------------
@report(
    "stage_velocity",
    title="Stage velocity",
    columns=[
        Column("stage", "text", "an open stage of the first pipeline"),
        Column("sequence", "int", "the stage's place in the pipeline"),
        Column("transitions", "int", "moves out of the stage that were measured"),
        Column("median_days", "number", "median days in the stage before moving on"),
        Column("mean_days", "number", "mean days in the stage before moving on"),
        Column("still_in_stage", "int", "deals in the stage now (not in the median)"),
        Column("still_median_days", "number", "median days those deals have been there"),
    ],
    chart=Chart("column", "stage", ("median_days",), "Median days in stage", order="sequence"),
)
def stage_velocity(scope: Scope) -> pd.DataFrame:
    """How long deals stay in each stage, from the stage history.

    Covers the open stages of the workspace's first pipeline (won and lost are where
    deals end, not stages they pass), one row each in order, also when nothing was
    measured there. A stay runs from the change that entered the stage to the deal's
    next change (won, lost or another stage).

    Columns: ``stage``, ``sequence``, ``transitions`` (stays that ended, i.e. moves
    out of the stage), ``median_days`` and ``mean_days`` (over those stays, in days,
    one decimal; NaN when none), ``still_in_stage`` (deals in the stage now, whose stay
    has not ended: they are *not* in the median, which would otherwise depend on the
    day the report runs) and ``still_median_days`` (median days they have been there
    so far, by the workspace clock).

    Filters: the period keeps the stays that *entered* the stage in it;
    ``owner``/``team``, ``tag``, ``source``, ``campaign`` select the deals.
    """
    o, c = Opportunity, StageChange
    now = scope.ws.clock()
    dialect = scope.ws.engine.dialect.name
    with scope.ws.transaction() as s:
        p = scope.ws.pipeline.get_pipeline(s, None)
        stays = (
            select(
                c.to_stage_id.label("stage_id"),
                c.changed_at.label("entered"),
                func.lead(c.changed_at, type_=UTCDateTime())
                .over(partition_by=c.opportunity_id, order_by=(c.changed_at, c.id))
                .label("left"),
            )
            .join(o, o.id == c.opportunity_id)
            .where(o.pipeline_id == p.id, *scope.deals(o))
            .subquery()
        )
        in_period = scope.in_period(stays.c.entered)
        ended = stays.c.left.is_not(None)
        days = _days_between(stays.c.entered, stays.c.left, dialect).label("days")
        waited = _days_between(stays.c.entered, literal(now, UTCDateTime()), dialect).label("days")
        summary = {
            stage_id: (int(n), mean)
            for stage_id, n, mean in s.execute(
                select(stays.c.stage_id, func.count(), func.avg(days))
                .where(ended, *in_period)
                .group_by(stays.c.stage_id)
            )
        }
        durations = _by_stage(s, select(stays.c.stage_id, days).where(ended, *in_period))
        waiting = _by_stage(
            s, select(stays.c.stage_id, waited).where(stays.c.left.is_(None), *in_period)
        )
        stages = s.execute(
            select(Stage.id, Stage.name, Stage.sequence)
            .where(Stage.pipeline_id == p.id, Stage.is_won.is_(False), Stage.is_lost.is_(False))
            .order_by(Stage.sequence, Stage.id)
        ).all()
    rows = []
    for stage_id, name, sequence in stages:
        n, mean = summary.get(stage_id, (0, None))
        rows.append(
            (
                name,
                int(sequence),
                n,
                _median(durations.get(stage_id, [])),
                round(float(mean), 1) if mean is not None else float("nan"),
                len(waiting.get(stage_id, [])),
                _median(waiting.get(stage_id, [])),
            )
        )
    frame = pd.DataFrame(rows, columns=_columns("stage_velocity"))
    return frame.astype({"median_days": float, "mean_days": float, "still_median_days": float})


def _days_between(earlier: Any, later: Any, dialect: str) -> Any:
    """``later - earlier`` in days (a float) as SQL, on PostgreSQL and SQLite."""
    if dialect == "postgresql":
        return cast(extract("epoch", later - earlier), Float) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


def _by_stage(s: Session, query: Any) -> dict[int, list[float]]:
    """Run ``select(stage_id, days)`` and group the day counts by stage."""
    out: dict[int, list[float]] = {}
    for stage_id, days in s.execute(query):
        out.setdefault(stage_id, []).append(float(days))
    return out


def _median(values: list[float]) -> float:
    """Median to one decimal; NaN for no values (SQLite has no median aggregate)."""
    return round(float(pd.Series(values, dtype=float).median()), 1) if values else float("nan")


# -- win and loss -----------------------------------------------------------------------
@report(
    "win_loss",
    title="Wins and losses by reason",
    columns=[
        Column("outcome", "text", "won or lost"),
        Column("reason", "text", 'the lost reason; "won" for wins, "(no reason)" when none'),
        Column("currency", "text", "currency of value"),
        Column("count", "int", "deals closed with this outcome and reason"),
        Column("value", "money", "their expected revenue"),
        Column("share", "percent", "count / all deals closed with this outcome"),
        REPORTING_CURRENCY,
        converted("value", "value"),
    ],
    chart=Chart("bar", "reason", ("count",), "Deals closed by reason", top=12),
)
def win_loss(scope: Scope) -> pd.DataFrame:
    """Deals won and lost, by reason and currency.

    One row per outcome (won first), reason (alphabetical) and currency. Columns:
    ``outcome`` (``won``/``lost``), ``reason`` (the lost reason's name; ``"won"`` on
    won rows, ``"(no reason)"`` for a deal lost without one, as an ERP import may
    leave it), ``currency``, ``count``, ``value`` (sum of expected revenue) and
    ``share`` (fraction: the row's count / all deals of that outcome, every currency
    together); ``reporting_currency`` and ``value_converted``: value in the reporting
    currency, each deal converted at the rate of the day it closed (``closed_at`` in
    the workspace time zone), None when a rate is missing.

    Filters: the period keeps the deals *closed* in it (``closed_at``, workspace time
    zone); ``owner``/``team``, ``tag``, ``source``, ``campaign`` select the deals.
    """
    o = Opportunity
    with scope.ws.transaction() as s:
        found = s.execute(
            select(o.status, LostReason.name, o.currency, o.expected_revenue, o.closed_at)
            .outerjoin(LostReason, LostReason.id == o.lost_reason_id)
            .where(o.status.in_(("won", "lost")), *scope.deals(o), *scope.in_period(o.closed_at))
        ).all()
    tz = scope.ws.timezone
    groups: dict[tuple[str, str, str], list[Any]] = {}
    outcomes: dict[str, int] = {}
    for status, reason, cur, revenue, closed_at in found:
        label = "won" if status == "won" else (reason or NO_REASON)
        day = closed_at.astimezone(tz).date() if closed_at is not None else None
        group = groups.setdefault((status, label, cur), [0, Decimal(0), []])
        group[0] += 1
        group[1] += revenue or 0
        group[2].append(scope.convert(revenue or Decimal(0), cur, day))
        outcomes[status] = outcomes.get(status, 0) + 1
    reporting = scope.rates.reporting if groups else scope.currency
    rows = [
        (status, label, cur, n, money(value, cur), n / outcomes[status], reporting, total(conv))
        for (status, label, cur), (n, value, conv) in groups.items()
    ]
    rows.sort(key=lambda r: (r[0] != "won", name_order(r[1]), r[2]))
    frame = pd.DataFrame(rows, columns=_columns("win_loss"))
    return _objects(frame.astype({"share": float}), "value_converted")


# -- helpers ------------------------------------------------------------------------------
def _objects(frame: pd.DataFrame, *names: str) -> pd.DataFrame:
    """Money columns as Decimals or None (object dtype), never floats or NaN."""
    for name in names:
        frame[name] = frame[name].astype(object)
    return frame


def _columns(name: str) -> list[str]:
    """The declared columns of report ``name``, in order."""
    return REGISTRY[name].column_names


def _months(
    scope: Scope, first: dt.datetime, last: dt.datetime
) -> tuple[list[str], list[dt.datetime]]:
    """Month labels from ``first``'s month to ``last``'s (workspace time zone) and the
    UTC instants where each starts, plus the start of the month after the last."""
    tz = scope.ws.timezone
    start, end = first.astimezone(tz).date(), last.astimezone(tz).date()
    index, stop = start.year * 12 + start.month - 1, end.year * 12 + end.month - 1
    days = [dt.date(k // 12, k % 12 + 1, 1) for k in range(index, stop + 2)]
    return [d.strftime("%Y-%m") for d in days[:-1]], [scope.start_of(d) for d in days]
