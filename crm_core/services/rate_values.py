"""What a rate may be, as typed, imported or synced: each field's cleaner, the columns
of a rates file, and the rejects file of an import (crm_core.services.rates uses them)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import pandas as pd

from crm_core import validation as v
from crm_core.errors import FieldError, ValidationError
from crm_core.models import RATE_SOURCES
from crm_core.money import rate_value

#: A row of an import file as read; its refused rows with their line and reasons.
Cells = list[Any]
Refused = list[tuple[Cells, int, list[FieldError]]]

#: Header names an import file may use for each field (compared case-insensitively).
FILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "currency": ("currency", "code", "currency code"),
    "day": ("date", "day", "rate date"),
    "rate": ("rate", "exchange rate"),
    "base": ("base", "base currency", "per"),
}
#: What a rate may be: below this (no currency is worth 10^8 of another: the widest
#: pair today, the Kuwaiti dinar in Iranian rials, is some 3 x 10^6) ...
RATE_LIMIT = Decimal(10) ** 8
#: ... and at least this, its inverse: converting with a rate of 10^-12 turned 1000 GBP
#: into 10^15 USD, beyond the 10^13 an amount may be (validation.MONEY_LIMIT).
RATE_MINIMUM = Decimal(10) ** -8
#: Why a rate outside them is refused, said with each refusal.
_RATE_RANGE = (
    "no currency is worth 100 million (10^8) of another, and converting with such a "
    "rate would take ordinary amounts beyond what an amount may be (10^13)"
)


def write_rejects(path: Path, read: Any, refused: Refused) -> None:
    """The refused rows of an import file (``read``: its Source), as they were, with
    why (one line per reason)."""
    from crm_core.imports.rejects import Rejects

    out = Rejects(path, read.columns, read)
    try:
        for cells, line, errors in refused:
            for error in errors:
                out.write(cells, line, error.field, error.value, error.reason)
    finally:
        out.close()


def columns(header: list[str]) -> dict[str, int]:
    """Which column of the file holds each field (by its ``header``)."""
    where: dict[str, int] = {}
    for i, name in enumerate(header):
        key = " ".join(name.strip().lower().replace("_", " ").split())
        for fieldname, names in FILE_COLUMNS.items():
            if key in names and fieldname not in where:
                where[fieldname] = i
    return where


def code(record: str, fieldname: str, value: Any) -> str:
    """An ISO 4217 currency code (refused naming ``record`` and ``fieldname``)."""
    try:
        return v.currency(value)
    except v.Reject as exc:
        raise ValidationError([FieldError(record, fieldname, value, str(exc))]) from None


def erp_code(record: str, fieldname: str, value: Any) -> str:
    """A currency code as an ERP holds it: ISO 4217, or any three letters A-Z."""
    given = value.strip() if isinstance(value, str) else ""
    if len(given) == 3 and given.isalpha() and given.isascii():
        return given.upper()
    return code(record, fieldname, value)


def day(record: str, value: Any) -> dt.date:
    """A rate's date: a ``date`` or YYYY-MM-DD (a pandas Timestamp by its date)."""
    try:
        if isinstance(value, pd.Timestamp):
            value = value.date()
        found = v.date_value(value)
    except v.Reject as exc:
        raise ValidationError([FieldError(record, "date", value, str(exc))]) from None
    if found is None:
        raise ValidationError([FieldError(record, "date", value, "is required")])
    return found


def rate(record: str, value: Any, lenient: bool = False, from_file: bool = False) -> Decimal:
    """A rate: a number more than 0 (text as people write it, or a Decimal), kept to
    15 significant digits. ``lenient`` (an ERP's rows) reads a float as its shortest
    repr; otherwise a float is refused, as for money. An exponent (3.1e-05, as a
    spreadsheet writes a small number) is read in a file's rows and an ERP's only: a
    rate typed by a person is written in full."""
    number: Decimal | None
    exponent = False  # written with one (1e3): said once the range is known to be fine
    try:
        if lenient and isinstance(value, float):
            value = repr(value)
        try:
            number = v.exact_number(value)
            if (
                not lenient  # an ERP's float is rounded to 15 significant digits
                and number is not None
                and RATE_MINIMUM <= number < RATE_LIMIT
                and int(number.normalize().as_tuple().exponent) < -18
            ):
                raise v.Reject("has more than 18 decimal places")
        except v.Reject:
            # A spreadsheet's small number arrives as 3.1e-05.
            if not isinstance(value, str) or "e" not in value.lower():
                raise
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                raise v.Reject("is not a number") from None
            if not number.is_finite():
                raise v.Reject("is not a number") from None
            exponent = not (lenient or from_file)
    except v.Reject as exc:
        raise ValidationError([FieldError(record, "rate", value, str(exc))]) from None
    if number is None:
        raise ValidationError([FieldError(record, "rate", value, "is required")])
    if number <= 0:
        raise ValidationError([FieldError(record, "rate", value, "must be more than 0")])
    if number >= RATE_LIMIT:
        reason = f"is too large: a rate must be below 100000000 (10^8): {_RATE_RANGE}"
        raise ValidationError([FieldError(record, "rate", value, reason)])
    if number < RATE_MINIMUM:
        reason = f"is too small: a rate must be at least 0.00000001 (10^-8): {_RATE_RANGE}"
        raise ValidationError([FieldError(record, "rate", value, reason)])
    if exponent:
        reason = f"is written with an exponent; write the number in full ({number:f})"
        raise ValidationError([FieldError(record, "rate", value, reason)])
    return rate_value(number)


def source(record: str, value: Any) -> str:
    """Where a rate came from: one of :data:`~crm_core.models.RATE_SOURCES`."""
    if value not in RATE_SOURCES:
        reason = f"must be one of {', '.join(RATE_SOURCES)}"
        raise ValidationError([FieldError(record, "source", value, reason)])
    return str(value)
