"""One import run's batches: the part every entity shares.

Each batch of rows runs in one transaction: its rows are read into fields, the
entity's job (:mod:`crm_core.imports.records` for companies, contacts and deals,
:mod:`crm_core.imports.history` for activities and interactions) creates, updates,
leaves alone or refuses each of them, and the refused rows go to the rejects file with
their reason. A batch the database refuses is rolled back whole and its rows go to the
rejects file; nothing is half-written. A dry run does all of this in one transaction
that is rolled back at the end.

Blank cells never clear a value: they mean "the file says nothing about this field".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crm_core import text
from crm_core.errors import ImportRefused
from crm_core.imports import dates
from crm_core.imports import mapping as m
from crm_core.imports.matching import Touched, survivors
from crm_core.imports.reading import MAX_CELL
from crm_core.imports.rejects import ExtraCells, Rejects
from crm_core.imports.report import Example, ImportReport
from crm_core.loaders import BatchError, Checked, blank, database_reason

if TYPE_CHECKING:
    from crm_core.keys import RowKeys
    from crm_core.workspace import Workspace


@dataclass
class Row:
    """One row on its way through a batch."""

    line: int
    cells: list[Any]
    raw: dict[str, Any]
    custom_given: tuple[str, ...] = ()
    erp_id: int | None = None
    #: A company the row names that does not exist yet.
    new_company: str | None = None
    values: dict[str, Any] | None = None
    checked: Checked | None = None
    keys: RowKeys | None = None
    # The outcome: (outcome, record id, detail) or a refusal (field, value, reason).
    outcome: tuple[str, int | None, str] | None = None
    refusal: tuple[str | None, Any, str] | None = None

    def refuse(self, field: str | None, value: Any, reason: str) -> None:
        self.refusal = (field, value, reason)

    def given(self, key: str | None) -> tuple[str | None, Any]:
        """The field and value of the row that match key ``key`` stands for."""
        if key == "erp_id":
            return key, self.erp_id
        if key == "phone":
            field = "phone" if "phone" in self.raw else "mobile"
            return field, self.raw.get(field)
        return key, None if key is None else self.raw.get(key)

    @property
    def name(self) -> str:
        """What the row is called in a report: its name, or its subject."""
        name = self.raw.get("name", self.raw.get("subject"))
        return str(name) if not blank(name) else ""


# -- one run --------------------------------------------------------------------------


class Job:
    """The state of one run across its batches; an entity's job says what a batch does
    with its rows (:meth:`process`)."""

    def __init__(
        self,
        ws: Workspace,
        kind: str,
        columns: list[str],
        label: str,
        plan: m.ColumnMap,
        mode: str,
        keep_invalid: bool,
        report: ImportReport,
    ):
        self.ws = ws
        self.kind = kind
        self.columns = columns
        self.plan = plan
        self.mode = mode
        self.keep_invalid = keep_invalid
        self.report = report
        self.touched = Touched()
        self.origin = f"import:{label}"[:220]
        # column index -> field, in file order
        self.fields = [(i, plan.fields[c]) for i, c in enumerate(columns) if c in plan.fields]
        self.date_at = {i for i, c in enumerate(columns) if c in plan.date_columns}

    #: Whether a company a row names that does not exist is created (else refused).
    creates_companies = False

    def prepare(self, s: Session, rows: list[Row]) -> None:
        """What a batch's rows need before they are written and only reads: names of
        linked records into ids, validation. May run in another process (see
        :mod:`crm_core.imports.parallel`)."""

    def write(self, s: Session, rows: list[Row], marked: list[int]) -> None:
        """Give every row of a prepared batch an outcome or a refusal, in session
        ``s``; the ids of the records it matched or created go to ``marked``."""
        raise NotImplementedError

    def rolled_back(self) -> None:
        """Forget what the job cached from a batch the database refused."""

    @contextmanager
    def transactions(self, dry_run: bool) -> Iterator[Callable[[], Any]]:
        """Yields how each batch gets its transaction: its own, committed; or in a dry
        run, one transaction for the whole run, rolled back at the end. (No savepoint
        per batch: pysqlite would turn the first one into a commit.) A dry run the
        database refuses a batch of stops there, naming the batch."""
        if not dry_run:

            @contextmanager
            def own() -> Iterator[Session]:
                with self.ws.transaction(self.origin) as s:
                    yield s

            yield own
            return
        try:
            with self.ws.transaction(self.origin) as outer:

                @contextmanager
                def shared() -> Iterator[Session]:
                    try:
                        yield outer
                    except (SQLAlchemyError, BatchError) as exc:
                        raise ImportRefused(
                            f"the dry run stopped: the database refused a batch: "
                            f"{database_reason(exc)}; nothing was written"
                        ) from exc

                yield shared
                raise _RollBack
        except _RollBack:
            pass

    def define_custom(self, new: Mapping[str, str], each_batch: Callable[[], Any]) -> list[str]:
        """Define a text custom field for each unknown column kept with ``custom``, in
        a transaction like a batch's (a dry run's are rolled back with the rest)."""
        known = set(self.ws.custom_fields.list(self.kind)["name"])
        defined = []
        with each_batch() as s:
            for column, name in new.items():
                if name not in known:
                    self.ws.custom_fields.define_in(s, self.kind, name, label=column[:200])
                    defined.append(name)
        return defined

    # -- a batch ----------------------------------------------------------------------
    def rows_of(self, lines: list[tuple[int, list[Any]]]) -> list[Row]:
        """The batch's lines as rows of fields (a malformed line already refused)."""
        return [self._row(line, cells) for line, cells in lines]

    def batch(
        self,
        each_batch: Callable[[], Any],
        lines: list[tuple[int, list[Any]]],
        out: Rejects,
        prepared: list[Row] | str | None = None,
    ) -> None:
        """Import one batch of lines in one transaction and count its rows.
        ``prepared`` holds its rows when another process prepared them, or why it
        could not (then the whole batch is refused with that reason)."""
        rows = prepared if isinstance(prepared, list) else self.rows_of(lines)
        marked: list[int] = []
        companies_before = self.report.companies_created
        failure = prepared if isinstance(prepared, str) else None
        if failure is None:
            try:
                with each_batch() as s:
                    if prepared is None:
                        self.prepare(s, rows)
                    self.write(s, rows, marked)
            except (SQLAlchemyError, BatchError) as exc:
                failure = database_reason(exc)
        if failure is not None:
            self.rolled_back()
            self.touched.forget(marked)
            self.report.companies_created = companies_before
            reason = (
                f"the database refused the batch of lines {lines[0][0]}-{lines[-1][0]}, "
                f"none of it was written: {failure}"
            )
            self.report.failures.append(reason)
            for row in rows:
                if row.refusal is None or row.outcome is not None:
                    row.outcome = None
                    row.refuse(None, None, reason)
        for row in rows:
            if row.refusal is not None:
                field, value, reason = row.refusal
                out.write(row.cells[: len(self.columns)], row.line, field, value, reason)
                self.report.add("rejected", Example(row.line, "rejected", row.name, None, reason))
            else:
                assert row.outcome is not None
                outcome, record_id, detail = row.outcome
                if outcome == "created" and self.report.dry_run:
                    record_id = None  # the id it had in a transaction rolled back
                self.report.add(outcome, Example(row.line, outcome, row.name, record_id, detail))

    def _row(self, line: int, cells: list[Any]) -> Row:
        width = len(self.columns)
        row = Row(line, cells, {})
        filled = [
            i for i in range(width, len(cells)) if not blank(cells[i]) and str(cells[i]).strip()
        ]
        if filled:
            # The cells past the header, as the file has them (blank ones between kept):
            # the rejects file writes them in the value column, as a line of the file.
            extra = list(cells[width : filled[-1] + 1])
            named = ", ".join(f"cell {i + 1} {cells[i]!r}" for i in filled)
            row.refuse(
                None,
                ExtraCells(extra),
                f"the row has {len(cells)} cells and the header {width}: {named} "
                "under no column (the value column holds the cells past the header, "
                "as the file writes them); a delimiter inside a cell that is not quoted?",
            )
            return row
        raw: dict[str, Any] = {}
        for i, field in self.fields:
            if i < len(cells):
                value = cells[i]
                if isinstance(value, str):
                    value = value.strip()
                    if i in self.date_at and value:
                        value, wrong = dates.read(value, self.plan.dates)
                        if wrong is not None and row.refusal is None:
                            row.refuse(field, cells[i], f"{field}: {wrong}")
                if not blank(value) and value != "":
                    raw[field] = value
        if "name" not in raw and ("first_name" in raw or "last_name" in raw):
            raw["name"] = " ".join(str(raw[k]) for k in ("first_name", "last_name") if k in raw)
        raw.pop("first_name", None)
        raw.pop("last_name", None)
        erp = raw.pop("erp_id", None)
        if erp is not None:
            digits = str(erp).strip()
            if not digits.isdecimal():
                row.refuse("erp_id", erp, "is not a whole number (the record's id in the ERP)")
            else:
                row.erp_id = int(digits)
        row.custom_given = tuple(k[len(m.CUSTOM) :] for k in raw if k.startswith(m.CUSTOM))
        row.raw = raw
        long = [i for i, c in enumerate(cells) if isinstance(c, str) and len(c) > MAX_CELL]
        if long:
            i = long[0]
            row.refuse(
                self.plan.fields.get(self.columns[i]),
                f"{len(cells[i]):,} characters",
                f"the cell of column {self.columns[i]!r} is longer than "
                f"{MAX_CELL >> 20} MiB: too long to import",
            )
        return row

    def _refs(self, s: Session, rows: list[Row], field: str, model: Any) -> None:
        """Rows naming a ``field`` record (a company, contact or deal) by its name (a
        contact also by e-mail) get its id. A record merged into another one names the
        record it was merged into: a row is never attached to a merged-away record, nor
        refused because the merged pair both have the name."""
        named = {
            text.fold(str(r.raw[field])): r
            for r in rows
            if field in r.raw and not str(r.raw[field]).strip().isdecimal()
        }
        if not named:
            return
        found: dict[str, set[int]] = {}
        columns = [model.name_key] + ([model.email_key] if field == "contact" else [])
        keys = sorted(named)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            for column in columns:
                for record_id, key in s.execute(select(model.id, column).where(column.in_(chunk))):
                    found.setdefault(key, set()).add(record_id)
        merged = survivors(s, model, {i for ids in found.values() for i in ids})
        for key, some in found.items():
            found[key] = {k for i in some if (k := merged.get(i, i)) is not None}
        for row in rows:
            value = row.raw.get(field)
            if value is None or str(value).strip().isdecimal():
                continue
            ids = sorted(found.get(text.fold(str(value)), set()))
            if len(ids) > 1:
                row.refuse(
                    field,
                    value,
                    f"{len(ids)} {field} records have this name: "
                    + ", ".join(f"#{i}" for i in ids)
                    + "; give the id instead",
                )
            elif ids:
                row.raw[field] = ids[0]
            elif field == "company" and self.creates_companies:
                # Created once the row has passed every check (see _new_companies).
                row.new_company = str(value).strip()
                del row.raw[field]
            else:
                row.refuse(field, value, f"no {field} has this name or e-mail")


class _RollBack(Exception):
    """Ends a dry run's transaction without committing it."""
