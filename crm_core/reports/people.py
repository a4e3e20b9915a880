"""Reports about people: each employee's weekly workload and outcomes, and how the
business talks with each contact and company.

Both are aggregated in SQL. Weeks are ISO weeks (Monday to Sunday) in the workspace
time zone; a timestamp is put in its week by comparing it with the UTC instants of
the local Mondays' midnights, so daylight-saving changes are honoured on SQLite as on
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import (
    Integer,
    String,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    union_all,
)

from crm_core.models import CHANNELS, Activity, Company, Contact, Interaction, Opportunity, User
from crm_core.reports.base import Chart, Column, Scope, frame_of, name_order, report

PERIOD_AND_PEOPLE = ("period_from", "period_to", "owner", "team")


# -- workload -----------------------------------------------------------------------------
WORKLOAD_COLUMNS = [
    Column("owner", "text", "The employee's name."),
    Column("login", "text", "The employee's login."),
    Column("team", "text", "The employee's sales team (empty when none)."),
    Column("week", "date", "The Monday starting the ISO week, in the workspace time zone."),
    Column("activities_done", "int", "Activities assigned to them marked done that week."),
    Column(
        "activities_overdue",
        "int",
        "Activities assigned to them, due that week and not done by its end (for the "
        "current week: due before today and still open).",
    ),
    Column("calls_logged", "int", "Interactions on the call channel they logged that week."),
    Column("emails_logged", "int", "Interactions on the email channel they logged that week."),
    Column("deals_won", "int", "Deals they own won that week (closed_at)."),
    Column("deals_lost", "int", "Deals they own lost that week (closed_at)."),
]
_FIGURES = [c.name for c in WORKLOAD_COLUMNS[4:]]


@report(
    "workload",
    title="Workload per employee and week",
    columns=WORKLOAD_COLUMNS,
    filters=PERIOD_AND_PEOPLE,
    chart=Chart(
        "column",
        "owner",
        ("activities_done", "calls_logged", "emails_logged", "deals_won"),
        "Work done per employee",
        top=12,
    ),
)
def workload(scope: Scope) -> pd.DataFrame:
    """Workload and outcomes per employee per ISO week (Monday to Sunday, workspace
    time zone), one row per employee and week with at least one non-zero figure,
    sorted by week then employee name.

    Columns: ``owner`` (name), ``login``, ``team``, ``week`` (the Monday's date), and
    the counts:

    - ``activities_done``: activities assigned to the employee whose ``done_at`` falls
      in the week;
    - ``activities_overdue``: activities assigned to the employee whose ``due_date``
      falls in the week and that were not done by the end of that week (done later,
      or still open). For the current week, which has not ended, only activities due
      before today and still open count; weeks after the current one have none. An
      activity done late is thus overdue in the week it was due, and done in the week
      it was done;
    - ``calls_logged``, ``emails_logged``: interactions on the call / email channel,
      in either direction, whose ``user_id`` is the employee, by ``occurred_at``;
    - ``deals_won``, ``deals_lost``: active deals the employee owns closed won / lost
      in the week, by ``closed_at``. (No value: amounts in different currencies are
      not added.)

    Activities without an assignee and interactions without a user count for nobody.

    Filters: ``period_from`` / ``period_to`` keep the weeks overlapping the period and,
    within them, only what is dated in the period (done_at, due_date, occurred_at,
    closed_at), so a period starting on a Wednesday counts that week from Wednesday.
    ``owner`` / ``team`` keep those employees (a sales user sees only themselves, and
    nothing about someone else's deal: crm_core.access). The deal rule holds for the
    filters too: with ``owner`` / ``team``, activities and interactions linked to a
    deal count only when one of those employees owns the deal, so that a manager
    asking for a salesperson reads exactly the figures the salesperson reads in
    their own view (a call a salesperson logged on a colleague's deal counts for
    neither; without a filter a manager sees it counted for whoever logged it).
    """
    today = scope.today()
    a, i, o = Activity, Interaction, Opportunity
    done_where = [
        a.done_at.is_not(None),
        a.assignee_id.is_not(None),
        *scope.in_period(a.done_at),
        *scope.owned_by(a.assignee_id),
        *scope.activities(a),
    ]
    due_where = [
        a.assignee_id.is_not(None),
        a.due_date < today,
        *scope.days_in_period(a.due_date),
        *scope.owned_by(a.assignee_id),
        *scope.activities(a),
    ]
    logged_where = [
        i.channel.in_(("call", "email")),
        i.user_id.is_not(None),
        *scope.in_period(i.occurred_at),
        *scope.owned_by(i.user_id),
        *scope.interactions(i),
    ]
    closed_where = [
        o.status.in_(("won", "lost")),
        o.closed_at.is_not(None),
        o.owner_id.is_not(None),
        *scope.deals(o),
        *scope.in_period(o.closed_at),
    ]
    with scope.ws.transaction() as s:
        lows: list[dt.date] = []
        highs: list[dt.date] = []
        for when, where in (
            (a.done_at, done_where),
            (a.due_date, due_where),
            (i.occurred_at, logged_where),
            (o.closed_at, closed_where),
        ):
            low, high = s.execute(select(func.min(when), func.max(when)).where(*where)).one()
            if low is not None and high is not None:
                lows.append(_local_day(scope, low))
                highs.append(_local_day(scope, high))
        first = scope.period_from or (min(lows) if lows else None)
        last = scope.period_to or (max(highs) if highs else None)
        if first is None or last is None or first > last:
            return frame_of([], WORKLOAD_COLUMNS)
        mondays = _mondays(first, last)
        instants = [scope.start_of(d) for d in mondays]
        done_week = _bucket(a.done_at, instants)
        due_week = _bucket(a.due_date, mondays)

        def counts(**ones: Any) -> list[Any]:
            return [
                (ones[name] if name in ones else literal_column("0", Integer)).label(name)
                for name in _FIGURES
            ]

        one = literal_column("1", Integer)
        events = union_all(
            select(
                a.assignee_id.label("user_id"),
                done_week.label("week"),
                *counts(activities_done=one),
            ).where(*done_where),
            select(
                a.assignee_id.label("user_id"),
                due_week.label("week"),
                *counts(activities_overdue=one),
            ).where(
                *due_where,
                # Not done by the end of the week it was due: done in a later week.
                or_(a.done_at.is_(None), done_week > due_week),
            ),
            select(
                i.user_id.label("user_id"),
                _bucket(i.occurred_at, instants).label("week"),
                *counts(
                    calls_logged=case((i.channel == "call", 1), else_=0),
                    emails_logged=case((i.channel == "email", 1), else_=0),
                ),
            ).where(*logged_where),
            select(
                o.owner_id.label("user_id"),
                _bucket(o.closed_at, instants).label("week"),
                *counts(
                    deals_won=case((o.status == "won", 1), else_=0),
                    deals_lost=case((o.status == "lost", 1), else_=0),
                ),
            ).where(*closed_where),
        ).subquery("events")
        query = (
            select(
                User.name.label("owner"),
                User.login,
                User.team,
                events.c.week,
                *(func.sum(events.c[name]).label(name) for name in _FIGURES),
            )
            .join(User, User.id == events.c.user_id)
            .where(events.c.week >= 0, events.c.week < len(mondays) - 1)
            .group_by(User.id, User.name, User.login, User.team, events.c.week)
        )
        rows = [dict(r) for r in s.execute(query).mappings()]
    for row in rows:
        row["week"] = mondays[int(row["week"])]
        for name in _FIGURES:
            row[name] = int(row[name] or 0)
    rows = [r for r in rows if any(r[name] for name in _FIGURES)]
    rows.sort(key=lambda r: (r["week"], name_order(r["owner"]), r["login"]))
    return frame_of(rows, WORKLOAD_COLUMNS)


# -- interactions ---------------------------------------------------------------------------
INTERACTION_COLUMNS = [
    Column("party_type", "text", '"contact" or "company".'),
    Column("party_id", "int", "The contact's or company's id."),
    Column("party", "text", "The contact's or company's name."),
    *(
        Column(
            f"{channel}_{direction}",
            "int",
            f"{'Inbound' if direction == 'in' else 'Outbound'} interactions on the "
            f"{channel} channel.",
        )
        for channel in CHANNELS
        for direction in ("in", "out")
    ),
    Column("total_in", "int", "Inbound interactions, all channels."),
    Column("total_out", "int", "Outbound interactions, all channels."),
    Column(
        "median_response_hours",
        "number",
        "Median hours from an inbound interaction to the next outbound one with the "
        "same party (1 decimal); empty when no inbound one was answered.",
    ),
    Column(
        "preferred_channel",
        "text",
        "The channel of most inbound interactions; empty when there is none.",
    ),
]


@report(
    "interactions",
    title="Interactions per contact and company",
    columns=INTERACTION_COLUMNS,
    filters=PERIOD_AND_PEOPLE,
)
def interactions(scope: Scope) -> pd.DataFrame:
    """Interaction metrics per contact and per company: one row per party with at
    least one interaction, sorted by ``total_in + total_out`` descending, then name.

    An interaction counts for the contact it names (``contact_id``) and for the
    company it names (``company_id``); one naming both counts once for each. A
    contact's interactions do not roll up into their company unless the interaction
    itself names the company, and interactions linked only to a deal count for
    nobody here.

    Columns: ``party_type`` ("contact" / "company"), ``party_id``, ``party`` (name);
    for each channel of :data:`crm_core.models.CHANNELS` a pair ``<channel>_in`` and
    ``<channel>_out`` (counts); ``total_in``, ``total_out``;
    ``median_response_hours``: each inbound interaction is paired with the first
    outbound interaction with the same party at or after it (both in the report's
    scope), and the median of those gaps is given in hours, rounded to 1 decimal
    (None when no inbound interaction was followed by an outbound one; several
    inbound ones before one reply each pair with that reply); ``preferred_channel``:
    the channel with the most inbound interactions, ties broken by the most
    interactions in both directions on it, then by the order of CHANNELS (None with
    no inbound interaction).

    The counts are one GROUP BY with CASE sums; the pairing is done in SQL with a
    window function (the MIN of the later outbound timestamps over the party's rows
    in time order), the gaps and their median in pandas.

    Filters: ``period_from`` / ``period_to`` on ``occurred_at`` (workspace time
    zone); ``owner`` / ``team`` on the interaction's ``user_id`` and, as a sales user
    sees only the interactions they logged and none linked to someone else's deal,
    only those linked to no deal or to a deal of the users filtered on: a manager
    asking for a salesperson reads what the salesperson reads.
    """
    i = Interaction
    where = [
        *scope.in_period(i.occurred_at),
        *scope.owned_by(i.user_id),
        *scope.interactions(i),
    ]

    def side(kind: str, party: Any) -> Any:
        return select(
            literal_column(f"'{kind}'", String).label("party_type"),
            party.label("party_id"),
            i.channel,
            i.direction,
            i.occurred_at,
        ).where(party.is_not(None), *where)

    rows = union_all(side("contact", i.contact_id), side("company", i.company_id)).cte("party_rows")
    pair_names = [f"{c}_{d}" for c in CHANNELS for d in ("in", "out")]
    count_cols = [
        func.sum(case((and_(rows.c.channel == c, rows.c.direction == d), 1), else_=0)).label(
            f"{c}_{d}"
        )
        for c in CHANNELS
        for d in ("in", "out")
    ]
    name = case(
        (rows.c.party_type == "contact", func.max(Contact.name)), else_=func.max(Company.name)
    )
    counts = (
        select(rows.c.party_type, rows.c.party_id, name.label("party"), *count_cols)
        .outerjoin(Contact, and_(rows.c.party_type == "contact", Contact.id == rows.c.party_id))
        .outerjoin(Company, and_(rows.c.party_type == "company", Company.id == rows.c.party_id))
        .group_by(rows.c.party_type, rows.c.party_id)
    )
    later_out = (
        func.min(case((rows.c.direction == "out", rows.c.occurred_at)))
        .over(
            partition_by=(rows.c.party_type, rows.c.party_id),
            # "in" sorts before "out": a reply logged at the same instant follows it.
            order_by=(rows.c.occurred_at, rows.c.direction),
            rows=(1, None),
        )
        .label("reply_at")
    )
    timeline = select(
        rows.c.party_type, rows.c.party_id, rows.c.direction, rows.c.occurred_at, later_out
    ).subquery("timeline")
    pairs = select(
        timeline.c.party_type, timeline.c.party_id, timeline.c.occurred_at, timeline.c.reply_at
    ).where(timeline.c.direction == "in", timeline.c.reply_at.is_not(None))
    with scope.ws.transaction() as s:
        found = [dict(r) for r in s.execute(counts).mappings()]
        gaps = [tuple(r) for r in s.execute(pairs)]
    medians: dict[tuple[str, int], float] = {}
    if gaps:
        frame = pd.DataFrame(gaps, columns=["party_type", "party_id", "asked", "answered"])
        frame["hours"] = [
            (answered - asked).total_seconds() / 3600
            for asked, answered in zip(frame["asked"], frame["answered"], strict=True)
        ]
        for key, value in frame.groupby(["party_type", "party_id"])["hours"].median().items():
            medians[(str(key[0]), int(key[1]))] = round(float(value), 1)
    out = []
    for row in found:
        for col in pair_names:
            row[col] = int(row[col] or 0)
        row["party_id"] = int(row["party_id"])
        row["total_in"] = sum(row[f"{c}_in"] for c in CHANNELS)
        row["total_out"] = sum(row[f"{c}_out"] for c in CHANNELS)
        row["median_response_hours"] = medians.get((row["party_type"], row["party_id"]))
        row["preferred_channel"] = _preferred(row)
        out.append(row)
    out.sort(
        key=lambda r: (
            -(r["total_in"] + r["total_out"]),
            name_order(r["party"]),
            r["party_type"],
            r["party_id"],
        )
    )
    return frame_of(out, INTERACTION_COLUMNS)


def _preferred(row: dict[str, Any]) -> str | None:
    """The channel with most inbound interactions; ties: most in both directions, then
    CHANNELS order. None when nothing came in."""
    best = max(
        CHANNELS,
        key=lambda c: (
            row[f"{c}_in"],
            row[f"{c}_in"] + row[f"{c}_out"],
            -CHANNELS.index(c),
        ),
    )
    return best if row[f"{best}_in"] > 0 else None


# -- helpers --------------------------------------------------------------------------------
def _local_day(scope: Scope, value: dt.date) -> dt.date:
    """The workspace-local calendar date of an aware instant; a date as it is."""
    if isinstance(value, dt.datetime):
        return value.astimezone(scope.ws.timezone).date()
    return value


def _mondays(first: dt.date, last: dt.date) -> list[dt.date]:
    """The Mondays starting each ISO week from ``first``'s to ``last``'s, plus the
    Monday after: week ``k`` is ``[mondays[k], mondays[k + 1])``."""
    start = first - dt.timedelta(days=first.weekday())
    end = last - dt.timedelta(days=last.weekday()) + dt.timedelta(days=7)
    return [start + dt.timedelta(days=7 * k) for k in range((end - start).days // 7 + 1)]


def _bucket(column: Any, bounds: list[Any]) -> Any:
    """The index ``k`` of the interval ``[bounds[k], bounds[k + 1])`` holding
    ``column``, as a SQL CASE: -1 before the first bound, ``len(bounds) - 1`` from
    the last one on. The CASE is a balanced tree of comparisons, so a row needs about
    log2(weeks) of them however long the range."""
    n = len(bounds) - 1

    def tree(lo: int, hi: int) -> Any:
        if hi - lo == 1:
            return literal_column(str(lo), Integer)
        mid = (lo + hi) // 2
        return case((column < bounds[mid], tree(lo, mid)), else_=tree(mid, hi))

    return case(
        (column < bounds[0], literal_column("-1", Integer)),
        (column >= bounds[-1], literal_column(str(n), Integer)),
        else_=tree(0, n),
    )
