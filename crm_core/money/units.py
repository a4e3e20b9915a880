"""A currency's minor units, rounding to them, and writing an amount for people."""

from __future__ import annotations

import copy
import tomllib
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any, Literal

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_precision, parse_pattern

from crm_core.errors import FieldError, ValidationError

Grouping = Literal["locale", "western", "indian", "auto"]
#: Digit groups (primary, secondary) of each grouping: 123,456,789 and 12,34,56,789.
_GROUPS = {"western": (3, 3), "indian": (3, 2)}


@cache
def _data() -> dict[str, Any]:
    text = resources.files("crm_core.money").joinpath("currencies.toml").read_text("utf-8")
    return tomllib.loads(text)


def minor_units(currency: str) -> int:
    """How many decimal places an amount in ``currency`` keeps: the ISO 4217 minor unit
    (JPY 0, EUR 2, KWD/BHD/OMR 3), from babel (CLDR), except where CLDR's display
    digits differ from ISO 4217 (``currencies.toml``). 2 for a code neither knows."""
    code = currency.upper()
    exceptions: dict[str, int] = _data()["minor_units"]
    if code in exceptions:
        return int(exceptions[code])
    return int(get_currency_precision(code))


def quantize(amount: Decimal, currency: str) -> Decimal:
    """``amount`` rounded half up to ``currency``'s minor units (JPY 1235, KWD 1.235)."""
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return Decimal(amount).quantize(exponent, rounding=ROUND_HALF_UP)


def indian_grouping(currency: str) -> bool:
    """Whether ``currency``'s amounts are written in lakh/crore where a workspace asks."""
    return currency.upper() in _data()["indian_grouping"]["currencies"]


def format_amount(
    amount: Decimal,
    currency: str,
    *,
    locale: str = "en",
    grouping: Grouping = "locale",
) -> str:
    """``amount`` written for people in ``locale`` (babel/CLDR: symbol, separators),
    with ``currency``'s minor units: ``format_amount(Decimal("123456789.5"), "INR",
    grouping="indian")`` -> ``'₹12,34,56,789.50'``. ``grouping`` is ``"locale"`` (as
    the locale groups: 12,34,567 in bn, 1 234 567 in ru), ``"western"`` (123,456,789),
    ``"indian"`` (lakh/crore: 12,34,56,789) or ``"auto"`` (indian for the currencies
    written so, INR/PKR/BDT/NPR, the locale's own for the others)."""
    groups = digit_groups(grouping, currency)
    pattern = copy.copy(_pattern(locale))
    digits = minor_units(currency)
    if groups is not None:
        pattern.grouping = groups
    pattern.frac_prec = (digits, digits)
    return pattern.apply(
        quantize(amount, currency),
        _locale(locale),
        currency=currency.upper(),
        currency_digits=False,
    )


def format_figure(
    amount: Any,
    currency: str,
    *,
    locale: str | Locale = "en",
    grouping: Grouping | str = "locale",
) -> str:
    """The figure of an amount without its currency, for a table that shows the
    currency in a column of its own: ``amount`` rounded half up to ``currency``'s minor
    units and written with ``locale``'s separators, its digits grouped as ``grouping``
    says (see :func:`format_amount`): KWD ``3,070.125``, JPY ``1,500,001``, PKR
    ``15,00,000.00`` in lakh and crore."""
    groups = digit_groups(grouping, currency)
    loc = locale if isinstance(locale, Locale) else _locale(locale)
    pattern = copy.copy(parse_pattern(loc.decimal_formats[None].pattern))
    if groups is not None:
        pattern.grouping = groups
    digits = minor_units(currency)
    pattern.frac_prec = (digits, digits)
    return str(pattern.apply(quantize(Decimal(str(amount)), currency), loc))


def digit_groups(grouping: str, currency: str) -> tuple[int, int] | None:
    """How ``grouping`` (see :func:`format_amount`) groups an amount of ``currency``'s
    digits: (3, 3) western, (3, 2) lakh/crore, None for the locale's own grouping."""
    if grouping == "auto":
        grouping = "indian" if indian_grouping(currency) else "locale"
    if grouping == "locale":
        return None
    if grouping not in _GROUPS:
        raise ValidationError(
            [FieldError("amount", "grouping", grouping, "must be locale, western, indian or auto")]
        )
    return _GROUPS[grouping]


@cache
def _locale(name: str) -> Locale:
    try:
        return Locale.parse(name.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ValidationError(
            [FieldError("amount", "locale", name, "is not a locale babel knows, such as ur_PK")]
        ) from None


@cache
def _pattern(name: str) -> Any:
    standard = _locale(name).currency_formats["standard"]
    return parse_pattern(standard.pattern)
