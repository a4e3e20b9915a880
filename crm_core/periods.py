"""Periods: calendar dates in the workspace time zone and the UTC instants they mean.

The one definition of a period's bounds, used by the dashboard (``ws.metrics``), the
reports' :class:`~crm_core.reports.base.Scope`, the forecasts and the workbooks: a
period is two calendar dates, both included (``None``: that end is open); as instants
it runs from midnight starting the first day to midnight starting the day after the
last (exclusive), in the workspace time zone, given as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from crm_core import validation as v
from crm_core.errors import FieldError, ValidationError
from crm_core.validation import Reject


def start_of(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Midnight starting ``day`` in time zone ``tz``, as aware UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=tz).astimezone(dt.UTC)


def period_instants(
    day_from: dt.date | None, day_to: dt.date | None, tz: dt.tzinfo
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The period ``[day_from, day_to]`` (dates, both included; None: open end) as UTC
    instants: ``[start of day_from, start of the day after day_to)`` in ``tz``."""
    start = start_of(day_from, tz) if day_from else None
    end = start_of(day_to + dt.timedelta(days=1), tz) if day_to else None
    return start, end


def add_months(day: dt.date, months: int) -> dt.date:
    """The first day of the month ``months`` months after ``day``'s (before, when
    negative): ``add_months(date(2026, 1, 31), 1) == date(2026, 2, 1)``."""
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def checked_period(
    period_from: Any, period_to: Any, record: str = "period"
) -> tuple[dt.date | None, dt.date | None]:
    """``period_from`` / ``period_to`` (dates, ISO text or None) as dates; a value that
    is not a date, or an end before the start, is refused naming ``record`` and the
    field (:class:`~crm_core.errors.ValidationError`, every problem at once)."""
    errors: list[FieldError] = []
    days: dict[str, dt.date | None] = {}
    for name, raw in (("period_from", period_from), ("period_to", period_to)):
        try:
            days[name] = v.date_value(raw)
        except Reject as exc:
            errors.append(FieldError(record, name, raw, str(exc)))
            days[name] = None
    day_from, day_to = days["period_from"], days["period_to"]
    if day_from and day_to and day_from > day_to:
        errors.append(FieldError(record, "period_to", day_to, "is before period_from"))
    if errors:
        raise ValidationError(errors)
    return day_from, day_to
