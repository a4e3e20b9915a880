"""Converting money between currencies with the workspace's rate table."""

from __future__ import annotations

import datetime as dt
import heapq
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import FieldError, ValidationError
from crm_core.models import ExchangeRate
from crm_core.money.units import minor_units

#: Significant digits kept of a rate: as many as SQLite stores exactly, far more than
#: any bank quotes. Every rate is rounded to them when stored and when read.
RATE_DIGITS = 15


def rate_value(value: Decimal) -> Decimal:
    """``value`` rounded to :data:`RATE_DIGITS` significant digits, without trailing
    zeros: what is stored of a rate (and read back alike on SQLite and PostgreSQL)."""
    with localcontext() as ctx:
        ctx.prec = RATE_DIGITS
        rounded = +Decimal(value)
    if not rounded:
        return rounded
    plain = rounded.normalize()
    # 280, never 2.8E+2: whole numbers keep their digits
    return plain.quantize(Decimal(1)) if plain.as_tuple().exponent > 0 else plain  # type: ignore[operator]


#: How :func:`missing_words` says the missing rates (the workbooks pass the same
#: phrases in their language: crm_core/reports/labels.toml).
MISSING_PHRASES = {
    "no_rate": "no rate for {rates} (to {reporting})",
    "rate_on_or_before": "{currency} on or before {day}",
    "rate_undated": "{currency} for records without a date",
    "rate_no_code": "records without a currency code",
}


def missing_words(
    missing: list[tuple[str, dt.date | None]],
    reporting: str,
    phrases: dict[str, str] | None = None,
) -> str:
    """The rates ``missing`` (:meth:`Rates.missing_rates`) in words, by ``phrases``
    (default :data:`MISSING_PHRASES`); '' when none is missing. Codes and dates are
    written as they are."""
    if not missing:
        return ""
    say = phrases or MISSING_PHRASES
    parts = [
        say["rate_no_code"]
        if not code
        else say["rate_undated"].format(currency=code)
        if day is None
        else say["rate_on_or_before"].format(currency=code, day=day.isoformat())
        for code, day in missing
    ]
    return say["no_rate"].format(rates=", ".join(parts), reporting=reporting)


class MissingRate(ValidationError):
    """No rate to convert ``currency`` on ``on`` to ``reporting``: nothing is converted
    with a made-up rate. ``on`` is None when the record has no date.

    ``missing`` names the currency whose rate is what is missing (:meth:`Rates.gap`):
    ``currency`` when it has no rate on or before ``on`` (or when both it and the
    reporting currency lack one, or no chain of rates links them), the reporting
    currency when only it lacks one (LKR has a rate against USD since January but GBP
    only since June: GBP is missing in March). ``base`` is the currency a rate of
    ``missing`` is best given against (one the other side has a rate with on that
    day), for the command the message suggests."""

    def __init__(
        self,
        currency: str,
        on: dt.date | None,
        reporting: str,
        *,
        missing: str | None = None,
        base: str | None = None,
        linked: bool = False,
    ):
        self.currency = currency
        self.on = on
        self.reporting = reporting
        self.missing = missing or currency
        self.base = base
        if on is None:
            message = (
                f"no exchange rate for {currency} (the record has no date) (to {reporting}): "
                "give the record a date to convert it at that day's rate"
            )
        else:
            day = on.isoformat()
            if linked:
                what = (
                    f"no chain of exchange rates links {currency} to {reporting} on or before {day}"
                )
            elif self.missing == currency:
                what = f"no exchange rate for {currency} on or before {day} (to {reporting})"
            else:
                what = (
                    f"no exchange rate for {self.missing} on or before {day} "
                    f"(the reporting currency: {currency} cannot be converted to it)"
                )
            against = f" --base {base}" if base else ""
            message = (
                f"{what}: add one with `crmbook rates set {self.missing} {day} RATE{against}` "
                "or sync the ERP"
            )
        if not _is_code(currency):
            message = f"no currency code ({currency!r}) to look an exchange rate up for"
        super().__init__([FieldError("exchange rates", "rate", self.missing, message)])
        self.args = (message,)

    def __str__(self) -> str:
        return str(self.args[0])


class Rates:
    """The rate table, read once, for converting amounts to ``reporting``.

    A row says "on ``day`` one ``base`` is worth ``rate`` ``currency``" (the ERP's way).
    Converting X to the reporting currency R on a day D uses, for every currency pair
    on the way, the latest rate on or before D: directly (a row of X against R, either
    way round), or across a common base (LKR and EUR both against USD: LKR -> USD ->
    EUR), or further. Of several ways, the one whose oldest rate is the most recent
    wins (a direct rate typed long ago gives way to the ERP's fresh ones), then the
    one through fewer pairs. A pair with no rate on or before D is no way at all:
    never a rate of 1.

    ``missing`` collects what :meth:`try_convert` could not convert.
    """

    def __init__(self, rows: Iterable[tuple[str, str, dt.date, Decimal]], reporting: str):
        self.reporting = _code(reporting, "reporting")
        # (from, to) -> days ascending and, per day, units of `to` per one `from`.
        direct: dict[tuple[str, str], dict[dt.date, Fraction]] = defaultdict(dict)
        inverse: dict[tuple[str, str], dict[dt.date, Fraction]] = defaultdict(dict)
        for currency, base, day, rate in rows:
            if currency == base or not rate or rate <= 0:
                continue  # a row that says nothing (the table never holds one)
            value = Fraction(rate_value(rate))
            direct[(base, currency)][day] = value
            inverse[(currency, base)][day] = 1 / value
        merged: dict[tuple[str, str], dict[dt.date, Fraction]] = defaultdict(dict)
        for pair, by_day in inverse.items():
            merged[pair].update(by_day)
        for pair, by_day in direct.items():
            merged[pair].update(by_day)  # a rate as given beats one read the other way
        self._days: dict[tuple[str, str], list[dt.date]] = {}
        self._values: dict[tuple[str, str], list[Fraction]] = {}
        self._neighbours: dict[str, list[str]] = defaultdict(list)
        for pair in sorted(merged):
            days = sorted(merged[pair])
            self._days[pair] = days
            self._values[pair] = [merged[pair][d] for d in days]
            self._neighbours[pair[0]].append(pair[1])
        self._factors: dict[tuple[str, dt.date | None], Fraction | None] = {}
        self.missing: set[tuple[str, dt.date | None]] = set()

    @classmethod
    def load(cls, session: Session, reporting: str) -> Rates:
        """Every rate of the workspace (a small table), for converting to ``reporting``."""
        rows = session.execute(
            select(ExchangeRate.currency, ExchangeRate.base, ExchangeRate.day, ExchangeRate.rate)
        ).all()
        return cls([tuple(row) for row in rows], reporting)  # type: ignore[misc]

    # -- lookups ---------------------------------------------------------------------
    def rate(self, currency: str, on: dt.date | None) -> Decimal:
        """Units of the reporting currency one unit of ``currency`` is worth on ``on``
        (1 for the reporting currency itself); raises :class:`MissingRate`."""
        factor = self._factor(currency, on)
        with localcontext() as ctx:
            ctx.prec = 28
            return Decimal(factor.numerator) / Decimal(factor.denominator)

    def convert(
        self, amount: Decimal | int, currency: str, on: dt.date | None, *, rounded: bool = True
    ) -> Decimal:
        """``amount`` of ``currency`` in the reporting currency at the rate of ``on``,
        rounded half up to the reporting currency's minor units (``rounded=False``: to
        60 digits, for a sum of conversions rounded once); raises :class:`MissingRate`."""
        exact = _amount(amount) * self._factor(currency, on)
        with localcontext() as ctx:
            ctx.prec = 60
            value = Decimal(exact.numerator) / Decimal(exact.denominator)
            if not rounded:
                return value
            return value.quantize(
                Decimal(1).scaleb(-minor_units(self.reporting)), rounding=ROUND_HALF_UP
            )

    def try_convert(
        self, amount: Decimal | int, currency: str, on: dt.date | None, *, rounded: bool = True
    ) -> Decimal | None:
        """As :meth:`convert`, but None when the rate is missing; the missing
        (currency, day) is remembered in :attr:`missing`."""
        try:
            return self.convert(amount, currency, on, rounded=rounded)
        except MissingRate as exc:
            self.missing.add((exc.missing, exc.on))
            return None

    def missing_text(self) -> str:
        """What :meth:`try_convert` missed, per currency from its earliest date (a rate
        on or before it serves every later one too): ``'no rate for LKR on or before
        2026-03-01, RUB on or before 2026-01-15'``; '' when nothing was missed. The
        currency named is the one whose rate is missing (:attr:`MissingRate.missing`):
        the reporting currency itself when only it has no rate that early."""
        return missing_words(self.missing_rates(), self.reporting)

    def missing_rates(self) -> list[tuple[str, dt.date | None]]:
        """What :meth:`try_convert` missed, as data for :func:`missing_words`: (code,
        its earliest date) by code, then (code, None) for records without a date, then
        ("", None) when some records had no currency code."""
        earliest: dict[str, dt.date] = {}
        undated: set[str] = set()
        for currency, on in self.missing:
            if on is None:
                undated.add(currency)
            elif currency not in earliest or on < earliest[currency]:
                earliest[currency] = on
        out: list[tuple[str, dt.date | None]] = [
            (c, d) for c, d in sorted(earliest.items()) if _is_code(c)
        ]
        out += [(c, None) for c in sorted(undated) if _is_code(c)]
        if any(not _is_code(c) for c, _ in self.missing):
            out.append(("", None))
        return out

    # -- the search ------------------------------------------------------------------
    def _factor(self, given: Any, on: dt.date | None) -> Fraction:
        currency = given.strip().upper() if isinstance(given, str) else ""
        if not _is_code(currency):
            raise MissingRate(str(given if given is not None else ""), None, self.reporting)
        if currency == self.reporting:
            return Fraction(1)
        if on is not None and not isinstance(on, dt.date):
            raise ValidationError(
                [FieldError("exchange rates", "date", on, "must be a date to look a rate up")]
            )
        # A datetime (pandas' Timestamp too) is looked up by its date; NaT, which
        # equals nothing, is no date.
        day = None if on is None or on != on else on.date() if isinstance(on, dt.datetime) else on
        key = (currency, day)
        if key not in self._factors:
            self._factors[key] = None if day is None else self._search(currency, day)
        factor = self._factors[key]
        if factor is None:
            if day is None:
                raise MissingRate(currency, None, self.reporting)
            missing, base, linked = self.gap(currency, day)
            raise MissingRate(
                currency, day, self.reporting, missing=missing, base=base, linked=linked
            )
        return factor

    def gap(self, currency: str, day: dt.date) -> tuple[str, str | None, bool]:
        """Why ``currency`` cannot be converted on ``day``: (the currency whose rate is
        missing, the base to give that rate against, whether both have rates and no
        chain links them). ``currency`` when it has no rate on or before ``day``
        (whatever the reporting currency has), the reporting currency when only it
        has none; the base is a currency the other side reaches on ``day`` that the
        missing one has rates with on other days (USD for GBP when both LKR and GBP are
        kept against USD), else the one of those with rates against the most
        currencies (the table's own base)."""
        code, reporting = currency.strip().upper(), self.reporting
        from_here, from_there = self._reach(code, day), self._reach(reporting, day)
        if len(from_here) > 1 and len(from_there) > 1:
            return code, reporting, True  # both have rates, on islands of their own
        missing, other = (reporting, from_here) if len(from_here) > 1 else (code, from_there)
        known = self._neighbours.get(missing, [])
        hub = next((c for c in known if c in other), None)
        if hub is None:  # the currency the other side's rates are kept against
            hub = max(sorted(other), key=lambda c: len(self._neighbours.get(c, ())))
        return missing, hub, False

    def _reach(self, start: str, day: dt.date) -> set[str]:
        """Every currency a chain of rates on or before ``day`` links to ``start``
        (``start`` included)."""
        seen, todo = {start}, [start]
        while todo:
            here = todo.pop()
            for there in self._neighbours.get(here, ()):
                if there not in seen and self._pair((here, there), day) is not None:
                    seen.add(there)
                    todo.append(there)
        return seen

    def _pair(self, pair: tuple[str, str], day: dt.date) -> tuple[dt.date, Fraction] | None:
        """The latest rate of ``pair`` on or before ``day``, with its date."""
        at = bisect_right(self._days[pair], day)
        return (self._days[pair][at - 1], self._values[pair][at - 1]) if at else None

    def _search(self, currency: str, day: dt.date) -> Fraction | None:
        """The factor from ``currency`` to the reporting currency along the chain of
        pairs with rates on or before ``day`` whose oldest rate is the most recent
        (a stale direct rate gives way to fresh ones through a base), then with the
        fewest pairs: Dijkstra's search on (oldest date, pairs)."""
        best: dict[str, tuple[int, int]] = {currency: (-dt.date.max.toordinal(), 0)}
        factor: dict[str, Fraction] = {currency: Fraction(1)}
        heap = [(-dt.date.max.toordinal(), 0, currency)]
        done: set[str] = set()
        while heap:
            oldest, hops, here = heapq.heappop(heap)
            if here in done:
                continue
            done.add(here)
            if here == self.reporting:
                return factor[here]
            for there in self._neighbours.get(here, ()):
                found = self._pair((here, there), day)
                if found is None or there in done:
                    continue
                key = (max(oldest, -found[0].toordinal()), hops + 1)
                if there not in best or key < best[there]:
                    best[there] = key
                    factor[there] = factor[here] * found[1]
                    heapq.heappush(heap, (*key, there))
        return None


def _is_code(code: str) -> bool:
    """Whether ``code`` is a currency code: ISO 4217, or three letters A-Z as an ERP may
    hold its own currency (the rate table keeps those as the ERP wrote them)."""
    return len(code) == 3 and code.isascii() and code.isalpha() and code.isupper()


def _code(value: Any, field: str) -> str:
    """The currency code ``value`` names (see :func:`_is_code`), in capitals."""
    if isinstance(value, str):
        code = value.strip().upper()
        if _is_code(code):
            return code
    reason = "is not a currency code (three letters, such as EUR)"
    raise ValidationError([FieldError("exchange rates", field, value, reason)])


def _amount(value: Any) -> Fraction:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise ValidationError(
            [FieldError("money", "amount", value, "must be a Decimal (or a whole number)")]
        )
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValidationError([FieldError("money", "amount", value, "must be a finite number")])
    return Fraction(value)
