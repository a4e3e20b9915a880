"""Excel number formats for amounts: each currency's own decimals (KWD 3, JPY none),
grouped as the app groups them (:func:`crm_core.money.digit_groups`: the workspace's
``amount_grouping``, the workbook language's own grouping for ``locale``).

Western grouping is Excel's ``#,##0.00``. Excel has no lakh/crore grouping, so it is
spelt out with literal commas: a positive amount gets the known conditional format
``[>=9999999.995]##\\,##\\,##\\,##0.00;[>=99999.995]##\\,##\\,##0.00;##,##0.00``
(12,34,56,789.00; it stays right when the cell is edited). Conditions leave no section
for negatives (LibreOffice drops their minus sign, Excel varies), and the format stops
at 99,99,99,999; so a negative amount, or one of a hundred crore and more, gets a
format cut for its own number of digits, ``##\\,##\\,##0.00;-##\\,##\\,##0.00``.
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache

from babel import Locale, UnknownLocaleError
from babel.numbers import parse_pattern

from crm_core.money import digit_groups, minor_units

#: The grouping of lakh and crore: the last three digits, then pairs.
INDIAN = (3, 2)
#: What the conditional lakh/crore format covers: below 100 crore.
_CONDITIONAL_LIMIT = 10**9


class AmountFormats:
    """The Excel number format of each amount of a workbook, from its value and its
    currency (None: two decimals)."""

    def __init__(self, grouping: str = "locale", language: str | None = None):
        digit_groups(grouping, "")  # an unknown grouping is refused now, by name
        self.grouping = grouping
        self.language = language

    def code(self, value: float, currency: str | None) -> str:
        """The number format of ``value`` in ``currency``: ``#,##0.000`` (KWD,
        western), ``#,##0`` (JPY), lakh/crore where the grouping asks for it."""
        digits = _digits(currency or "")
        if not _indian(self.grouping, currency or "", self.language):
            return _western(digits)
        if value >= 0 and value < _CONDITIONAL_LIMIT - 0.5 * 10.0**-digits:
            return _conditional(digits)
        whole = len(str(int(round(abs(Decimal(repr(value))), digits))))
        return _cut(whole, digits)

    def axis(self, currency: str | None, lowest: float) -> str:
        """The value axis format of a money chart in ``currency`` whose lowest value is
        ``lowest``: whole amounts, grouped as the cells are (lakh/crore only when no
        value is negative: the conditional format has no section for them)."""
        if lowest >= 0 and _indian(self.grouping, currency or "", self.language):
            return _conditional(0)
        return _western(0)


def groups_of(grouping: str, currency: str, language: str | None) -> tuple[int, int]:
    """(primary, secondary) digit groups of ``currency``'s amounts under ``grouping``,
    the language's own (CLDR) for ``locale``."""
    groups = digit_groups(grouping, currency)
    if groups is not None:
        return groups
    return _locale_groups(language or "en")


@cache
def _indian(grouping: str, currency: str, language: str | None) -> bool:
    return groups_of(grouping, currency, language) == INDIAN


@cache
def _digits(currency: str) -> int:
    return minor_units(currency) if currency else 2


@cache
def _locale_groups(language: str) -> tuple[int, int]:
    try:
        locale = Locale.parse(language.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return (3, 3)
    primary, secondary = parse_pattern(locale.decimal_formats[None].pattern).grouping
    return (primary, secondary)


def _fraction(digits: int) -> str:
    return "." + "0" * digits if digits else ""


@cache
def _western(digits: int) -> str:
    return "#,##0" + _fraction(digits)


@cache
def _conditional(digits: int) -> str:
    frac = _fraction(digits)
    half = Decimal(5).scaleb(-digits - 1)  # what rounds up to the next whole number
    crore, lakh = Decimal(10**7) - half, Decimal(10**5) - half
    return f"[>={crore}]##\\,##\\,##\\,##0{frac};[>={lakh}]##\\,##\\,##0{frac};##,##0{frac}"


@cache
def _cut(whole: int, digits: int) -> str:
    """A lakh/crore format for amounts of ``whole`` integer digits, either sign."""
    frac = _fraction(digits)
    if whole <= 5:
        return f"#,##0{frac}"
    pairs = (whole - 3 + 1) // 2
    body = "##\\," * pairs + "##0" + frac
    return f"{body};-{body}"
