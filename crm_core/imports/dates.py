"""Dates as a file writes them: day/month/year (25/12/1990, as Pakistan, India, Bangladesh,
Sri Lanka, Russia and Europe write them), month/day/year (US), or year-month-day (ISO,
crmbook's own).

The order is the file's, given once for the whole import (``--dates DMY``): 03/04/2026 is
the 3rd of April in one order and the 4th of March in the other, and no guess can tell.
A cell of a date column written with ``/``, ``.`` or ``-`` between the numbers is put in
ISO form before it is validated like any date (31/02/2026 is refused as no day of the
calendar); the rejects file keeps the cell as it was.
"""

from __future__ import annotations

import datetime as dt
import re

#: The orders a file's dates may be written in; YMD is ISO (2026-12-25).
ORDERS = ("YMD", "DMY", "MDY")
#: How each order is written, for messages.
SHOWN = {"YMD": "YYYY-MM-DD", "DMY": "DD/MM/YYYY", "MDY": "MM/DD/YYYY"}
#: The fields that hold a date (or a date and time) on each entity.
DATE_FIELDS = frozenset({"birthday", "expected_close", "due_date", "occurred_at", "closed_at"})

# Three numbers with one separator, then perhaps a time ("25/12/2026 14:30+05:00").
_WRITTEN = re.compile(r"(\d{1,4})([./-])(\d{1,2})\2(\d{1,4})(?:([ T])(.+))?")


def check_order(order: str) -> str:
    """``order`` upper-cased, or ValueError naming the orders there are."""
    found = str(order).strip().upper()
    if found not in ORDERS:
        raise ValueError(
            f"dates {order!r}: one of {', '.join(ORDERS)} "
            f"({', '.join(f'{o} = {SHOWN[o]}' for o in ORDERS)})"
        )
    return found


def as_iso(value: str, order: str) -> str | None:
    """``value`` written in ``order`` as an ISO date (its time, if any, kept after a
    ``T``), or None when it is not three numbers in that order (left to the validation,
    which says what is wrong). Day and month are not checked here (31/02/2026 becomes
    2026-02-31): :func:`read` does."""
    found = _WRITTEN.fullmatch(value.strip())
    if found is None:
        return None
    a, _sep, b, c, _t, time = found.groups()
    if order == "YMD":
        year, month, day = a, b, c
    elif order == "DMY":
        day, month, year = a, b, c
    else:
        month, day, year = a, b, c
    if len(year) != 4 or len(day) > 2 or len(month) > 2:
        return None
    iso = f"{year}-{int(month):02d}-{int(day):02d}"
    return f"{iso}T{time.strip()}" if time else iso


def hint(value: str) -> str | None:
    """For a cell written day/month/year or month/day/year in a file read as ISO: which
    option reads it as a day of the calendar (None for anything else, and for three
    numbers that no order reads as one: 31/02/2026 is no day in any order)."""
    found = _WRITTEN.fullmatch(value.strip())
    if found is None or len(found.group(4)) != 4:
        return None
    real = [o for o in ("DMY", "MDY") if _is_day(as_iso(value, o))]
    if real == ["DMY"]:
        return "this file writes day/month/year: import it with dates DMY"
    if real == ["MDY"]:
        return "this file writes month/day/year: import it with dates MDY"
    if real:
        return "import it with dates DMY (day/month/year) or MDY (month/day/year)"
    return None


def _is_day(iso: str | None) -> bool:
    """Whether ``iso`` (from :func:`as_iso`) is a day of the calendar."""
    if iso is None:
        return False
    try:
        dt.date.fromisoformat(iso[:10])
    except ValueError:
        return False
    return True


def read(value: str, order: str) -> tuple[str, str | None]:
    """A date cell of a file writing ``order``: (the value to validate, None), or
    (the cell, why it is refused) when it is written in another way."""
    iso = as_iso(value, order)
    if iso is not None:
        try:
            dt.date.fromisoformat(iso[:10])
        except ValueError:
            return value, f"is no day of the calendar (read as {SHOWN[order]})"
        return iso, None
    try:
        dt.datetime.fromisoformat(value)  # ISO, as an XLSX date cell reads
        return value, None
    except ValueError:
        pass
    if order == "YMD":
        why = hint(value)
        if why is not None:
            return value, f"is not a date in YYYY-MM-DD form: {why}"
        written = _WRITTEN.fullmatch(value.strip())
        if written is not None and len(written.group(4)) == 4:
            # Written day/month/year or month/day/year, and a day in neither order.
            return value, "is no day of the calendar (neither as DD/MM/YYYY nor as MM/DD/YYYY)"
        return value, None  # the validation says what is wrong
    return value, f"is not a date in {SHOWN[order]} form (the file's dates: {order})"
