"""Exchange rates: the table money is converted with (``ws.rates``).

Rates are kept as the ERP keeps them: on a day, one unit of a base currency is worth
``rate`` units of a currency. They come from the ERP on sync (source ``erp``), from a
CSV/XLSX file (``file``) or by hand (``manual``); what a person set or imported is
never overwritten by a sync. Everyone reads them; managers and admins change them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from crm_core import access
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.models import ExchangeRate
from crm_core.money import Rates, rate_value
from crm_core.services import rate_values as rv
from crm_core.services.base import Service
from crm_core.services.rate_values import FILE_COLUMNS, Cells, Refused

#: The columns of ``ws.rates.list()``.
COLUMNS = ["currency", "base", "day", "rate", "source", "recorded_at"]
Row = dict[str, Any]
#: A batch of rates, and what was refused of one (``list`` is a method name below).
Rows = list[Row]
Errors = list[FieldError]
Clauses = list[Any]
Stored = list[ExchangeRate]


@dataclass
class RateChanges:
    """What writing a batch of rates did: rows added, changed, left as they were
    (unchanged, or kept because a person set them and the batch came from the ERP)."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    kept: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    #: What :meth:`ExchangeRates.merge` refused (an import refuses the whole file).
    refused: list[FieldError] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "kept": self.kept,
        }


class ExchangeRates(Service):
    """The workspace's exchange rates: set, list, import, and load for converting."""

    entity = "exchange rate"

    # -- reading -----------------------------------------------------------------------
    def reporting_currency(self, currency: str | None = None) -> str:
        """``currency`` checked, or the workspace's reporting currency (the setting
        ``currency``) when None."""
        return rv.code("reporting currency", "currency", currency or self.ws.setting("currency"))

    def load(self, currency: str | None = None) -> Rates:
        """The whole rate table, for converting to ``currency`` (default: the
        workspace's reporting currency); see :class:`crm_core.money.Rates`."""
        reporting = self.reporting_currency(currency)
        with self._tx() as s:
            return Rates.load(s, reporting)

    def list(
        self,
        currency: str | None = None,
        *,
        base: str | None = None,
        since: dt.date | str | None = None,
        until: dt.date | str | None = None,
    ) -> pd.DataFrame:
        """The rates (:data:`COLUMNS`), by day then currency; ``currency`` keeps the
        rows of that currency on either side of the pair."""
        clauses: Clauses = []
        if currency is not None:
            code = rv.code("exchange rates", "currency", currency)
            clauses.append((ExchangeRate.currency == code) | (ExchangeRate.base == code))
        if base is not None:
            clauses.append(ExchangeRate.base == rv.code("exchange rates", "base", base))
        if since is not None:
            clauses.append(ExchangeRate.day >= rv.day("exchange rates", since))
        if until is not None:
            clauses.append(ExchangeRate.day <= rv.day("exchange rates", until))
        with self._tx() as s:
            rows = s.scalars(
                select(ExchangeRate)
                .where(*clauses)
                .order_by(ExchangeRate.day, ExchangeRate.currency, ExchangeRate.base)
            ).all()
            records = [_record(r) for r in rows]
        return pd.DataFrame(records, columns=COLUMNS)

    # -- writing -----------------------------------------------------------------------
    def set(
        self,
        currency: str,
        day: dt.date | str,
        rate: Decimal | int | str,
        source: str = "manual",
        base: str | None = None,
    ) -> dict[str, Any]:
        """Set the rate of ``currency`` on ``day``: one ``base`` (default: the
        reporting currency) is worth ``rate`` ``currency``. ``rates.set("EUR",
        "2026-01-31", "0.0031", base="PKR")``: 1 PKR = 0.0031 EUR. Replaces the rate
        the pair had on that day. Managers and admins only. Returns the row."""
        access.check_unrestricted(self.ws, "set", "exchange rates")
        row = self._clean(
            {"currency": currency, "day": day, "rate": rate, "base": base, "source": source},
            f"exchange rate {currency!s}",
        )
        changes = self._write([row], overwrite=True)
        return changes.rows[0]

    def remove(self, currency: str, day: dt.date | str, base: str | None = None) -> None:
        """Remove the rate of ``currency`` against ``base`` (default: the reporting
        currency) on ``day``. Managers and admins only."""
        access.check_unrestricted(self.ws, "remove", "exchange rates")
        record = f"exchange rate {currency!s}"
        code = rv.code(record, "currency", currency)
        base_code = rv.code(record, "base", base or self.ws.setting("currency"))
        on = rv.day(record, day)
        with self._tx() as s:
            gone = s.execute(
                delete(ExchangeRate).where(
                    ExchangeRate.currency == code,
                    ExchangeRate.base == base_code,
                    ExchangeRate.day == on,
                )
            )
        if not getattr(gone, "rowcount", 0):
            raise NotFoundError("exchange rate", f"{code} per {base_code} on {on.isoformat()}")

    def merge(
        self, rows: Iterable[Mapping[str, Any]], source: str = "erp", *, dry_run: bool = False
    ) -> RateChanges:
        """Write rates that came from elsewhere (an ERP's rate table): each mapping has
        ``currency``, ``base``, ``day`` and ``rate``. A rate a person set or imported
        for a pair and day is kept; an ``erp`` rate is updated when the ERP's changed.
        A row that cannot be a rate (a rate not more than 0, no date) is not written
        and is listed in ``refused``; the others are. A currency code that is not ISO
        4217 but is three letters (an ERP's own currency) is kept as the ERP wrote it.
        ``dry_run`` counts without writing. Managers and admins only (a sync is theirs).
        """
        access.check_unrestricted(self.ws, "write", "exchange rates")
        refused: Errors = []
        cleaned: Rows = []
        for n, row in enumerate(rows, start=1):
            values = {**row, "source": source}
            record = f"exchange rate #{n} ({row.get('currency')} on {row.get('day')})"
            try:
                cleaned.append(self._clean(values, record, lenient=source == "erp"))
            except ValidationError as exc:
                refused.extend(exc.errors)
        changes = self._write(cleaned, overwrite=source != "erp", dry_run=dry_run)
        changes.refused = refused
        return changes

    def import_file(
        self,
        path: str | Path,
        *,
        base: str | None = None,
        sheet: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        rejects: str | Path | None = None,
    ) -> RateChanges:
        """Import rates from a CSV or XLSX file with the columns ``currency``,
        ``date`` (YYYY-MM-DD) and ``rate``, and optionally ``base`` (default: ``base``
        here, else the reporting currency); a row says "on that date one base is worth
        that many of the currency". The encoding and delimiter are found unless given.

        All or nothing: when any row is refused (an unknown currency code, a rate that
        is not more than 0, a bad date, a pair given twice for one day with two
        rates), nothing is written and a :class:`ValidationError` names every refused
        row by its line in the file, its field, value and reason. Rates the file gives
        replace those the pairs had on the same days. With ``rejects``, the refused
        rows are also written there as they were, with their line, field, value and
        reason (:mod:`crm_core.imports.rejects`), to see what to fix in the file:
        since nothing was written, it is the whole file that is imported again, not
        the rejects. Managers and admins only.
        """
        from crm_core.imports.reading import FileError, open_source
        from crm_core.imports.rejects import check_rejects_path

        access.check_unrestricted(self.ws, "import", "exchange rates")
        if rejects is not None:  # before the file is read: a bad name writes nothing
            check_rejects_path(Path(rejects), Path(path))
        source = open_source(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
        where = rv.columns(source.columns)
        missing = [f for f in ("currency", "day", "rate") if f not in where]
        if missing:
            wanted = ", ".join(FILE_COLUMNS[f][0] for f in missing)
            raise FileError(
                f"{source.path}: no column {wanted} (the columns are "
                f"{', '.join(source.columns)}; a rates file has currency, date, rate, base)"
            )
        default_base = base or self.ws.setting("currency")
        name = Path(path).name
        errors: Errors = []
        cleaned: Rows = []
        seen: dict[tuple[str, str, dt.date], tuple[int, Decimal]] = {}
        refused: Refused = []
        for line, cells in source.rows():
            before = len(errors)
            row = self._file_row(cells, line, where, default_base, f"{name} line {line}", errors)
            if row is not None:
                key = (row["currency"], row["base"], row["day"])
                if key in seen and seen[key][1] != row["rate"]:
                    reason = (
                        f"line {seen[key][0]} gives {key[0]} per {key[1]} on "
                        f"{key[2].isoformat()} another rate ({seen[key][1]})"
                    )
                    errors.append(FieldError(f"{name} line {line}", "rate", row["given"], reason))
                else:
                    seen.setdefault(key, (line, row["rate"]))
                    cleaned.append({k: v for k, v in row.items() if k != "given"})
            if len(errors) > before:
                refused.append((list(cells), line, errors[before:]))
        if errors:
            if rejects is not None:
                rv.write_rejects(Path(rejects), source, refused)
            raise ValidationError(errors)
        return self._write(cleaned, overwrite=True)

    # -- helpers -----------------------------------------------------------------------
    def _file_row(
        self,
        cells: Cells,
        line: int,
        where: Mapping[str, int],
        default_base: str,
        record: str,
        errors: Errors,
    ) -> dict[str, Any] | None:
        """One row of an import file checked (refusals appended to ``errors``); the
        row's ``given`` rate text is kept for messages."""
        values = {
            f: (cells[i].strip() if i < len(cells) and isinstance(cells[i], str) else "")
            for f, i in where.items()
        }
        if not values.get("base"):
            values["base"] = default_base
        try:
            row = self._clean({**values, "source": "file"}, record)
        except ValidationError as exc:
            errors.extend(exc.errors)
            return None
        return {**row, "given": values["rate"]}

    def _clean(
        self, values: Mapping[str, Any], record: str, *, lenient: bool = False
    ) -> dict[str, Any]:
        """One rate's values checked: every refusal of the row in one error.
        ``lenient`` keeps a three-letter code that is not ISO 4217 (an ERP's)."""
        errors: Errors = []
        out: dict[str, Any] = {}
        code = rv.erp_code if lenient else rv.code
        for key, clean in (
            ("currency", lambda x: code(record, "currency", x)),
            ("base", lambda x: code(record, "base", x or self.ws.setting("currency"))),
            ("day", lambda x: rv.day(record, x)),
            ("rate", lambda x: rv.rate(record, x, lenient, values.get("source") == "file")),
            ("source", lambda x: rv.source(record, x)),
        ):
            try:
                out[key] = clean(values.get(key))
            except ValidationError as exc:
                errors.extend(exc.errors)
        if not errors and out["currency"] == out["base"]:
            errors.append(
                FieldError(record, "base", out["base"], "is the currency itself (its rate is 1)")
            )
        if errors:
            raise ValidationError(errors)
        return out

    def _write(self, rows: Rows, *, overwrite: bool, dry_run: bool = False) -> RateChanges:
        """Add or replace ``rows`` in one transaction. ``overwrite`` False keeps the
        rates a person set or imported (an ERP batch); ``dry_run`` only counts."""
        changes = RateChanges()
        if not rows:
            return changes
        now = self.ws.clock()
        written: Stored = []
        with self._tx() as s:
            existing = _existing(s, {(r["currency"], r["base"], r["day"]) for r in rows})
            for row in rows:
                key = (row["currency"], row["base"], row["day"])
                found = existing.get(key)
                if found is None:
                    found = ExchangeRate(**row, recorded_at=now)
                    if not dry_run:
                        s.add(found)
                    existing[key] = found
                    changes.added += 1
                elif not overwrite and found.source != "erp":
                    changes.kept += 1
                elif rate_value(found.rate) == row["rate"] and found.source == row["source"]:
                    changes.unchanged += 1
                else:
                    if not dry_run:
                        found.rate, found.source = row["rate"], row["source"]
                        found.recorded_at = now
                    changes.changed += 1
                written.append(found)
            s.flush()
            changes.rows = [_record(r) for r in written]
        return changes


def _existing(
    s: Session, keys: set[tuple[str, str, dt.date]]
) -> dict[tuple[str, str, dt.date], ExchangeRate]:
    found: dict[tuple[str, str, dt.date], ExchangeRate] = {}
    ordered = sorted(keys)
    for start in range(0, len(ordered), 300):
        chunk = ordered[start : start + 300]
        cols = tuple_(ExchangeRate.currency, ExchangeRate.base, ExchangeRate.day)
        for row in s.scalars(select(ExchangeRate).where(cols.in_(chunk))):
            found[(row.currency, row.base, row.day)] = row
    return found


def _record(row: ExchangeRate) -> dict[str, Any]:
    return {
        "currency": row.currency,
        "base": row.base,
        "day": row.day,
        "rate": rate_value(row.rate),
        "source": row.source,
        "recorded_at": row.recorded_at,
    }
