"""Bulk import: validated like the services, written like a database loader.

``import_contacts``, ``import_companies`` and ``import_opportunities`` take an iterable of
mappings (rows of a CSV file, records of a DataFrame, dicts) and write them in batches.
Each value goes through the same cleaners the services use, so an imported record is
exactly what ``ws.contacts.create(**row)`` would have stored; but valid rows are then
inserted with SQLAlchemy Core ``executemany`` instead of the ORM unit of work, which is
what makes a million rows a matter of minutes.

What the ORM journal listener would have written is written here explicitly, in the
same transaction: the ``SearchTerm`` words of names, one ``create`` journal entry per
record with the record's snapshot, and for deals the first ``StageChange`` row.

Each batch is one transaction. A row refused by validation is not written and goes to
the rejects CSV file with the reason; if the database refuses a batch, that batch is
rolled back as a whole, its rows go to the rejects file too, and the import carries on
with the next batch. Nothing is half-written and nothing is silently dropped.
"""

from __future__ import annotations

import csv
import multiprocessing
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TextIO, cast

import numpy as np
import pandas as pd
from sqlalchemy import Boolean, Connection, Integer, String, Table, Text, insert, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from crm_core import db, journal, text
from crm_core.errors import FieldError
from crm_core.models import (
    Campaign,
    Company,
    Contact,
    CustomFieldDefinition,
    JournalEntry,
    Opportunity,
    Pipeline,
    SearchTerm,
    StageChange,
    Tag,
)
from crm_core.models.party import company_tags, contact_tags
from crm_core.models.pipeline import opportunity_tags
from crm_core.services.base import Cleaner, apply_fields, custom_values, tags_for
from crm_core.validation import Reject

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Progress = Callable[["ImportReport"], None]
# One validated row: (row to insert or None, its tag names, why it was refused or None).
Checked = tuple[dict[str, Any] | None, Any, str | None]

# How many row rejections the report keeps as text (all of them go to the rejects file).
KEEP_MESSAGES = 50
# Derived search keys and the field each one folds.
_KEYS = {"name_key": "name", "email_key": "email", "city_key": "city"}
_MISSING = object()


@dataclass
class ImportReport:
    """What an import did.

    ``inserted`` rows were written; ``rejected`` rows failed validation; ``failed``
    rows were valid but in a batch the database refused (rolled back). Rejected and
    failed rows are all in the rejects file when one was given. ``messages`` holds
    every batch failure and the first rejection reasons, so a caller without a
    rejects file still sees why.
    """

    entity: str
    inserted: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows read so far."""
        return self.inserted + self.rejected + self.failed

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def import_contacts(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import contacts: one row per contact, columns named like ``ws.contacts.create``.

    Columns: name (required), email, phone, mobile, street, street2, city, zip,
    state, country, notes, job_title, language, birthday, company_id (or company:
    the id of an existing company), owner_id (or owner: id, login or e-mail), tags
    (comma-separated names), custom fields as ``custom.<name>`` columns or a
    ``custom`` mapping. Empty cells mean "no value".

    Rows failing validation are written to ``rejects`` (a CSV file, overwritten) with
    their original columns and an ``error`` column naming row, field, value and
    reason. ``progress`` is called with the running :class:`ImportReport` after each
    batch of ``batch_size`` rows. ``workers`` > 0 validates batches in that many
    extra processes while this one writes: checking e-mails and phone numbers costs
    about as much as writing (one worker made a million-contact import about 1.3x
    faster on two cores; more cores leave room for more). (Workers are started with
    "spawn": a script using them needs
    the usual ``if __name__ == "__main__":`` guard. An in-memory SQLite workspace
    is always validated in this process.)
    """
    return _run(_ContactLoader(ws), rows, rejects, batch_size, progress, workers)


def import_companies(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import companies, like :func:`import_contacts` (columns as ``ws.companies.create``)."""
    return _run(_CompanyLoader(ws), rows, rejects, batch_size, progress, workers)


def import_opportunities(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    pipeline: int | str | None = None,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
) -> ImportReport:
    """Import deals into ``pipeline`` (default: the first), like ``ws.pipeline.create``.

    Columns: name (required), stage (name or id of an open stage; default the first),
    type, company_id / company and contact_id / contact (ids of existing records),
    owner_id / owner, expected_revenue (a decimal string, never a float), currency
    (default: the workspace's), probability (default: the stage's), expected_close,
    priority, source, campaign_id, description, tags, ``custom.<name>``. Each deal
    gets its first stage-history row. The other arguments are as in
    :func:`import_contacts`.
    """
    with ws.transaction() as s:
        # An unknown pipeline is the caller's mistake, not a row's: fail before any batch.
        pipeline_id = ws.pipeline._pipeline(s, pipeline).id
    return _run(_OpportunityLoader(ws, pipeline_id), rows, rejects, batch_size, progress, workers)


# -- rows in ----------------------------------------------------------------------------


def _records(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> Iterator[Mapping[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns]
        for values in rows.itertuples(index=False, name=None):
            yield dict(zip(columns, values, strict=True))
    else:
        yield from rows


def _batches(rows: Iterator[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    while batch := list(islice(rows, size)):
        yield batch


def _blank(value: Any) -> bool:
    # CSV cells are "" when empty; DataFrames hold NaN/NA/NaT. All mean "not given",
    # which lets the column default apply exactly as when a service call omits it.
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return value != value
    return value is pd.NA or value is pd.NaT


def _plain(value: Any) -> Any:
    # numpy scalars from a DataFrame are not ``int``/``str`` to the validators.
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- cleaning helpers -------------------------------------------------------------------


def _table(model: Any) -> Table:
    return cast(Table, model.__table__)


class _Discard:
    """Stands in for the ORM object ``apply_fields`` sets values on: we keep the dict."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        pass


_SINK = _Discard()


def _memo(clean: Cleaner) -> Cleaner:
    """Remember a cleaner's answer per value for one batch.

    Countries, currencies, owners, cities and stages repeat from row to row; the
    lookups behind them (pycountry, the users table) need not.
    """
    cache: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        try:
            key = (type(value), value)
            hit = cache.get(key, _MISSING)
        except TypeError:  # unhashable (a list of tags, a mapping)
            return clean(value)
        if hit is _MISSING:
            try:
                hit = clean(value)
            except Reject as exc:
                hit = exc
            cache[key] = hit
        if isinstance(hit, Reject):
            raise Reject(str(hit))
        return hit

    return cached


def _known_ids(s: Session, table: Table, values: Iterable[Any]) -> set[int]:
    wanted = sorted({x for x in values if type(x) is int})
    found: set[int] = set()
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start : start + 1000]
        found.update(s.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars())
    return found


def _prefetched(clean: Cleaner, known: set[int]) -> Cleaner:
    """A reference cleaner answering from one query per batch for ids that exist.

    Anything else goes to the service's own cleaner, which refuses it with its reason.
    """

    def fast(value: Any) -> Any:
        if type(value) is int and value in known:
            return value
        return clean(value)

    return fast


class _BatchError(Exception):
    """The database did something this loader cannot vouch for; the batch is undone."""


# -- loaders ----------------------------------------------------------------------------


class _Loader:
    """Validate and write one entity. Subclasses say what is special about theirs."""

    model: Any
    entity: str  # as named in errors and custom-field definitions
    service: Any
    aliases: ClassVar[dict[str, str]] = {}
    # Fields the services refuse on create, with what to do instead.
    blocked: ClassVar[dict[str, str]] = {}
    # Reference fields whose existence is checked with one query per batch.
    refs: ClassVar[dict[str, Table]] = {}
    # Given values that are not fields but steer check() (a deal's stage).
    directives: ClassVar[tuple[str, ...]] = ()
    tag_table: Table
    tag_column: str

    def __init__(self, ws: Workspace):
        self.ws = ws
        # What a worker process needs to build the same loader: see _worker_start.
        self.options: dict[str, Any] = {}
        # Columns holding the id of another record.
        self.id_fields = set(self.refs)
        self.table = _table(self.model)
        self.journal_entity = self.table.name
        self.search_entity = journal._INDEXED.get(self.model)
        # What the journal listener would snapshot: every column it does not skip.
        self.snapshot_keys = [
            a.key
            for a in inspect(self.model).column_attrs
            if a.key not in journal._SKIP and a.key not in journal._SECRET
        ]
        # Scalar column defaults, as the ORM would have filled them in (callables such
        # as ``custom``'s dict and server defaults such as the stamps are set below).
        self.defaults = {
            c.name: (
                getattr(c.default, "arg", None)
                if c.default is not None and c.default.is_scalar
                else None
            )
            for c in self.table.columns
            if not c.primary_key
        }
        self.key_lengths = {
            k: getattr(self.table.c[k].type, "length", None) for k in _KEYS if k in self.table.c
        }
        self.tag_ids: dict[str, int] = {}
        # The last batch written: new id -> (row as inserted, its tag ids).
        self.written: dict[int, tuple[dict[str, Any], list[int]]] = {}

    # -- per batch --------------------------------------------------------------------
    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        """The service's cleaners for this batch's session (built once per batch)."""
        raise NotImplementedError

    def prepare(self, s: Session, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Build what every row of ``batch`` is checked with: one set of cleaners."""
        cleaners = {name: _memo(c) for name, c in self.cleaners(s).items()}
        for name, table in self.refs.items():
            if name in cleaners:
                known = _known_ids(s, table, (row.get(name) for row in batch))
                cleaners[name] = _prefetched(cleaners[name], known)
        has_custom = (
            s.execute(
                select(CustomFieldDefinition.id)
                .where(CustomFieldDefinition.entity == self.entity)
                .limit(1)
            ).first()
            is not None
        )
        return {"cleaners": cleaners, "has_custom": has_custom}

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The given (non-blank) values of one row, aliases resolved, ids as ints."""
        values: dict[str, Any] = {}
        for given, value in raw.items():
            if _blank(value):
                continue
            value = _plain(value)
            key = self.aliases.get(given, given)
            if (
                (key in self.id_fields or given == "owner_id")
                and isinstance(value, str)
                and value.strip().isdigit()
            ):
                # CSV has no types: an id column holds digit strings. (Not "owner",
                # which may hold a login.)
                value = int(value)
            values[key] = value
        return values

    def start(self, s: Session, ctx: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        """The row as it starts before its given values are cleaned (defaults)."""
        row = dict(self.defaults)
        row["custom"] = {}
        return row

    def check(
        self,
        s: Session,
        ctx: dict[str, Any],
        directives: dict[str, Any],
        row: dict[str, Any],
        record: str,
        errors: list[FieldError],
    ) -> None:
        """Entity-specific checks of one row, after its fields were cleaned."""

    def record(self, number: int, name: Any) -> str:
        """How errors name row ``number``: ``contact row 12 'Imran Khan'``."""
        return f"{self.entity} row {number}" + (f" {name!r}" if isinstance(name, str) else "")

    def clean(
        self, s: Session, ctx: dict[str, Any], values: dict[str, Any], number: int
    ) -> tuple[dict[str, Any] | None, Any, list[FieldError]]:
        """Validate one row: (row to insert, its tag names, errors)."""
        record = self.record(number, values.get("name"))
        errors: list[FieldError] = []
        values = dict(values)
        tags = values.pop("tags", None)
        custom = values.pop("custom", None)
        dotted = {k[7:]: values.pop(k) for k in [k for k in values if k.startswith("custom.")]}
        if dotted:
            custom = {**custom, **dotted} if isinstance(custom, Mapping) else dotted
        for blocked, hint in self.blocked.items():
            if blocked in values:
                errors.append(FieldError(record, blocked, values.pop(blocked), hint))
        if "name" not in values:
            errors.append(FieldError(record, "name", None, "is required"))
        directives = {k: values.pop(k) for k in self.directives if k in values}
        row = self.start(s, ctx, values)
        row.update(apply_fields(_SINK, values, ctx["cleaners"], record, errors))
        self.check(s, ctx, directives, row, record, errors)
        if custom is not None or ctx["has_custom"]:
            # The service's own merge: definitions, types, required fields.
            row["custom"] = custom_values(s, self.entity, None, custom, record, errors, True)
        if errors:
            return None, None, errors
        for key, length in self.key_lengths.items():
            row[key] = text.fold(row[_KEYS[key]])[:length] or None
        return row, tags, errors

    def validate(self, s: Session, batch: Sequence[Mapping[str, Any]], first: int) -> list[Checked]:
        """Validate a batch whose first row is number ``first``; one result per row."""
        values = [self.normalize(raw) for raw in batch]
        ctx = self.prepare(s, values)
        out: list[Checked] = []
        for i, given in enumerate(values):
            row, tags, errors = self.clean(s, ctx, given, first + i)
            out.append((row, tags, "; ".join(str(e) for e in errors) if errors else None))
        return out

    def resolve_tags(self, s: Session, names: Any) -> list[int]:
        """Tag ids for ``names``; unknown tags are created (and journaled) by the service."""
        parts = names.split(",") if isinstance(names, str) else names
        if isinstance(parts, list | tuple):
            keys = [text.fold(text.clean(p)) if isinstance(p, str) else "" for p in parts]
            if all(k in self.tag_ids for k in keys):
                return list(dict.fromkeys(self.tag_ids[k] for k in keys))
        tags = tags_for(s, names)
        s.flush()  # new tags need ids; the flush also journals their creation
        for tag in tags:
            self.tag_ids[tag.name_key] = tag.id
        return [tag.id for tag in tags]

    # -- writing ----------------------------------------------------------------------
    def insert_records(self, conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
        """Insert ``rows`` and return their new ids in row order."""
        table = self.table
        if conn.dialect.name == "sqlite":
            # SQLite cannot batch an *ordered* RETURNING, but inside our write
            # transaction rowids are handed out one after another in VALUES order:
            # sorted, the returned ids are the rows' ids in order. Verify, not trust.
            ids = sorted(id_ for (id_,) in db.insert_returning(conn, table, rows, "id"))
            if len(ids) != len(rows) or (ids and ids[-1] - ids[0] + 1 != len(ids)):
                raise _BatchError(f"{table.name}: ids of the new rows are not consecutive")
            return ids
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())

    def store(
        self, s: Session, checked: list[Checked], first: int
    ) -> tuple[dict[int, str], dict[int, int]]:
        """Write the valid rows of a validated batch; returns the rows refused while
        writing (tags) and the new id of each row written, both by batch index.

        Tags are resolved here, in the writing transaction (a new tag is created and
        journaled by the service's own code), and only for rows valid otherwise.
        """
        rows: list[dict[str, Any]] = []
        index: list[int] = []
        links: list[list[int]] = []
        refused: dict[int, str] = {}
        for i, (row, tags, error) in enumerate(checked):
            if row is None or error is not None:
                continue
            tag_ids: list[int] = []
            if tags is not None:
                try:
                    tag_ids = self.resolve_tags(s, tags)
                except Reject as exc:
                    record = self.record(first + i, row.get("name"))
                    refused[i] = str(FieldError(record, "tags", tags, str(exc)))
                    continue
            rows.append(row)
            index.append(i)
            links.append(tag_ids)
        ids: list[int] = []
        if rows:
            ids = self.write(s.connection(), rows, links, self.ws.clock(), s.info.get("origin"))
        return refused, dict(zip(index, ids, strict=True))

    def write(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        tags: list[list[int]],
        now: Any,
        origin: str | None = None,
    ) -> list[int]:
        """Insert clean rows with their journal, search and tag rows, stamped ``now``;
        returns their ids in row order."""
        for row in rows:
            row["created_at"] = row["updated_at"] = now
        ids = self.insert_records(conn, rows)
        user_id = self.ws.user_id
        entries = []
        terms: list[dict[str, Any]] = []
        links: list[dict[str, int]] = []
        for record_id, row, tag_ids in zip(ids, rows, tags, strict=True):
            row["id"] = record_id
            snapshot = {k: row.get(k) for k in self.snapshot_keys}
            entries.append(
                {
                    "at": now,
                    "user_id": user_id,
                    "entity": self.journal_entity,
                    "record_id": record_id,
                    "action": "create",
                    "field": None,
                    "old": None,
                    "new": journal.encode(snapshot),
                    "origin": origin,
                }
            )
            if self.search_entity:
                terms.extend(
                    journal.search_rows(self.search_entity, record_id, row["name"], row["active"])
                )
            links.extend({self.tag_column: record_id, "tag_id": t} for t in tag_ids)
        db.insert_many(conn, _table(JournalEntry), entries)
        db.insert_many(conn, _table(SearchTerm), terms)
        db.insert_many(conn, self.tag_table, links)
        self.after_write(conn, rows, now)
        self.written = dict(zip(ids, zip(rows, tags, strict=True), strict=True))
        return ids

    def after_write(self, conn: Connection, rows: list[dict[str, Any]], now: Any) -> None:
        """Rows that hang off the new records (stage history)."""


class _PartyLoader(_Loader):
    blocked: ClassVar[dict[str, str]] = {
        "active": "an import creates active records; archive() them afterwards"
    }

    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        return dict(self.service._cleaners(s))


class _ContactLoader(_PartyLoader):
    model = Contact
    entity = "contact"
    tag_table = contact_tags
    tag_column = "contact_id"
    aliases: ClassVar[dict[str, str]] = {"owner": "owner_id", "company": "company_id"}
    refs: ClassVar[dict[str, Table]] = {"company_id": _table(Company)}

    def __init__(self, ws: Workspace):
        super().__init__(ws)
        self.service = ws.contacts


class _CompanyLoader(_PartyLoader):
    model = Company
    entity = "company"
    tag_table = company_tags
    tag_column = "company_id"
    aliases: ClassVar[dict[str, str]] = {"owner": "owner_id"}

    def __init__(self, ws: Workspace):
        super().__init__(ws)
        self.service = ws.companies


class _OpportunityLoader(_Loader):
    model = Opportunity
    entity = "opportunity"
    tag_table = opportunity_tags
    tag_column = "opportunity_id"
    aliases: ClassVar[dict[str, str]] = {
        "company": "company_id",
        "contact": "contact_id",
        "owner": "owner_id",
        "campaign": "campaign_id",
        "stage_id": "stage",
    }
    blocked: ClassVar[dict[str, str]] = {
        "status": "an import creates open deals; win() or lose() them afterwards",
        "active": "an import creates active deals; archive() them afterwards",
        "lost_reason": "an import creates open deals; lose() them afterwards",
        "pipeline": "give the pipeline to import_opportunities(pipeline=...)",
    }
    directives: ClassVar[tuple[str, ...]] = ("stage",)
    refs: ClassVar[dict[str, Table]] = {
        "company_id": _table(Company),
        "contact_id": _table(Contact),
        "campaign_id": _table(Campaign),
    }

    def __init__(self, ws: Workspace, pipeline_id: int):
        super().__init__(ws)
        self.pipeline_id = pipeline_id
        self.options = {"pipeline_id": pipeline_id}

    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        return dict(self.ws.pipeline._cleaners(s))

    def prepare(self, s: Session, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        ctx = super().prepare(s, batch)
        pipeline = s.get(Pipeline, self.pipeline_id)
        assert pipeline is not None
        service = self.ws.pipeline

        def stage(ref: Any) -> tuple[int, Decimal, bool]:
            found = service._stage(s, pipeline, ref)
            return found.id, found.probability, found.is_won or found.is_lost

        first = pipeline.stages[0]
        ctx.update(
            stage=_memo(stage),
            first=(first.id, first.probability, first.is_won or first.is_lost),
            currency=self.ws.setting("currency"),
        )
        return ctx

    def start(self, s: Session, ctx: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
        row = super().start(s, ctx, values)
        # What PipelineService.create sets before the given values are applied.
        row.update(
            pipeline_id=self.pipeline_id,
            status="open",
            active=True,
            type="opportunity",
            currency=ctx["currency"],
            probability=None,  # the stage's, unless the row gives one (see check)
        )
        return row

    def check(
        self,
        s: Session,
        ctx: dict[str, Any],
        directives: dict[str, Any],
        row: dict[str, Any],
        record: str,
        errors: list[FieldError],
    ) -> None:
        ref = directives.get("stage")
        if ref is None:
            stage_id, probability, closed = ctx["first"]
        else:
            try:
                stage_id, probability, closed = ctx["stage"](ref)
            except Reject as exc:
                errors.append(FieldError(record, "stage", ref, str(exc)))
                return
        if closed:
            errors.append(
                FieldError(
                    record, "stage", ref, "a deal cannot start won or lost; create then close it"
                )
            )
        row["stage_id"] = stage_id
        if row.get("probability") is None:
            row["probability"] = probability

    def after_write(self, conn: Connection, rows: list[dict[str, Any]], now: Any) -> None:
        conn.execute(
            insert(_table(StageChange)),
            [
                {
                    "opportunity_id": row["id"],
                    "from_stage_id": None,
                    "to_stage_id": row["stage_id"],
                    "changed_at": now,
                    "changed_by_id": self.ws.user_id,
                }
                for row in rows
            ],
        )


# -- the run ------------------------------------------------------------------------------


class _Rejects:
    """The rejects CSV: the original columns of each refused row plus ``error``."""

    def __init__(self, path: Path | None):
        self.path = path
        self.file: TextIO | None = None
        self.writer: Any = None
        self.columns: list[str] = []
        self.known: set[str] = set()
        self.error_column = "error"

    def open(self, first_batch: Sequence[Mapping[str, Any]]) -> None:
        if self.path is None or self.file is not None:
            return
        columns: dict[str, None] = {}
        for row in first_batch:
            columns.update(dict.fromkeys(str(k) for k in row))
        self.columns = list(columns)
        self.known = set(self.columns)
        while self.error_column in columns:
            self.error_column = "_" + self.error_column
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # utf-8-sig so that Excel opens Urdu, Bengali and Cyrillic text correctly.
        self.file = self.path.open("w", newline="", encoding="utf-8-sig")
        self.writer = csv.writer(self.file)
        self.writer.writerow([*self.columns, self.error_column])

    def write(self, raw: Mapping[str, Any], error: str) -> None:
        if self.writer is None:
            return
        extra = {str(k): v for k, v in raw.items() if str(k) not in self.known and not _blank(v)}
        if extra:
            # A column the file's header does not have: keep its value, in the message.
            error += f" (columns not in the header: {extra!r})"
        cells = {str(k): v for k, v in raw.items()}
        self.writer.writerow([_cell(cells.get(c)) for c in self.columns] + [error])

    def close(self) -> None:
        if self.file is None and self.path is not None:
            self.open([])
        if self.file is not None:
            self.file.close()


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def _run(
    loader: _Loader,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    rejects: str | Path | None,
    batch_size: int,
    progress: Progress | None,
    workers: int,
) -> ImportReport:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workers < 0:
        raise ValueError("workers must be 0 or more")
    started = time.perf_counter()
    path = Path(rejects) if rejects is not None else None
    report = ImportReport(entity=loader.entity, rejects_path=path)
    out = _Rejects(path)
    batches = _numbered(_batches(_records(rows), batch_size), out)

    def done(batch: list[Mapping[str, Any]], first: int, checked: Any) -> None:
        _batch(loader, batch, first, report, out, checked)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(report)

    try:
        if workers and _shareable(loader.ws):
            _run_parallel(loader, batches, workers, done)
        else:
            for batch, first in batches:
                done(batch, first, None)
    finally:
        out.close()
        report.seconds = time.perf_counter() - started
    return report


def _numbered(
    batches: Iterator[list[Mapping[str, Any]]], out: _Rejects
) -> Iterator[tuple[list[Mapping[str, Any]], int]]:
    number = 1
    for batch in batches:
        out.open(batch)  # the first batch names the rejects file's columns
        yield batch, number
        number += len(batch)


def _shareable(ws: Workspace) -> bool:
    """Whether another process can open this workspace's database (not in-memory)."""
    url = ws.engine.url
    if url.get_backend_name() != "sqlite":
        return True
    return url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)


def _run_parallel(
    loader: _Loader,
    batches: Iterator[tuple[list[Mapping[str, Any]], int]],
    workers: int,
    done: Callable[[list[Mapping[str, Any]], int, Any], None],
) -> None:
    """Validate batches in ``workers`` processes while this one writes, in order.

    At most ``workers + 1`` batches are in flight, so memory stays bounded whatever
    the size of the input. "spawn" gives each worker a clean interpreter: no copy of
    this process's database connections, and it works the same in notebooks.
    """
    url = loader.ws.engine.url.render_as_string(hide_password=False)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(url, loader.entity, loader.options),
    )
    pending: deque[tuple[list[Mapping[str, Any]], int, Future[Any]]] = deque()
    try:
        for batch, first in batches:
            plain = [dict(row) for row in batch]  # picklable whatever the mapping type
            pending.append((batch, first, pool.submit(_worker_validate, plain, first)))
            while len(pending) > workers:
                done(*pending.popleft())
        while pending:
            done(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, _Loader] = {}


def _worker_start(url: str, entity: str, options: dict[str, Any]) -> None:
    """Open the workspace in a worker process and build the loader there."""
    from crm_core.workspace import Workspace

    loaders: dict[str, Callable[..., _Loader]] = {
        "contact": _ContactLoader,
        "company": _CompanyLoader,
        "opportunity": _OpportunityLoader,
    }
    _WORKER["loader"] = loaders[entity](Workspace(db.make_engine(url)), **options)


def _worker_validate(batch: list[dict[str, Any]], first: int) -> tuple[list[Checked], str | None]:
    """Validate one batch in a worker: (results, None) or ([], why the database failed)."""
    loader = _WORKER["loader"]
    try:
        with loader.ws.transaction() as s:
            return loader.validate(s, batch, first), None
    except SQLAlchemyError as exc:
        return [], _reason(exc)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _batch(
    loader: _Loader,
    batch: list[Mapping[str, Any]],
    first: int,
    report: ImportReport,
    out: _Rejects,
    validated: Future[tuple[list[Checked], str | None]] | None,
) -> None:
    """Validate (unless a worker did) and write one batch in one transaction."""
    refused: dict[int, str] = {}
    failure: str | None = None
    try:
        if validated is not None:
            checked, problem = validated.result()
            if problem is not None:
                raise _BatchError(problem)
        with loader.ws.transaction() as s:
            if validated is None:
                checked = loader.validate(s, batch, first)
            refused = {i: error for i, (_, _, error) in enumerate(checked) if error}
            refused.update(loader.store(s, checked, first)[0])
    except (SQLAlchemyError, _BatchError) as exc:
        loader.tag_ids.clear()  # tags created in the rolled-back batch are gone
        failure = (
            f"{loader.entity} rows {first}-{first + len(batch) - 1}: the database refused "
            f"the batch, none of it was written: {_reason(exc)}"
        )
        report.messages.append(failure)
        report.failed += len(batch) - len(refused)
    else:
        report.inserted += len(batch) - len(refused)
    report.rejected += len(refused)
    for i, raw in enumerate(batch):
        error = refused.get(i, failure)
        if error is None:
            continue
        out.write(raw, error)
        if i in refused and len(report.messages) < KEEP_MESSAGES:
            report.messages.append(error)


class PartyWriter:
    """Validated many-row creates of companies or contacts in the caller's session.

    For code that brings records in from elsewhere, such as the ERP sync's first pull:
    each row is checked exactly as ``ws.companies.create`` / ``ws.contacts.create``
    would check it, then the valid rows are inserted with one ``executemany``,
    journaled with the session's user and origin and indexed for search. Unlike an
    import, a row may carry ``active`` (a record archived at its source arrives
    archived).
    """

    def __init__(self, ws: Workspace, entity: str):
        loaders: dict[str, type[_PartyLoader]] = {
            "company": _CompanyLoader,
            "contact": _ContactLoader,
        }
        if entity not in loaders:
            raise ValueError(f"PartyWriter writes companies or contacts, not {entity!r}")
        self.loader = loaders[entity](ws)

    def create(self, s: Session, rows: Sequence[Mapping[str, Any]]) -> list[int | str]:
        """Create the valid ``rows``; per row, its new id or why nothing was written."""
        active: list[bool] = []
        given: list[dict[str, Any]] = []
        for source in rows:
            values = dict(source)
            active.append(bool(values.pop("active", True)))
            given.append(values)
        checked = self.loader.validate(s, given, 1)
        for (row, _, error), flag in zip(checked, active, strict=True):
            if row is not None and error is None:
                row["active"] = flag
        self.loader.written = {}
        refused, ids = self.loader.store(s, checked, 1)
        return [
            ids[i] if i in ids else refused.get(i) or error or "not written"
            for i, (_, _, error) in enumerate(checked)
        ]

    def stored(self, s: Session, fields: Sequence[str]) -> dict[int, dict[str, Any]] | None:
        """``fields`` of the records the last :meth:`create` wrote, by id in ascending
        order, exactly as reading them back would give them, ``tags`` as the sorted
        names of the record's tags; but taken from the rows as inserted, with one
        query (the tags' names) instead of a read of every record.

        None when some value might read back other than it went in: a field that is
        not a text, integer or boolean column, or a value not of that exact type.
        """
        table = self.loader.table
        written = self.loader.written
        columns = [f for f in fields if f != "tags"]
        for name in columns:
            column = table.c.get(name)
            kind = _EXACT.get(type(column.type)) if column is not None else None
            found = {type(row[name]) for row, _ in written.values()}
            if kind is None or not found <= {kind, type(None)}:
                return None
        out = {
            record_id: {name: row[name] for name in columns}
            for record_id, (row, _) in sorted(written.items())
        }
        if "tags" in fields:
            wanted = {tag_id for _, tag_ids in written.values() for tag_id in tag_ids}
            names: dict[int, str] = {}
            if wanted:
                query = select(Tag.id, Tag.name).where(Tag.id.in_(wanted))
                names = {tag_id: name for tag_id, name in s.execute(query)}
            for record_id, values in out.items():
                values["tags"] = sorted(names[t] for t in written[record_id][1])
        return out


# Column types whose values read back exactly as they were written, on SQLite and
# PostgreSQL alike, with the one Python type such a value has.
_EXACT: dict[type, type] = {String: str, Text: str, Integer: int, Boolean: bool}


__all__ = [
    "ImportReport",
    "PartyWriter",
    "import_companies",
    "import_contacts",
    "import_opportunities",
]
