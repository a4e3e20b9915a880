"""The pipeline's figures, defined once: the weighted pipeline and the funnel.

The board's column totals (``ws.pipeline.stage_totals``), the dashboard
(``ws.metrics.headline``, ``ws.metrics.funnel``, ``ws.pipeline.by_stage``) and the
reports (``pipeline_by_stage``, ``funnel``, the forecasts) all compute them here, in
SQL, so that one deal counts the same everywhere.

Money: amounts are Decimals to the cent in the deal's currency. Given a
:class:`crm_core.money.Rates`, each currency's part is also converted to the
reporting currency on the deal's date (its expected close date; today when it has
none): the deals of one currency and day are summed, then converted, and a missing
rate leaves the converted figure empty (None), never treated as 1 (``rates.missing``
says which).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Numeric, case, cast, func, literal, select, true, union_all
from sqlalchemy.orm import Session, aliased

from crm_core.models import Opportunity, Stage, StageChange
from crm_core.models.base import Money
from crm_core.money import quantize

if TYPE_CHECKING:
    from crm_core.money import Rates

#: Money as SQL computes it: 18 digits, 2 places.
#: What SQL casts a sum of amounts to: a Money column's type (4 places).
MONEY = Money
CENT = Decimal("0.01")
#: Exact enough for sums of ``revenue x probability / 100`` (4 extra places).
_EXACT = Numeric(28, 6)
#: Orders the won stage after every open stage in the funnel, whatever its sequence.
WON_RANK = 1_000_000

#: The columns of :func:`weighted_pipeline` after its keys.
PIPELINE_FIGURES = ["currency", "count", "value", "weighted"]
#: The converted columns :func:`weighted_pipeline` adds when given rates.
CONVERTED_FIGURES = ["value_converted", "weighted_converted"]


def money(value: Any, currency: str | None = None) -> Decimal:
    """A sum from SQL as an exact Decimal in ``currency``'s minor units (KWD 3 places,
    JPY none; two without a currency). SQLite sums NUMERIC as floats."""
    amount = Decimal(str(value if value is not None else 0))
    return quantize(amount, currency) if currency else amount.quantize(CENT)


def stage_rank(stage: Any) -> Any:
    """A stage's place in the funnel, as SQL: its sequence, the won stage after all."""
    return case((stage.is_won.is_(True), WON_RANK), else_=stage.sequence)


# -- the weighted pipeline --------------------------------------------------------------
def weighted_pipeline(
    s: Session,
    where: Sequence[Any],
    *,
    by: Sequence[str] = ("stage_id",),
    rates: Rates | None = None,
    today: dt.date | None = None,
) -> pd.DataFrame:
    """The deals matching ``where`` summed per ``by`` (Opportunity columns, e.g.
    ``("stage_id",)``; ``()`` for one total) and currency, in one SQL GROUP BY.

    Columns: the ``by`` keys, ``currency``, ``count``, ``value`` (sum of expected
    revenue) and ``weighted`` (sum of expected revenue x probability / 100), Decimals
    to the cent; sorted by the keys then currency; only groups with deals. With
    ``rates``, also ``value_converted`` and ``weighted_converted``: the same sums in
    ``rates.reporting``, each deal converted on its expected close date (``today``
    when it has none), None when a rate is missing.

    The caller says which deals (status, active, access, filters): this is only the
    arithmetic, so every view of the pipeline adds up the same way.
    """
    if rates is not None and today is None:
        raise ValueError("weighted_pipeline: give today (the date of deals without a close date)")
    o = Opportunity
    keys = [getattr(o, name) for name in by]
    # The close date only matters for converting: without rates, the SQL stays
    # within the index on (stage_id, active, currency, status, revenue, probability).
    day = o.expected_close if rates is not None else literal(None, o.expected_close.type)
    query = (
        select(
            *keys,
            o.currency,
            day,
            func.count(o.id),
            cast(func.coalesce(func.sum(o.expected_revenue), 0), _EXACT),
            cast(func.coalesce(func.sum(o.expected_revenue * o.probability / 100), 0), _EXACT),
        )
        .where(*where)
        .group_by(*keys, o.currency, *([day] if rates is not None else []))
    )
    groups: dict[tuple[Any, ...], list[Any]] = {}
    for row in s.execute(query):
        *key, currency, on, n, value, weighted = row
        value, weighted = _exact(value), _exact(weighted)
        entry = groups.setdefault((*key, currency), [0, Decimal(0), Decimal(0), [], []])
        entry[0] += int(n)
        entry[1] += value
        entry[2] += weighted
        if rates is not None and today is not None:
            entry[3].append(rates.try_convert(value, currency, on or today))
            entry[4].append(rates.try_convert(weighted, currency, on or today))
    rows: list[dict[str, Any]] = []
    for group in sorted(groups, key=_sort_key):
        n, value, weighted, values, weights = groups[group]
        out = dict(zip([*by, "currency"], group, strict=True))
        cur = out["currency"]
        out.update(count=n, value=money(value, cur), weighted=money(weighted, cur))
        if rates is not None:
            out.update(value_converted=total(values), weighted_converted=total(weights))
        rows.append(out)
    columns = [*by, *PIPELINE_FIGURES, *(CONVERTED_FIGURES if rates is not None else [])]
    frame = pd.DataFrame(rows, columns=columns)
    frame["count"] = frame["count"].astype(int)
    for name in CONVERTED_FIGURES if rates is not None else []:
        frame[name] = frame[name].astype(object)
    return frame


def total(amounts: Sequence[Decimal | None]) -> Decimal | None:
    """The sum of converted amounts; None when one of them is missing (a missing rate
    is never treated as 1, nor as 0)."""
    if any(a is None for a in amounts):
        return None
    return sum((a for a in amounts if a is not None), Decimal(0))


def _exact(value: Any) -> Decimal:
    return Decimal(str(value if value is not None else 0))


def _sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((item is None, item if item is not None else 0) for item in key)


# -- the funnel -------------------------------------------------------------------------
def funnel_stages(s: Session, pipeline_id: int) -> list[tuple[int, str, int]]:
    """The stages of a funnel in order, ``(stage_id, name, sequence)``: the pipeline's
    stages by sequence with the won stage last; the lost stage is left out (losing is
    not a step forward)."""
    st = Stage
    return [
        (int(i), str(name), int(seq))
        for i, name, seq in s.execute(
            select(st.id, st.name, st.sequence)
            .where(st.pipeline_id == pipeline_id, st.is_lost.is_(False))
            .order_by(stage_rank(st), st.id)
        )
    ]


def funnel_reached(
    s: Session, pipeline_id: int, where: Sequence[Any], cohort: Any = None
) -> dict[tuple[str, int], int]:
    """How many deals matching ``where`` reached each stage of the funnel or a later
    one, per cohort: ``{(cohort, stage_id): reached}`` (cohort ``""`` without one).

    A deal reached the furthest stage of its stage history and current stage (a
    deal moved from New straight to Proposition, or won, passed through the stages
    between; a deal imported without history is where it is); a deal lost in
    Proposition counts up to Proposition. ``cohort``: an SQL expression over
    Opportunity naming each deal's cohort (e.g. its creation month). Cohorts and
    stages without a deal are not in the answer (count them as 0).
    """
    o = Opportunity
    deals_where = [o.pipeline_id == pipeline_id, *where]
    visited = union_all(
        select(StageChange.opportunity_id.label("deal"), StageChange.to_stage_id.label("st")),
        select(o.id.label("deal"), o.stage_id.label("st")),
    ).subquery()
    top = (
        select(visited.c.deal, func.max(stage_rank(Stage)).label("top"))
        .join(Stage, Stage.id == visited.c.st)
        .join(o, o.id == visited.c.deal)
        .where(Stage.is_lost.is_(False), *deals_where)
        .group_by(visited.c.deal)
        .subquery()
    )
    label = cohort if cohort is not None else literal("")
    deals = (
        select(o.id.label("deal"), label.label("cohort"), top.c.top)
        .outerjoin(top, top.c.deal == o.id)
        .where(*deals_where)
        .subquery()
    )
    st = aliased(Stage)
    grid = s.execute(
        select(deals.c.cohort, st.id, func.sum(case((deals.c.top >= stage_rank(st), 1), else_=0)))
        .select_from(deals)
        .join(st, true())
        .where(st.pipeline_id == pipeline_id, st.is_lost.is_(False))
        .group_by(deals.c.cohort, st.id)
    )
    return {(str(c), int(stage_id)): int(n or 0) for c, stage_id, n in grid}
