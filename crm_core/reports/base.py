"""What every report shares: its declaration, the registry and the filter scope.

A report is a function ``f(scope) -> DataFrame`` declared with :func:`report`, which
names it, titles it, documents its columns (and their kinds, which drive the Excel
formats), says which filters it understands and which chart shows it. Declared
reports are listed in :data:`REGISTRY`; a user's own reports join it the same way,
through the decorator or an entry point in the group ``crmbook.reports``.

The :class:`Scope` a report receives holds the checked filters and turns them into
SQL conditions, so every report reads "owner", "team" or "the period" the same way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_core import collation
from crm_core import validation as v
from crm_core.access import activity_clauses, deal_clauses, interaction_clauses, own_only
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Campaign, Opportunity, Tag, User
from crm_core.models.pipeline import opportunity_tags
from crm_core.money import Rates
from crm_core.periods import period_instants, start_of
from crm_core.text import fold

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Every filter a report may accept, in the order the command line lists them.
FILTERS = ("period_from", "period_to", "owner", "team", "tag", "source", "campaign")

#: Column kinds; the Excel writer picks a cell format per kind (``bool``: True/False,
#: written as Excel booleans).
KINDS = ("text", "int", "number", "money", "percent", "date", "datetime", "bool")

#: Chart types a report may ask for (native Excel charts; the app draws the same).
CHART_TYPES = ("column", "bar", "line", "pie")

#: Number formats of a chart's value axis (default: from the kinds of its values).
AXIS_FORMATS = ("number", "money", "percent")


@dataclass(frozen=True)
class Column:
    """One column of a report's DataFrame: its name, kind (see :data:`KINDS`) and
    what it means. ``percent`` columns hold fractions 0..1; ``money`` columns hold
    Decimals in the currency of the row's ``currency`` column. ``label`` is the title
    people read (workbook headers); the built-in reports' titles and their
    translations are in ``crm_core/reports/labels.toml`` (see
    :mod:`crm_core.reports.labels`), which wins over ``label``."""

    name: str
    kind: str
    doc: str = ""
    label: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"column {self.name!r}: kind {self.kind!r} is not one of {KINDS}")


@dataclass(frozen=True)
class Chart:
    """What a report's chart shows; the app and the workbooks draw it alike from
    :func:`crm_core.reports.charts.chart_data`.

    - ``type``: see :data:`CHART_TYPES`; ``category``: the column giving the
      categories (rows with the same category are added up);
    - ``values``: the columns giving the values, one series each; or, with ``series``,
      the one column whose values are drawn once per distinct value of the ``series``
      column (a pivot: one line per forecast method, one bar per outcome);
    - ``common``: with ``series``, columns drawn once each beside the pivoted series
      (the actual figure repeated on every method's row);
    - ``top``: keep the ``top`` largest categories, the rest added up as "Other"
      (or, with ``other=False``, left out and their total named in the chart's note:
      a ranking whose long tail would dwarf its leaders);
    - ``order``: a column whose values order the categories (a stage's ``sequence``:
      the funnel in pipeline order); default: the frame's order;
    - ``axis``: the value axis's format, see :data:`AXIS_FORMATS` (default: from the
      values' kinds).

    A money chart never mixes currencies: it is drawn on the ``<value>_converted``
    columns when the report has them, else once per currency.
    """

    type: str
    category: str
    values: tuple[str, ...]
    title: str = ""
    series: str | None = None
    common: tuple[str, ...] = ()
    top: int | None = None
    order: str | None = None
    axis: str = ""
    other: bool = True

    def __post_init__(self) -> None:
        if self.type not in CHART_TYPES:
            raise ValueError(f"chart type {self.type!r} is not one of {CHART_TYPES}")
        if self.axis and self.axis not in AXIS_FORMATS:
            raise ValueError(f"chart axis {self.axis!r} is not one of {AXIS_FORMATS}")
        if not self.values:
            raise ValueError("a chart needs at least one value column")
        if self.series is not None and len(self.values) != 1:
            raise ValueError(f"a chart with series={self.series!r} takes one value column")
        if self.common and self.series is None:
            raise ValueError("common columns go with series=")
        if self.top is not None and self.top < 1:
            raise ValueError(f"chart top={self.top!r} must be at least 1")

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column the chart reads."""
        extra = (self.series,) if self.series else ()
        order = (self.order,) if self.order else ()
        return (self.category, *self.values, *self.common, *extra, *order)


ReportFunction = Callable[["Scope"], pd.DataFrame]


@dataclass(frozen=True)
class Report:
    """A declared report: see :func:`report`."""

    name: str
    title: str
    function: ReportFunction
    columns: tuple[Column, ...]
    filters: frozenset[str]
    chart: Chart | None = None
    doc: str = ""

    @property
    def column_names(self) -> list[str]:
        """The DataFrame's columns, in order."""
        return [c.name for c in self.columns]

    def kinds(self) -> dict[str, str]:
        """Column name -> kind."""
        return {c.name: c.kind for c in self.columns}


#: Report name -> declaration. Filled by :func:`report` (the built-in reports when
#: crm_core.reports is imported, a user's own when their module is) and by
#: :func:`load_plugins` from the ``crmbook.reports`` entry points.
REGISTRY: dict[str, Report] = {}

ENTRY_POINT_GROUP = "crmbook.reports"


def report(
    name: str,
    *,
    title: str,
    columns: list[Column] | tuple[Column, ...],
    filters: tuple[str, ...] | frozenset[str] = FILTERS,
    chart: Chart | None = None,
) -> Callable[[ReportFunction], ReportFunction]:
    """Declare a report: ``@report("funnel", title="Funnel", columns=[...])``.

    The decorated function takes a :class:`Scope` and returns a DataFrame with exactly
    ``columns``. ``filters`` lists the filters it understands (others are refused with
    a clear error instead of being ignored). Once declared, the report is run by
    ``ws.reports.run(name, ...)`` or ``ws.reports.<name>(...)``, listed by
    ``crmbook report``, shown on the app's Reports page and exported to Excel.
    """
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"report {name!r}: unknown filters {sorted(unknown)}; use {FILTERS}")
    if not name.isidentifier():
        raise ValueError(f"report name {name!r} must be a Python identifier (a_b_c)")

    def register(function: ReportFunction) -> ReportFunction:
        REGISTRY[name] = Report(
            name=name,
            title=title,
            function=function,
            columns=tuple(columns),
            filters=frozenset(filters),
            chart=chart,
            doc=(function.__doc__ or "").strip(),
        )
        return function

    return register


def frame_of(
    rows: list[dict[str, Any]], columns: list[Column] | tuple[Column, ...]
) -> pd.DataFrame:
    """Rows (dicts) as a report's DataFrame with exactly ``columns``, in order; a column
    holding a missing value keeps it as None (object dtype) rather than NaN."""
    names = [c.name for c in columns]
    frame = pd.DataFrame([{n: r[n] for n in names} for r in rows], columns=names)
    for name in names:
        values = [r[name] for r in rows]
        if any(value is None for value in values):
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
    return frame


def load_plugins() -> list[str]:
    """Import the modules named by ``crmbook.reports`` entry points (their reports
    register themselves) and return the names of the reports they added. An entry
    point may also point at a :class:`Report` or at a decorated function."""
    before = set(REGISTRY)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        loaded = ep.load()
        if isinstance(loaded, Report):
            REGISTRY[loaded.name] = loaded
    return sorted(set(REGISTRY) - before)


@dataclass
class Scope:
    """The checked filters of one report run, and the SQL they mean.

    ``owner_ids`` is the set of users whose records the report covers: the ``owner``
    filter, the members of ``team``, and for a sales user only themselves; None means
    everyone. Periods are calendar dates in the workspace time zone, both ends
    included (``None``: open end).

    ``currency`` is the run's reporting currency (``currency=`` of the run, default
    the workspace setting): money reports add ``<column>_converted`` columns in it,
    converted by :meth:`convert` with the :attr:`rates` read once per run. What could
    not be converted (a missing rate is never 1) is in ``rates.missing``; the run
    puts :meth:`missing_rates` in the DataFrame's ``attrs["missing_rates"]``.
    """

    ws: Workspace
    period_from: dt.date | None = None
    period_to: dt.date | None = None
    owner_ids: frozenset[int] | None = None
    team: str | None = None
    tag_id: int | None = None
    #: The deal sources the ``source`` filter matched (as the deals write them).
    sources: tuple[str, ...] | None = None
    campaign_id: int | None = None
    given: dict[str, Any] = field(default_factory=dict)
    currency: str = ""
    _rates: Rates | None = field(default=None, repr=False)

    # -- money ------------------------------------------------------------------------
    @property
    def rates(self) -> Rates:
        """The workspace's exchange rates to :attr:`currency`, read once per run."""
        if self._rates is None:
            with self.ws.transaction() as s:
                self._rates = Rates.load(s, self.currency or self.ws.setting("currency"))
        return self._rates

    def convert(
        self, amount: Decimal | None, currency: str, on: dt.date | None, *, rounded: bool = True
    ) -> Decimal | None:
        """``amount`` of ``currency`` in the reporting currency at the rate of ``on`` (the
        record's date; the latest rate on or before it), in its minor units (not rounded
        with ``rounded=False``: for a sum to round once); None for no amount or when the
        rate is missing (remembered in ``rates.missing``).

        A report converts each invoice (or deal) on its own with this, rounded, and
        adds those up: one level of rounding, so that the same records give the same
        converted figure in every report and a total is the sum of its parts."""
        if amount is None:
            return None
        return self.rates.try_convert(amount, currency, on, rounded=rounded)

    def missing_rates(self) -> str:
        """Which rates this run missed, in words ('' when none did, or nothing was
        converted)."""
        return self._rates.missing_text() if self._rates is not None else ""

    def missing_rate_list(self) -> list[tuple[str, dt.date | None]]:
        """Which rates this run missed, as data (:meth:`crm_core.money.Rates.missing_rates`:
        for the workbooks, which say it in their language)."""
        return self._rates.missing_rates() if self._rates is not None else []

    # -- time -------------------------------------------------------------------------
    def today(self) -> dt.date:
        """Today in the workspace time zone (by the workspace clock)."""
        return self.ws.today()

    def start_of(self, day: dt.date) -> dt.datetime:
        """Midnight starting ``day`` in the workspace time zone, as aware UTC
        (:func:`crm_core.periods.start_of`)."""
        return start_of(day, self.ws.timezone)

    def instants(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The period as UTC instants: [start of the first day, start of the day after
        the last) (:func:`crm_core.periods.period_instants`)."""
        return period_instants(self.period_from, self.period_to, self.ws.timezone)

    def in_period(self, column: Any) -> list[Any]:
        """Conditions putting a UTC timestamp column inside the period."""
        start, end = self.instants()
        out: list[Any] = []
        if start is not None:
            out.append(column >= start)
        if end is not None:
            out.append(column < end)
        return out

    def days_in_period(self, column: Any) -> list[Any]:
        """Conditions putting a date column inside the period (both ends included)."""
        out: list[Any] = []
        if self.period_from is not None:
            out.append(column >= self.period_from)
        if self.period_to is not None:
            out.append(column <= self.period_to)
        return out

    # -- who and what -------------------------------------------------------------------
    def owned_by(self, column: Any) -> list[Any]:
        """Conditions keeping rows whose user column (owner, assignee, author) is in
        scope."""
        if self.owner_ids is None:
            return []
        return [column.in_(sorted(self.owner_ids))]

    def deals(self, o: Any = Opportunity) -> list[Any]:
        """Conditions selecting the active deals in scope (owner/team, tag, source,
        campaign) that the acting user may see (crm_core.access); the period is left to
        the report, which knows which date it means."""
        out: list[Any] = [
            o.active.is_(True),
            *self.owned_by(o.owner_id),
            *deal_clauses(self.ws, o),
        ]
        if self.tag_id is not None:
            out.append(
                o.id.in_(
                    select(opportunity_tags.c.opportunity_id).where(
                        opportunity_tags.c.tag_id == self.tag_id
                    )
                )
            )
        if self.sources is not None:
            out.append(o.source.in_(self.sources))
        if self.campaign_id is not None:
            out.append(o.campaign_id == self.campaign_id)
        return out

    def activities(self, a: Any) -> list[Any]:
        """Conditions keeping the activities the acting user may see (a sales user: those
        assigned to them and not on someone else's deal) and, with an owner/team
        filter, only those linked to no deal or to a deal of the users in scope:
        a manager asking for a salesperson sees what the salesperson sees of their own
        work (the access rule applied as if they were acting). ``owned_by`` adds the
        assignee condition."""
        return [*activity_clauses(self.ws, a), *self._on_own_deals(a.opportunity_id)]

    def interactions(self, i: Any) -> list[Any]:
        """Conditions keeping the interactions the acting user may see (a sales user:
        none linked to someone else's deal) and, with an owner/team filter, only those
        linked to no deal or to a deal of the users in scope (as :meth:`activities`:
        the same figures as the salesperson's own view). ``owned_by`` adds the
        condition on who logged them."""
        return [*interaction_clauses(self.ws, i), *self._on_own_deals(i.opportunity_id)]

    def _on_own_deals(self, deal_id: Any) -> list[Any]:
        """With an owner/team filter: ``deal_id`` empty or a deal one of those users
        owns (the access rule's "not on someone else's deal", for the users in scope)."""
        if self.owner_ids is None:
            return []
        theirs = select(Opportunity.id).where(Opportunity.owner_id.in_(sorted(self.owner_ids)))
        return [or_(deal_id.is_(None), deal_id.in_(theirs))]


def make_scope(ws: Workspace, spec: Report, given: dict[str, Any], currency: Any = None) -> Scope:
    """Check ``given`` filters against what ``spec`` accepts and resolve names to ids;
    ``currency`` is the reporting currency (a currency code; None: the workspace's).

    Every problem is reported at once as a :class:`ValidationError` naming the report,
    the filter and the value.
    """
    record = f"report {spec.name!r}"
    errors: list[FieldError] = []
    reporting = ws.setting("currency")
    if currency is not None:
        try:
            reporting = v.currency(currency)
        except v.Reject as exc:
            errors.append(FieldError(record, "currency", currency, str(exc)))
    given = {k: val for k, val in given.items() if val is not None}
    for name in given:
        if name not in FILTERS:
            errors.append(FieldError(record, name, given[name], f"is not a filter; use {FILTERS}"))
        elif name not in spec.filters:
            accepted = ", ".join(f for f in FILTERS if f in spec.filters) or "none"
            errors.append(
                FieldError(record, name, given[name], f"does not apply here (filters: {accepted})")
            )
    # Only the filters this report takes are looked up: one error per refused filter.
    given = {k: val for k, val in given.items() if k in spec.filters}
    scope = Scope(ws=ws, given=dict(given), currency=reporting)
    for name in ("period_from", "period_to"):
        if isinstance(given.get(name), str) and not given[name].strip():
            # "" is no date, and not "no filter": leave the filter out for that
            errors.append(FieldError(record, name, given[name], "is empty; give a date or None"))
        elif name in given:
            try:
                setattr(scope, name, v.date_value(given[name]))
            except v.Reject as exc:
                errors.append(FieldError(record, name, given[name], str(exc)))
    if scope.period_from and scope.period_to and scope.period_from > scope.period_to:
        errors.append(FieldError(record, "period_to", given["period_to"], "is before period_from"))
    with ws.transaction() as s:
        owners = _owner_ids(s, ws, given, record, errors)
        scope.owner_ids = owners
        if "team" in given:
            scope.team = str(given["team"])
        if "tag" in given:
            key = fold(str(given["tag"]))
            scope.tag_id = s.scalar(select(Tag.id).where(Tag.name_key == key))
            if scope.tag_id is None:
                errors.append(FieldError(record, "tag", given["tag"], "no such tag"))
        if "source" in given:
            # A deal's source as its deals write it, in any case and spacing.
            wanted = _loosely(given["source"])
            written = s.scalars(select(Opportunity.source).distinct())
            same = sorted({src for src in written if src and _loosely(src) == wanted})
            if not same:
                errors.append(
                    FieldError(record, "source", given["source"], "no deal has this source")
                )
            scope.sources = tuple(same)
        if "campaign" in given:
            scope.campaign_id = _campaign_id(s, given["campaign"])
            if scope.campaign_id is None:
                errors.append(FieldError(record, "campaign", given["campaign"], "no such campaign"))
    if errors:
        raise ValidationError(errors)
    return scope


#: The column naming the reporting currency of the ``<column>_converted`` columns.
REPORTING_CURRENCY = Column(
    "reporting_currency", "text", "The reporting currency of the *_converted columns."
)


def converted(name: str, what: str) -> Column:
    """The ``<name>_converted`` money column: ``what`` in the reporting currency, at
    the rate of the record's date; empty when that rate is missing (the run's
    ``attrs["missing_rates"]`` names it)."""
    return Column(
        f"{name}_converted",
        "money",
        f"{what} in the reporting currency (empty when a rate is missing).",
    )


def name_order(name: str | None) -> str:
    """The key every report sorts a name by (a customer, a campaign, an employee, a
    reason): the contact and company lists' own (:func:`crm_core.collation.sort_key`,
    their stored ``sort_key``), so that names come in one alphabetical order in every
    list and report (Adam, émile, Zoe, адам, Анна, Егор, Ёлка, Яна), never in code-point
    order (Zoe before émile, Ёлка before Анна)."""
    return collation.sort_key(name)


def currency_sources(
    columns: Sequence[Column], currency: str | None
) -> dict[int, tuple[int | None, str | None]]:
    """Where each money column's currency is, by column index: (the index of the
    column holding it on each row, or None; the currency to use when there is no such
    column or it is empty). ``<x>_converted`` columns are in the reporting currency
    (the row's ``reporting_currency``, else ``currency``), the others in the row's
    ``currency`` (else ``currency``). The workbooks, the terminal and the app write
    amounts by it (one rule: :mod:`crm_core.money`'s minor units of that currency)."""
    at = {c.name: i for i, c in enumerate(columns)}
    out: dict[int, tuple[int | None, str | None]] = {}
    for i, column in enumerate(columns):
        if column.kind != "money":
            continue
        own = "reporting_currency" if column.name.endswith("_converted") else "currency"
        out[i] = (at.get(own), currency)
    return out


_OWN_FIGURES = "a sales user sees only their own figures: give yourself, or leave it out"


def _owner_ids(
    s: Session, ws: Workspace, given: dict[str, Any], record: str, errors: list[FieldError]
) -> frozenset[int] | None:
    """The users in scope: intersect the owner filter, the team filter and, for a sales
    user, themselves. None when nothing restricts."""
    sets: list[set[int]] = []
    mine = own_only(ws)
    if "owner" in given:
        raw = given["owner"]
        if isinstance(raw, int) and not isinstance(raw, bool):
            found = s.scalar(select(User.id).where(User.id == raw))
        else:
            found = s.scalar(select(User.id).where(User.login == str(raw).strip().lower()))
            if found is None and str(raw).strip().isdecimal():  # "3" from a command line
                found = s.scalar(select(User.id).where(User.id == int(str(raw).strip())))
        if found is None:
            errors.append(FieldError(record, "owner", raw, "no such user (give a login or id)"))
        elif mine is not None and found != mine:
            # Their figures would all be zeros here, which reads as a fact about them.
            errors.append(FieldError(record, "owner", raw, _OWN_FIGURES))
        else:
            sets.append({found})
    if "team" in given:
        # Any case and spacing, in any script: folded here, not by SQL's lower()
        # (SQLite's folds only ASCII letters, so "Команда Б" would match nothing).
        team = _loosely(given["team"])
        members = {
            uid for uid, name in s.execute(select(User.id, User.team)) if _loosely(name) == team
        }
        if not members:
            errors.append(FieldError(record, "team", given["team"], "no user is in this team"))
        elif mine is not None and mine not in members:
            errors.append(FieldError(record, "team", given["team"], _OWN_FIGURES))
        sets.append(members)
    if mine is not None:
        sets.append({mine})
    if not sets:
        return None
    out = set.intersection(*sets)
    return frozenset(out)


def _loosely(value: Any) -> str:
    """A team or source name as a filter compares it: spacing collapsed, case folded in
    every script."""
    return " ".join(str(value or "").split()).casefold()


def _campaign_id(s: Session, raw: Any) -> int | None:
    if isinstance(raw, int) and not isinstance(raw, bool):
        return s.scalar(select(Campaign.id).where(Campaign.id == raw))
    return s.scalar(select(Campaign.id).where(Campaign.name == str(raw)))
