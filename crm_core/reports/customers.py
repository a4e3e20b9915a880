"""Reports about customers from the books: sales, payment and aging per customer, and
RFM segments.

They read the ERP's invoice copies (:class:`crm_core.models.Invoice`, pulled by
erp_bridge): posted customer invoices (``out_invoice``) and credit notes
(``out_refund``, which subtract). Amounts are untaxed unless said otherwise, summed
in SQL per customer *and currency* (amounts in different currencies are never
added as they are), as whole units of the fourth decimal (every currency's minor
units, KWD's third decimal too) so that SQLite's floating-point NUMERIC sums stay
exact; beside them, ``<column>_converted`` gives each amount in the run's reporting
currency (``reporting_currency``): every invoice converted on its own at the rate of
its invoice date and rounded to the reporting currency's minor units
(:meth:`~crm_core.reports.base.Scope.convert`, as ``revenue_forecast`` does), those
added up (so a converted total is the sum of its converted parts, to the cent, in
every report), and customers are ranked on them.

The customer of an invoice is its company when it names one (erp_bridge fills the
company of a contact who works at one), otherwise its contact; an invoice naming
neither is left out. ``owner`` / ``team`` filters select customers by the customer's
owner (``Company.owner_id`` or ``Contact.owner_id``, not the owner of a deal); a sales
user sees only the customers they own.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, and_, case, cast, func, literal_column, or_, select
from sqlalchemy.orm import aliased

from crm_core.models import Company, Contact, Invoice
from crm_core.models.base import MONEY_SCALE
from crm_core.money import quantize
from crm_core.reports.base import (
    REPORTING_CURRENCY,
    Chart,
    Column,
    Scope,
    converted,
    frame_of,
    name_order,
    report,
)
from crm_core.services.accounts import CUSTOMER_MOVES, is_open, open_residual

CUSTOMER_FILTERS = ("period_from", "period_to", "owner", "team")
_CUSTOMER_COLUMNS = [
    Column("customer", "text", "The customer's name (company, or contact without one)."),
    Column("customer_type", "text", '"company" or "contact".'),
    Column("customer_id", "int", "The company's or contact's id."),
    Column("currency", "text", "The invoices' currency; one row per currency."),
]


# -- sales per customer ------------------------------------------------------------------------
SALES_COLUMNS = [
    *_CUSTOMER_COLUMNS,
    Column("revenue", "money", "Untaxed invoices less credit notes dated in the period."),
    Column("invoices", "int", "Customer invoices (not credit notes) dated in the period."),
    Column("average_ticket", "money", "revenue / invoices; empty without invoices."),
    Column(
        "days_to_pay",
        "number",
        "Mean days from invoice date to full payment over the period's paid invoices.",
    ),
    Column(
        "open_balance",
        "money",
        "Residual of open invoices less that of open credit notes, today.",
    ),
    Column("age_0_30", "money", "Open balance at most 30 days past due (or not yet due)."),
    Column("age_31_60", "money", "Open balance 31 to 60 days past due."),
    Column("age_61_90", "money", "Open balance 61 to 90 days past due."),
    Column("age_90_plus", "money", "Open balance more than 90 days past due."),
    REPORTING_CURRENCY,
    converted("revenue", "revenue"),
    converted("average_ticket", "revenue_converted / invoices"),
    converted("open_balance", "open_balance"),
    converted("age_0_30", "age_0_30"),
    converted("age_31_60", "age_31_60"),
    converted("age_61_90", "age_61_90"),
    converted("age_90_plus", "age_90_plus"),
    Column(
        "rank",
        "int",
        "The customer's place by revenue_converted over all their currencies (1 = most); "
        "customers with equal revenue share a place (1, 2, 2, 4); empty when a rate is "
        "missing.",
    ),
]
_BUCKETS = ("age_0_30", "age_31_60", "age_61_90", "age_90_plus")
#: The amounts converted per invoice date, as whole units (:func:`_units`) of the
#: invoice currency.
_CONVERTED = ("revenue", "open_balance", *_BUCKETS)


@report(
    "sales_per_customer",
    title="Sales per customer",
    columns=SALES_COLUMNS,
    filters=CUSTOMER_FILTERS,
    chart=Chart("bar", "customer", ("revenue",), "Revenue by customer", top=15, other=False),
)
def sales_per_customer(scope: Scope) -> pd.DataFrame:
    """Sales, payment and aging per customer and currency, from posted ERP invoices
    and credit notes; sorted by revenue descending, then customer.

    Columns: ``customer``, ``customer_type`` ("company" / "contact"), ``customer_id``,
    ``currency``, and:

    - ``revenue``: untaxed amount of the posted invoices less that of the posted credit
      notes whose ``invoice_date`` is in the period (undated ones are left out);
    - ``invoices``: posted invoices (credit notes not counted) dated in the period;
    - ``average_ticket``: ``revenue / invoices``, None without invoices;
    - ``days_to_pay``: mean days from ``invoice_date`` to ``paid_on`` over the period's
      invoices that are paid (``paid_on`` set), 1 decimal; None when none is;
    - ``open_balance``: as of today whatever the period, the ``amount_residual`` (tax
      included, as the ERP keeps it) of the open invoices less that of the open
      credit notes (posted, residual left, payment state neither paid nor reversed:
      :func:`crm_core.services.accounts.open_residual`, the definition of
      ``ws.accounts.open_balance``); negative when the customer is owed money back;
    - ``age_0_30``, ``age_31_60``, ``age_61_90``, ``age_90_plus``: that open balance
      split by days past due as of today: today minus the due date (the invoice date
      when there is no due date). Not yet due counts in 0-30, as does an invoice with
      neither date. An open credit note counts (negative) in the bucket of its own
      date.

    In the reporting currency (``reporting_currency``): ``revenue_converted``,
    ``open_balance_converted`` and the ``age_*_converted`` buckets convert each
    invoice at the rate of its invoice date (the latest rate on or before it; today's
    for an undated one), ``average_ticket_converted`` is ``revenue_converted /
    invoices``; a row with a missing rate has them empty (None) and the run's
    ``attrs["missing_rates"]`` says which rate. ``rank``: the customer's place by
    the sum of ``revenue_converted`` over their rows (all their currencies), 1 the
    largest, the same on each of their rows; customers with equal revenue share their
    place (1, 2, 2, 4: "min" ranking); None when one of their rows could not be
    converted.

    Rows are sorted by that ranking (customers whose rank is unknown last, by
    revenue), a customer's currencies together, then by customer (in the contact
    list's alphabetical order: :func:`~crm_core.reports.base.name_order`) and currency.

    A customer and currency with no posted invoice or credit note dated in the period
    and none open is left out.

    Filters: ``period_from`` / ``period_to`` (invoice dates) for revenue, invoices,
    average ticket and days to pay; ``owner`` / ``team``: the customer's owner.
    """
    inv = Invoice
    today = scope.today()
    cents = _units(inv.amount_untaxed)
    owed = open_residual(inv)  # signed: an open credit note subtracts
    in_period = and_(inv.invoice_date.is_not(None), *scope.days_in_period(inv.invoice_date))
    is_invoice = inv.move_type == "out_invoice"
    due = func.coalesce(inv.due_date, inv.invoice_date)
    limits = [today - dt.timedelta(days=d) for d in (30, 60, 90)]
    bucket = case(
        (or_(due.is_(None), due >= limits[0]), literal_column("0")),
        (due >= limits[1], literal_column("1")),
        (due >= limits[2], literal_column("2")),
        else_=literal_column("3"),
    )
    with scope.ws.transaction() as s:
        days = _days_between(s.get_bind().dialect.name, inv.paid_on, inv.invoice_date)
        paid = and_(in_period, is_invoice, inv.paid_on.is_not(None))
        rows = _per_customer(
            scope,
            [
                func.sum(case((in_period, 1), else_=0)).label("moves"),
                func.sum(case((in_period, case((is_invoice, cents), else_=-cents)), else_=0)).label(
                    "revenue"
                ),
                func.sum(case((and_(in_period, is_invoice), 1), else_=0)).label("invoices"),
                func.sum(case((paid, days), else_=0)).label("days"),
                func.sum(case((paid, 1), else_=0)).label("paid"),
                func.sum(case((is_open(inv), 1), else_=0)).label("open_items"),
                func.sum(owed).label("open_balance"),
                *(
                    func.sum(case((bucket == k, owed), else_=0)).label(name)
                    for k, name in enumerate(_BUCKETS)
                ),
            ],
            [inv.move_type.in_(CUSTOMER_MOVES)],
            by_invoice=True,
        )
        found = [dict(r) for r in s.execute(rows).mappings()]
    out = []
    for row in _by_customer(scope, found, _CONVERTED):
        if not row["moves"] and not row["open_items"]:
            continue
        row["revenue"] = _from_units(row["revenue"], row["currency"])
        row["invoices"] = int(row["invoices"] or 0)
        row["average_ticket"] = (
            quantize(row["revenue"] / row["invoices"], row["currency"]) if row["invoices"] else None
        )
        row["average_ticket_converted"] = (
            (row["revenue_converted"] / row["invoices"]).quantize(row["revenue_converted"])
            if row["invoices"] and row["revenue_converted"] is not None
            else None
        )
        row["days_to_pay"] = round(row["days"] / row["paid"], 1) if row["paid"] else None
        for name in ("open_balance", *_BUCKETS):
            row[name] = _from_units(row[name], row["currency"])
        out.append(row)
    _rank(out)
    return frame_of(out, SALES_COLUMNS)


def _rank(rows: list[dict[str, Any]]) -> None:
    """Rank customers by their revenue in the reporting currency, all currencies
    added, equal revenues sharing a place; sort ``rows`` by it (in place), equal ones
    by name, and set each row's ``rank``."""
    totals: dict[tuple[str, int], Decimal | None] = {}
    for row in rows:
        key = (row["customer_type"], row["customer_id"])
        before = totals.get(key, Decimal(0))
        value = row["revenue_converted"]
        totals[key] = None if before is None or value is None else before + value
    names = {(r["customer_type"], r["customer_id"]): name_order(r["customer"]) for r in rows}
    known = sorted(
        (k for k, t in totals.items() if t is not None),
        key=lambda k: (-totals[k], names[k], k),  # type: ignore[operator]
    )
    places: dict[tuple[str, int], int] = {}
    for position, key in enumerate(known, start=1):
        tied = position > 1 and totals[key] == totals[known[position - 2]]
        places[key] = places[known[position - 2]] if tied else position
    # order: the place, then the name (places[...] alone would mix tied customers' rows)
    sequence = {key: position for position, key in enumerate(known, start=1)}
    unknown = len(known) + 1
    for row in rows:
        row["rank"] = places.get((row["customer_type"], row["customer_id"]))

    largest: dict[tuple[str, int], Decimal] = {}
    for row in rows:
        key = (row["customer_type"], row["customer_id"])
        largest[key] = max(largest.get(key, row["revenue"]), row["revenue"])

    def order(row: dict[str, Any]) -> tuple[Any, ...]:
        # a customer's rows together; those without a rank after, by their largest row
        key = (row["customer_type"], row["customer_id"])
        place = sequence.get(key, unknown)
        return (place, -largest[key] if place == unknown else 0, names[key], key, row["currency"])

    rows.sort(key=order)


# -- RFM ------------------------------------------------------------------------------------
RFM_COLUMNS = [
    *_CUSTOMER_COLUMNS,
    Column("last_invoice", "date", "Date of the last posted invoice in the window."),
    Column("recency_days", "int", "Days from the last invoice to period_to (default today)."),
    Column("frequency", "int", "Posted invoices in the window (credit notes not counted)."),
    Column("monetary", "money", "Untaxed invoices less credit notes in the window."),
    Column(
        "r_score",
        "int",
        "Recency score 1..5, 5 = most recent: within the currency; with fewer than 3 "
        "customers in it, among all currencies' customers; empty when not scored.",
    ),
    Column(
        "f_score",
        "int",
        "Frequency score 1..5, 5 = most frequent (ranked as r_score); empty when not scored.",
    ),
    Column(
        "m_score",
        "int",
        "Monetary score 1..5, 5 = largest: on monetary within the currency; with fewer "
        "than 3 customers in it, on monetary_converted among all currencies' customers; "
        "empty when not scored.",
    ),
    Column(
        "segment",
        "text",
        "Segment named from r_score and f_score (see the report); "
        '"Not scored: too few customers in <currency>" when it could not be ranked ("..., '
        "and no rate to rank among all currencies'\" when its missing rate kept it out).",
    ),
    REPORTING_CURRENCY,
    converted("monetary", "monetary"),
]

#: The fewest customers of a currency to score them among themselves: with fewer, a
#: rank says little (a lone customer would rank last on everything, "Lost").
MIN_PEERS = 3
#: The segment of a customer that could not be scored: too few peers in its currency,
#: and too few among all currencies' (or, NO_RATE, enough but for its missing rate).
NOT_SCORED = "Not scored: too few customers in {currency}"
NOT_SCORED_NO_RATE = (
    "Not scored: too few customers in {currency}, and no rate to rank among all currencies'"
)

#: (segment, rule) in the order they are tried; the first that holds names the customer.
SEGMENTS: tuple[tuple[str, Any], ...] = (
    ("Champions", lambda r, f: r >= 4 and f >= 4),
    ("At risk", lambda r, f: r <= 2 and f >= 3),
    ("Loyal", lambda r, f: f >= 4),
    ("New", lambda r, f: r >= 4 and f <= 1),
    ("Promising", lambda r, f: r >= 4),
    ("Lost", lambda r, f: r <= 1),
    ("Others", lambda r, f: True),
)


@report("rfm", title="RFM segments", columns=RFM_COLUMNS, filters=CUSTOMER_FILTERS)
def rfm(scope: Scope) -> pd.DataFrame:
    """RFM (recency, frequency, monetary) segmentation of customers from posted ERP
    invoices and credit notes, one row per customer and currency with at least one
    posted invoice in the window; sorted by currency, then monetary descending, then
    customer (in the contact list's alphabetical order:
    :func:`~crm_core.reports.base.name_order`).

    The window is the invoices dated from ``period_from`` (open when not given) to
    ``period_to`` (default today), both included; the reference date is ``period_to``
    or today.

    Columns: ``customer``, ``customer_type``, ``customer_id``, ``currency``;
    ``last_invoice``: the date of the last posted invoice (not credit note);
    ``recency_days``: reference date minus ``last_invoice``; ``frequency``: posted
    invoices; ``monetary``: untaxed invoices less credit notes (Decimal);
    ``r_score``, ``f_score``, ``m_score``: 1..5 (see below; None when not scored);
    ``reporting_currency`` and ``monetary_converted``: monetary in the reporting
    currency, each invoice at the rate of its invoice date (None when a rate is
    missing).

    Scores: the customers of a currency with at least :data:`MIN_PEERS` (3)
    customers in the run are ranked among themselves, from worst to best on each
    measure (recency: most days first; frequency and monetary: smallest first); tied
    customers share the lowest rank of their group (rank 1 + number of customers
    strictly worse). With ``n`` customers, ``score = 1 + floor(5 * (rank - 1) / n)``
    (quintiles; all-equal values all score 1).

    A currency with fewer customers is too small to rank in (a lone customer would
    rank last on everything and be "Lost"): its rows are ranked instead among every
    row of the run, all currencies, whose ``monetary_converted`` is known (rates
    exist), on recency, frequency and ``monetary_converted``, with ``n`` that pool's
    size. A row without a converted value, or when that pool has fewer than 3 rows,
    is not scored: its scores are None and its segment says
    "Not scored: too few customers in <currency>".

    Segments, from r_score (r) and f_score (f), the first rule that holds
    (monetary is shown, not used):

    =========  ========================
    Champions  r >= 4 and f >= 4
    At risk    r <= 2 and f >= 3
    Loyal      f >= 4
    New        r >= 4 and f <= 1
    Promising  r >= 4
    Lost       r <= 1
    Others     everything else
    =========  ========================

    Filters: ``period_from`` / ``period_to`` (the window, by invoice date);
    ``owner`` / ``team``: the customer's owner.
    """
    inv = Invoice
    reference = scope.period_to or scope.today()
    cents = _units(inv.amount_untaxed)
    is_invoice = inv.move_type == "out_invoice"
    frequency = func.sum(case((is_invoice, 1), else_=0))
    query = _per_customer(
        scope,
        [
            func.max(case((is_invoice, inv.invoice_date))).label("last_invoice"),
            frequency.label("frequency"),
            func.sum(case((is_invoice, cents), else_=-cents)).label("monetary"),
        ],
        [
            inv.move_type.in_(("out_invoice", "out_refund")),
            inv.invoice_date.is_not(None),
            inv.invoice_date <= reference,
            *scope.days_in_period(inv.invoice_date),
        ],
        by_invoice=True,
    )
    with scope.ws.transaction() as s:
        found = [dict(r) for r in s.execute(query).mappings()]
    found = [r for r in _by_customer(scope, found, ("monetary",)) if r["frequency"] > 0]
    if not found:
        return frame_of([], RFM_COLUMNS)
    for row in found:
        row["recency_days"] = (reference - row["last_invoice"]).days
        row["frequency"] = int(row["frequency"])
        row["monetary"] = _from_units(row["monetary"], row["currency"])
    _score(found)
    rows = found
    rows.sort(
        key=lambda r: (r["currency"], -r["monetary"], name_order(r["customer"]), r["customer_id"])
    )
    return frame_of(rows, RFM_COLUMNS)


def _score(rows: list[dict[str, Any]]) -> None:
    """Set each row's ``r_score``, ``f_score``, ``m_score`` and ``segment`` (see
    :func:`rfm`): within its currency when the currency has :data:`MIN_PEERS`
    customers, else among every row whose monetary value could be converted, else not
    scored."""
    sizes: dict[str, int] = {}
    for row in rows:
        sizes[row["currency"]] = sizes.get(row["currency"], 0) + 1
    pool = [r for r in rows if r.get("monetary_converted") is not None]
    for currency, size in sizes.items():
        own = [r for r in rows if r["currency"] == currency]
        if size >= MIN_PEERS:
            _rank_scores(own, own, "monetary")
            continue
        pooled = [r for r in own if r.get("monetary_converted") is not None]
        if len(pool) >= MIN_PEERS and pooled:
            _rank_scores(pooled, pool, "monetary_converted")
        # With every rate, all the rows (enough of them) would have made one pool.
        said = NOT_SCORED_NO_RATE if len(rows) >= MIN_PEERS else NOT_SCORED
        for row in own:
            if "r_score" not in row:
                row.update(r_score=None, f_score=None, m_score=None)
                row["segment"] = said.format(currency=currency)
    for row in rows:
        if row["r_score"] is not None:
            row["segment"] = segment(row["r_score"], row["f_score"])


def _rank_scores(rows: list[dict[str, Any]], among: list[dict[str, Any]], monetary: str) -> None:
    """Score ``rows`` by their rank among ``among`` (which holds them): worst first,
    ties at the lowest rank, ``1 + floor(5 * (rank - 1) / len(among))``."""
    n = len(among)
    for score, measure in (
        ("r_score", lambda r: -r["recency_days"]),
        ("f_score", lambda r: r["frequency"]),
        ("m_score", lambda r: float(r[monetary])),
    ):
        values = [measure(r) for r in among]
        for row in rows:
            mine = measure(row)
            rank = 1 + sum(1 for x in values if x < mine)
            row[score] = 1 + math.floor(5 * (rank - 1) / n)


def segment(r_score: int, f_score: int) -> str:
    """The RFM segment named by recency and frequency scores (see :data:`SEGMENTS`)."""
    return next(name for name, rule in SEGMENTS if rule(r_score, f_score))


# -- helpers ----------------------------------------------------------------------------------
def _per_customer(
    scope: Scope,
    figures: list[Any],
    where: list[Any],
    having: Any = None,
    by_invoice: bool = False,
) -> Any:
    """``figures`` per customer and currency over the posted invoices matching
    ``where`` and owned (through their customer) by the users in scope; selects
    ``customer``, ``customer_type``, ``customer_id``, ``currency`` and the figures.
    ``by_invoice``: per invoice too (with its ``invoice_date``), so that each invoice
    can be converted on its own at its date's rate (see :func:`_by_customer`)."""
    inv = Invoice
    company, contact = aliased(Company), aliased(Contact)
    is_company = inv.company_id.is_not(None)
    kind = case((is_company, literal_column("'company'")), else_=literal_column("'contact'"))
    customer_id = func.coalesce(inv.company_id, inv.contact_id)
    owned: list[Any] = []
    if scope.owner_ids is not None:
        owned.append(
            or_(
                and_(is_company, *scope.owned_by(company.owner_id)),
                and_(inv.company_id.is_(None), *scope.owned_by(contact.owner_id)),
            )
        )
    query = (
        select(
            func.max(func.coalesce(company.name, contact.name)).label("customer"),
            kind.label("customer_type"),
            customer_id.label("customer_id"),
            inv.currency,
            *([inv.invoice_date] if by_invoice else []),
            *figures,
        )
        .select_from(inv)
        .outerjoin(company, company.id == inv.company_id)
        .outerjoin(contact, and_(inv.company_id.is_(None), contact.id == inv.contact_id))
        .where(
            inv.state == "posted",
            or_(is_company, inv.contact_id.is_not(None)),
            *where,
            *owned,
        )
        .group_by(
            kind, customer_id, inv.currency, *([inv.id, inv.invoice_date] if by_invoice else [])
        )
    )
    return query.having(having) if having is not None else query


def _by_customer(
    scope: Scope, found: list[dict[str, Any]], converted_names: tuple[str, ...]
) -> list[dict[str, Any]]:
    """Rows of :func:`_per_customer` with ``by_invoice`` folded into one per customer
    and currency: every figure summed (``last_invoice``: the latest), and for each of
    ``converted_names`` (whole units) also ``<name>_converted``: the sum of each
    invoice's amount converted at the rate of its date (today's for an undated one)
    and rounded to the reporting currency's minor units (:meth:`Scope.convert`), None
    when a rate is missing; with ``reporting_currency``. Rounding each invoice, not
    the total, makes the revenue the figure ``revenue_forecast`` adds up by month, and
    the open balance the sum of its aging buckets."""
    today = scope.today()
    reporting = scope.rates.reporting
    keys = ("customer", "customer_type", "customer_id", "currency")
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in found:
        day = row.pop("invoice_date")
        key = (row["customer_type"], row["customer_id"], row["currency"])
        into = out.get(key)
        if into is None:
            into = out[key] = {k: row[k] for k in keys}
            into.update({k: None if k == "last_invoice" else 0 for k in row if k not in keys})
            into.update({f"{k}_converted": Decimal(0) for k in converted_names})
            into["reporting_currency"] = reporting
        for name, value in row.items():
            if name in keys:
                continue
            if name == "last_invoice":
                if value is not None and (into[name] is None or value > into[name]):
                    into[name] = value
                continue
            into[name] += value or 0
            done = into.get(f"{name}_converted")
            if name in converted_names and done is not None and value:
                part = scope.convert(
                    _from_units(value, row["currency"]), row["currency"], day or today
                )
                into[f"{name}_converted"] = None if part is None else done + part
    for into in out.values():
        for name in converted_names:
            value = into[f"{name}_converted"]
            into[f"{name}_converted"] = None if value is None else quantize(value, reporting)
    return list(out.values())


def _units(amount: Any) -> Any:
    """An amount in whole units of its fourth decimal (as many as a Money column
    keeps): an exact integer sum on every backend."""
    return cast(func.round(amount * 10**MONEY_SCALE), BigInteger)


def _from_units(total: Any, currency: str) -> Decimal:
    """A sum of :func:`_units` as an amount in ``currency``'s minor units."""
    return quantize(Decimal(int(total or 0)).scaleb(-MONEY_SCALE), currency)


def _days_between(dialect: str, later: Any, earlier: Any) -> Any:
    """``later - earlier`` in days for two date columns, on SQLite and PostgreSQL."""
    if dialect == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return later - earlier
