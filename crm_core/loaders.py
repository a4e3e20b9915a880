"""Validate rows like the services and write them like a database loader.

The machinery behind :mod:`crm_core.bulk` (imports from files) and
:mod:`crm_core.party_writer` (the ERP sync's batch creates): a loader per entity checks
each row with the service's own cleaners (memoised per batch, references checked with
one query per batch) and writes the valid rows with SQLAlchemy Core ``executemany``,
together with what the ORM journal listener would have written: the ``SearchTerm``
words of names, one ``create`` journal entry per record with the record's snapshot, and
for deals the first ``StageChange`` row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Table, insert, inspect, select
from sqlalchemy.orm import Session

from crm_core import collation, db, journal, text
from crm_core import validation as v
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
)
from crm_core.models.party import company_tags, contact_tags
from crm_core.models.pipeline import opportunity_tags
from crm_core.periods import start_of
from crm_core.services.base import (
    Cleaner,
    Keepable,
    clean_fields,
    custom_values,
    tags_for,
)
from crm_core.validation import Reject

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: One validated row: (row to insert or None, its tag names, why it was refused or None).
Checked = tuple[dict[str, Any] | None, Any, str | None]

# Derived search keys and the field each one folds.
_KEYS = {"name_key": "name", "email_key": "email", "city_key": "city"}
_MISSING = object()


def blank(value: Any) -> bool:
    # CSV cells are "" when empty; DataFrames hold NaN/NA/NaT. All mean "not given",
    # which lets the column default apply exactly as when a service call omits it.
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, float):
        return value != value
    return value is pd.NA or value is pd.NaT


def plain_value(value: Any) -> Any:
    # numpy scalars from a DataFrame are not ``int``/``str`` to the validators.
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- cleaning helpers -------------------------------------------------------------------


def table_of(model: Any) -> Table:
    return cast(Table, model.__table__)


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


def _memo_regional(clean: Callable[[str | None], Cleaner]) -> Callable[[Any, Any], Any]:
    """Remember a phone's reading per (value, the record's country) for one batch:
    ``clean(country)`` is the cleaner of a phone of a record in that country."""
    cleaners: dict[Any, Cleaner] = {}

    def cached(value: Any, country: Any) -> Any:
        region = country if isinstance(country, str) else None
        if region not in cleaners:
            cleaners[region] = _memo(clean(region))
        return cleaners[region](value)

    return cached


def _known_ids(s: Session, table: Table, values: Iterable[Any]) -> set[int]:
    wanted = sorted({x for x in values if v.is_id(x)})
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


class BatchError(Exception):
    """The database did something this loader cannot vouch for; the batch is undone."""


def database_reason(exc: BaseException) -> str:
    """Why the database refused a batch, in one line: the driver's own message (not
    SQLAlchemy's wrapping with the statement and its parameters)."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


# -- loaders ----------------------------------------------------------------------------


class Loader:
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
    # Phone fields: cleaned after the others, in the row's own country first.
    phones: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ws: Workspace, keep_invalid: bool = False):
        self.ws = ws
        #: Keep refused text as written, marked in ``unvalidated`` (see clean_fields).
        self.keep_invalid = keep_invalid
        # What a worker process needs to build the same loader: see _worker_start.
        self.options: dict[str, Any] = {"keep_invalid": keep_invalid}
        # Columns holding the id of another record.
        self.id_fields = set(self.refs)
        self.table = table_of(self.model)
        self.journal_entity = self.table.name
        self.search_entity = journal._INDEXED.get(self.model)
        # What the journal listener would snapshot: every column it does not skip.
        self.snapshot_keys = [
            a.key
            for a in inspect(self.model).column_attrs
            if a.key not in journal.NOT_JOURNALED and a.key not in journal._SECRET
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
        self.sorted = "sort_key" in self.table.c
        self.tag_ids: dict[str, int] = {}
        # The last batch written: new id -> (row as inserted, its tag ids).
        self.written: dict[int, tuple[dict[str, Any], list[int]]] = {}

    # -- per batch --------------------------------------------------------------------
    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        """The service's cleaners for this batch's session (built once per batch)."""
        raise NotImplementedError

    def blocked_fields(self) -> dict[str, str]:
        """The fields refused on a row, with what to do instead (:attr:`blocked`)."""
        return self.blocked

    def directive_fields(self) -> tuple[str, ...]:
        """The given values that steer check() (:attr:`directives`)."""
        return self.directives

    def keepable(self) -> Keepable | None:
        """The fields whose refused text is kept as written (None: keep nothing)."""
        return self.service.keepable() if self.keep_invalid else None

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
        ctx = {"cleaners": cleaners, "has_custom": has_custom, "keep": self.keepable()}
        if self.phones:
            ctx["phone"] = _memo_regional(self.service.phone_cleaner)
        return ctx

    def normalize(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The given (non-blank) values of one row, aliases resolved, ids as ints."""
        values: dict[str, Any] = {}
        for given, value in raw.items():
            if blank(value):
                continue
            value = plain_value(value)
            key = self.aliases.get(given, given)
            if (
                (key in self.id_fields or given == "owner_id")
                and isinstance(value, str)
                and value.strip().isdecimal()
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
        dotted = {
            k[7:]: values.pop(k)
            for k in [k for k in values if isinstance(k, str) and k.startswith("custom.")]
        }
        if dotted:
            custom = {**custom, **dotted} if isinstance(custom, Mapping) else dotted
        for blocked, hint in self.blocked_fields().items():
            if blocked in values:
                errors.append(FieldError(record, blocked, values.pop(blocked), hint))
        if "name" not in values:
            errors.append(FieldError(record, "name", None, "is required"))
        directives = {k: values.pop(k) for k in self.directive_fields() if k in values}
        phones = {k: values.pop(k) for k in self.phones if k in values}
        row = self.start(s, ctx, values)
        cleaned, kept = clean_fields(values, ctx["cleaners"], record, errors, ctx["keep"])
        row.update(cleaned)
        if phones:
            # Read in the row's own country first (the memo keys on value and country).
            read, country = ctx["phone"], row.get("country")
            cleaners = dict.fromkeys(phones, lambda value: read(value, country))
            cleaned, kept_phones = clean_fields(phones, cleaners, record, errors, ctx["keep"])
            row.update(cleaned)
            kept.update(kept_phones)
        if kept:
            row["unvalidated"] = kept
        self.check(s, ctx, directives, row, record, errors)
        if custom is not None or ctx["has_custom"]:
            # The service's own merge: definitions, types, required fields.
            row["custom"] = custom_values(s, self.entity, None, custom, record, errors, True)
        if errors:
            return None, None, errors
        for key, length in self.key_lengths.items():
            row[key] = text.fold(row[_KEYS[key]])[:length] or None
        if self.sorted:  # what the ORM sets on its inserts (models.base.SortedByName)
            row["sort_key"] = collation.sort_key(row.get("name"))
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
        parts = text.tag_names(names) if isinstance(names, str) else names
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
                raise BatchError(f"{table.name}: ids of the new rows are not consecutive")
            return ids
        stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(conn.execute(stmt, rows).scalars())

    def store(
        self, s: Session, checked: list[Checked], first: int | Sequence[int]
    ) -> tuple[dict[int, str], dict[int, int]]:
        """Write the valid rows of a validated batch; returns the rows refused while
        writing (tags) and the new id of each row written, both by batch index.

        ``first`` is the number of the batch's first row, or each row's own number
        (a file's line numbers, which blank lines interrupt).

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
                    number = first + i if isinstance(first, int) else first[i]
                    record = self.record(number, row.get("name"))
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
                    journal.search_rows(
                        self.search_entity,
                        record_id,
                        row["name"],
                        row["active"],
                        row.get("sort_key"),
                    )
                )
            links.extend({self.tag_column: record_id, "tag_id": t} for t in tag_ids)
        db.insert_many(conn, table_of(JournalEntry), entries)
        db.insert_many(conn, table_of(SearchTerm), terms)
        db.insert_many(conn, self.tag_table, links)
        self.after_write(conn, rows, now)
        self.written = dict(zip(ids, zip(rows, tags, strict=True), strict=True))
        return ids

    def after_write(self, conn: Connection, rows: list[dict[str, Any]], now: Any) -> None:
        """Rows that hang off the new records (stage history)."""


class PartyLoader(Loader):
    blocked: ClassVar[dict[str, str]] = {
        "active": "an import creates active records; archive() them afterwards"
    }

    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        return dict(self.service._cleaners(s))


class ContactLoader(PartyLoader):
    model = Contact
    entity = "contact"
    tag_table = contact_tags
    tag_column = "contact_id"
    aliases: ClassVar[dict[str, str]] = {"owner": "owner_id", "company": "company_id"}
    refs: ClassVar[dict[str, Table]] = {"company_id": table_of(Company)}
    phones: ClassVar[tuple[str, ...]] = ("phone", "mobile")

    def __init__(self, ws: Workspace, keep_invalid: bool = False):
        super().__init__(ws, keep_invalid)
        self.service = ws.contacts


class CompanyLoader(PartyLoader):
    model = Company
    entity = "company"
    tag_table = company_tags
    tag_column = "company_id"
    aliases: ClassVar[dict[str, str]] = {"owner": "owner_id"}
    phones: ClassVar[tuple[str, ...]] = ("phone",)

    def __init__(self, ws: Workspace, keep_invalid: bool = False):
        super().__init__(ws, keep_invalid)
        self.service = ws.companies


class OpportunityLoader(Loader):
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
        "company_id": table_of(Company),
        "contact_id": table_of(Contact),
        "campaign_id": table_of(Campaign),
    }

    def __init__(
        self, ws: Workspace, pipeline_id: int, keep_invalid: bool = False, closes: bool = False
    ):
        super().__init__(ws, keep_invalid)
        self.pipeline_id = pipeline_id
        self.service = ws.pipeline
        self.options = {"pipeline_id": pipeline_id, "keep_invalid": keep_invalid}
        #: Whether a row may bring a closed deal (a won or lost stage, with its close
        #: date and, lost, its reason): the file import's (crm_core.imports.records),
        #: which closes such deals through the service once written. Without it a deal
        #: starts open, as ``ws.pipeline.create`` has it.
        self.closes = closes
        if closes:
            self.options["closes"] = True

    def blocked_fields(self) -> dict[str, str]:
        if not self.closes:
            return self.blocked
        return {k: hint for k, hint in self.blocked.items() if k not in CLOSING_FIELDS}

    def directive_fields(self) -> tuple[str, ...]:
        return (*self.directives, *CLOSING_FIELDS) if self.closes else self.directives

    def cleaners(self, s: Session) -> dict[str, Cleaner]:
        return dict(self.ws.pipeline._cleaners(s))

    def prepare(self, s: Session, batch: Sequence[dict[str, Any]]) -> dict[str, Any]:
        ctx = super().prepare(s, batch)
        pipeline = s.get(Pipeline, self.pipeline_id)
        assert pipeline is not None
        service = self.ws.pipeline

        def stage(ref: Any) -> tuple[int, Decimal, str | None]:
            found = service._stage(s, pipeline, ref)
            return found.id, found.probability, _closed_as(found)

        first = pipeline.stages[0]
        ctx.update(
            stage=_memo(stage),
            first=(first.id, first.probability, _closed_as(first)),
            currency=self.ws.setting("currency"),
            now=self.ws.clock(),
            timezone=self.ws.timezone,
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
        if self.closes:
            self._closing(ctx, directives, closed, row, record, errors)
        elif closed:
            errors.append(
                FieldError(
                    record, "stage", ref, "a deal cannot start won or lost; create then close it"
                )
            )
        row["stage_id"] = stage_id
        if row.get("probability") is None:
            row["probability"] = probability
        amount = row.get("expected_revenue")
        if amount is not None and row.get("currency"):
            # As PipelineService.write_fields: no more decimals than the currency has.
            try:
                row["expected_revenue"] = v.currency_amount(amount, row["currency"])
            except Reject as exc:
                errors.append(FieldError(record, "expected_revenue", amount, str(exc)))

    def _closing(
        self,
        ctx: dict[str, Any],
        directives: dict[str, Any],
        closed: str | None,
        row: dict[str, Any],
        record: str,
        errors: list[FieldError],
    ) -> None:
        """A row's close: with a won or lost stage, its close date (``closed_at``,
        required: a date, the start of that day in the workspace's time zone, or an
        ISO date and time with its offset, as an export writes it; not in the future)
        and, lost, its reason (``lost_reason``, required); set as ``row[CLOSING]`` =
        (status, closed_at, reason) for the importer to close the deal with
        (``ws.pipeline._close_in_session``). An open stage takes neither."""
        when, reason = directives.get("closed_at"), directives.get("lost_reason")
        if closed is None:
            for name, given in (("closed_at", when), ("lost_reason", reason)):
                if given is not None:
                    why = "only a won or lost deal has one: give its stage (won or lost) with it"
                    errors.append(FieldError(record, name, given, why))
            return
        instant = None
        if when is None:
            why = f"is required for a {closed} deal: the day it was {closed} (column Closed on)"
            errors.append(FieldError(record, "closed_at", None, why))
        else:
            try:
                instant = close_instant(when, ctx["timezone"])
            except Reject as exc:
                errors.append(FieldError(record, "closed_at", when, str(exc)))
            if instant is not None and instant > ctx["now"]:
                why = "is in the future: a deal is closed on a day that has come"
                errors.append(FieldError(record, "closed_at", when, why))
        text_reason = None
        if closed == "won" and reason is not None:
            errors.append(FieldError(record, "lost_reason", reason, "a won deal has none"))
        elif closed == "lost":
            try:
                text_reason = v.required_text(reason, 200)
            except Reject as exc:
                why = f"{exc}: a lost deal needs its reason (column Lost reason)"
                errors.append(FieldError(record, "lost_reason", reason, why))
        row[CLOSING] = (closed, instant, text_reason)

    def after_write(self, conn: Connection, rows: list[dict[str, Any]], now: Any) -> None:
        conn.execute(
            insert(table_of(StageChange)),
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


#: The fields a file import of deals closes a deal with (see OpportunityLoader.closes).
CLOSING_FIELDS = ("closed_at", "lost_reason")
#: The key of a checked deal row holding its close: (status, closed_at, lost reason);
#: taken out of the row before it is written.
CLOSING = "_closing"


def _closed_as(stage: Any) -> str | None:
    """ "won" or "lost" for a stage that closes a deal; None for an open stage."""
    return "won" if stage.is_won else "lost" if stage.is_lost else None


def close_instant(value: Any, timezone: dt.tzinfo) -> dt.datetime:
    """When a deal a file brings was closed: a date (a ``date`` or YYYY-MM-DD) is the
    start of that day in ``timezone``; a date and time needs its offset (ISO, as an
    export writes it). Refused (:class:`Reject`) otherwise."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return start_of(value, timezone)
    if isinstance(value, str) and len(value.strip()) <= 10:
        day = v.date_value(value)
        if day is None:
            raise Reject("is required")
        return start_of(day, timezone)
    if isinstance(value, str):
        try:
            naive = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            naive = None
        if naive is not None and naive.tzinfo is None and naive.time() == dt.time():
            # A spreadsheet's date cell, read as midnight: the day.
            return close_instant(naive.date(), timezone)
    instant = v.aware_datetime(value)
    if instant is None:
        raise Reject("is required")
    return instant
