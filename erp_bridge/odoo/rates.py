"""Odoo's exchange rates (``res.currency.rate``) as the sync's plain rate rows.

In Odoo a rate row says how many units of its currency one unit of the reference
currency is worth on its date (``name``); the reference is the currency whose rate is
1, normally the company's own, which then has no rate rows. A row belongs to one
company or, with no company, to all of them; the company's own row wins. The company
is the syncing user's first one (``res.company`` in id order: the main company).

Each row comes out relative to the company's currency: ``{"currency": "LKR",
"base": "USD", "day": "2026-01-31", "rate": Decimal("300.5"), "changed": write_date}``.
Should the company's currency itself carry rates (a reference other than it), every
rate is divided by the company currency's rate of its day, as Odoo's own
``company_rate`` is; a change to those re-reads every rate.
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right
from decimal import Decimal, localcontext
from typing import Any, Protocol

from erp_bridge.adapter import Domain, Record

COMPANY = "res.company"
CURRENCY = "res.currency"
RATE = "res.currency.rate"
#: Rates read per call (keyset-paged by id): a table of years of daily rates is large.
PAGE = 2000
FIELDS = ["name", "rate", "currency_id", "company_id", "write_date"]


class Reader(Protocol):
    def search_read(
        self, model: str, domain: Domain, fields: list[str], limit: int | None = None
    ) -> list[Record]: ...


def exchange_rates(adapter: Reader, since: str | None) -> list[Record]:
    """The company's rates changed at or after ``since`` (a ``write_date``; None: all),
    relative to its currency. No company or no currency: no rates."""
    companies = adapter.search_read(COMPANY, [], ["currency_id"], limit=1)
    if not companies or not companies[0].get("currency_id"):
        return []
    company, base_id = int(companies[0]["id"]), int(companies[0]["currency_id"][0])
    names = {int(r["id"]): str(r["name"]) for r in adapter.search_read(CURRENCY, [], ["name"])}
    scope: Domain = ["|", ["company_id", "=", False], ["company_id", "=", company]]
    changed = _read(adapter, [*scope, *([["write_date", ">=", since]] if since else [])])
    own = [r for r in changed if _id(r["currency_id"]) == base_id]
    if since and own:
        changed = _read(adapter, scope)  # the reference moved: every rate with it
    base_rows = _read(adapter, [*scope, ["currency_id", "=", base_id]]) if since else changed
    base_rates = _per_day(company, [r for r in base_rows if _id(r["currency_id"]) == base_id])
    days = sorted(base_rates)
    out: list[Record] = []
    for (currency_id, day), row in sorted(_per_day_rows(company, changed).items()):
        if currency_id == base_id or currency_id not in names:
            continue
        at = bisect_right(days, day)
        reference = base_rates[days[at - 1]] if at else Decimal(1)
        if reference <= 0 or _decimal(row["rate"]) <= 0:
            continue  # Odoo refuses such rates; one that slipped in says nothing
        with localcontext() as ctx:
            ctx.prec = 28
            rate = _decimal(row["rate"]) / reference
        out.append(
            {
                "currency": names[currency_id],
                "base": names.get(base_id, ""),
                "day": day,
                "rate": rate,
                "changed": row.get("write_date") or "",
            }
        )
    return out


def _read(adapter: Reader, domain: Domain) -> list[Record]:
    rows: list[Record] = []
    last = 0
    while True:
        page = adapter.search_read(RATE, [*domain, ["id", ">", last]], FIELDS, limit=PAGE)
        rows += page
        if len(page) < PAGE:
            return rows
        last = int(page[-1]["id"])


def _per_day_rows(company: int, rows: list[Record]) -> dict[tuple[int, dt.date], Record]:
    """One row per currency and day: the company's own over a shared one."""
    chosen: dict[tuple[int, dt.date], Record] = {}
    for row in rows:
        key = (_id(row["currency_id"]), _day(row["name"]))
        mine = _id(row.get("company_id")) == company
        if key not in chosen or mine:
            chosen[key] = row
    return chosen


def _per_day(company: int, rows: list[Record]) -> dict[dt.date, Decimal]:
    return {day: _decimal(r["rate"]) for (_, day), r in _per_day_rows(company, rows).items()}


def _id(value: Any) -> int:
    if isinstance(value, list | tuple):
        return int(value[0]) if value else 0
    return int(value or 0)


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _decimal(value: Any) -> Decimal:
    """Odoo's float as the decimal it was typed as (its shortest repr)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
