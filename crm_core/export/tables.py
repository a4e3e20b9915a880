"""Whole tables for export: contacts, opportunities and activities, streamed.

Each table is a list of :class:`~crm_core.reports.Column` and a generator of row
tuples read from one SQL query in batches (``yield_per``: a server-side cursor on
PostgreSQL, SQLite's own cursor), so a million contacts never sit in memory at once.
The columns are for people: names of the company, owner, stage and tags rather than
ids (the record's own ``id`` is kept), phones formatted the way their country writes
them, tags joined by ", ", then the workspace's custom fields of the entity.

A table may be restricted to a saved segment (``ws.segments``) of the same entity:
contacts take a contact segment, opportunities an opportunity segment; activities have
no segments. Archived contacts and deals are left out unless the segment includes
them. A sales user gets only what crm_core.access lets them see: their own deals, the
activities assigned to them that are not on someone else's deal; contacts are
everyone's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from crm_core import validation as v
from crm_core.access import activity_clauses, deal_clauses
from crm_core.errors import FieldError, ValidationError
from crm_core.models import (
    Activity,
    Campaign,
    Company,
    Contact,
    CustomFieldDefinition,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    Tag,
    User,
)
from crm_core.models.party import contact_tags
from crm_core.models.pipeline import opportunity_tags
from crm_core.reports.base import Column

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Rows fetched per round trip (and per tag lookup).
BATCH = 2_000

#: The segment entity each table takes (None: the table has no segments).
SEGMENT_ENTITY: dict[str, str | None] = {
    "contacts": "contact",
    "opportunities": "opportunity",
    "activities": None,
}

TABLES = tuple(SEGMENT_ENTITY)

_CUSTOM_KINDS = {
    "text": "text",
    "choice": "text",
    "bool": "bool",
    "number": "number",
    "date": "date",
}


@dataclass
class Table:
    """A table ready to stream: its columns, its rows (a generator: iterate it once)
    and how many rows it will give."""

    name: str
    title: str
    columns: list[Column]
    rows: Iterator[tuple[Any, ...]]
    total: int
    segment: str | None = None


def table(ws: Workspace, name: str, *, segment: int | str | None = None) -> Table:
    """The export of table ``name`` (one of :data:`TABLES`), optionally restricted to
    ``segment`` (a segment's name or id, of the table's entity)."""
    builders: dict[str, Callable[[Workspace, int | str | None], Table]] = {
        "contacts": contacts,
        "opportunities": opportunities,
        "activities": activities,
    }
    if name not in builders:
        raise ValidationError(
            [FieldError("export", "table", name, f"is not a table; use {', '.join(TABLES)}")]
        )
    return builders[name](ws, segment)


# -- contacts ---------------------------------------------------------------------------
CONTACT_COLUMNS = [
    Column("id", "int", "the contact's id in crmbook"),
    Column("name", "text"),
    Column("company", "text", "the company the contact works at"),
    Column("job_title", "text"),
    Column("email", "text"),
    Column("phone", "text", "formatted the international way (+92 300 1234567)"),
    Column("mobile", "text", "formatted the international way"),
    Column("street", "text"),
    Column("street2", "text"),
    Column("zip", "text"),
    Column("city", "text"),
    Column("state", "text"),
    Column("country", "text", "ISO 3166 code"),
    Column("language", "text"),
    Column("birthday", "date"),
    Column("owner", "text", "the staff member owning the contact"),
    Column("tags", "text", "tag names joined by ', '"),
    Column("active", "bool", "False for an archived contact"),
    Column("created_at", "datetime"),
    Column("updated_at", "datetime"),
]


def contacts(ws: Workspace, segment: int | str | None = None) -> Table:
    """Every active contact (or those of a contact ``segment``), by name.

    Columns: see :data:`CONTACT_COLUMNS`, then one per custom field of contacts.
    """
    c = Contact
    with ws.transaction() as s:
        where = (
            _segment_clauses(ws, s, "contacts", segment)
            if segment is not None
            else [c.active.is_(True)]
        )
        custom = _custom_fields(s, "contact")
        total = int(s.scalar(select(func.count(c.id)).where(*where)) or 0)
    query = (
        select(
            c.id,
            c.name,
            Company.name,
            c.job_title,
            c.email,
            c.phone,
            c.mobile,
            c.street,
            c.street2,
            c.zip,
            c.city,
            c.state,
            c.country,
            c.language,
            c.birthday,
            User.name,
            c.active,
            c.created_at,
            c.updated_at,
            c.custom,
        )
        .outerjoin(Company, Company.id == c.company_id)
        .outerjoin(User, User.id == c.owner_id)
        .where(*where)
        .order_by(c.sort_key, c.id)
    )
    tag_key = contact_tags.c.contact_id
    phone = _phone

    def shape(row: Any, tags: dict[int, str]) -> tuple[Any, ...]:
        (i, name, company, job, email, ph, mob, st, st2, zp, city, state, country) = row[:13]
        lang, birthday, owner, active, created, updated, values = row[13:]
        return (
            i,
            name,
            company,
            job,
            email,
            phone(ph),
            phone(mob),
            st,
            st2,
            zp,
            city,
            state,
            country,
            lang,
            birthday,
            owner,
            tags.get(i),
            bool(active),
            created,
            updated,
            *_custom_values(custom, values),
        )

    return Table(
        "contacts",
        "Contacts",
        [*CONTACT_COLUMNS, *_custom_columns(custom)],
        _stream(ws, query, contact_tags, tag_key, shape),
        total,
        None if segment is None else str(segment),
    )


# -- opportunities ------------------------------------------------------------------------
OPPORTUNITY_COLUMNS = [
    Column("id", "int", "the deal's id in crmbook"),
    Column("name", "text"),
    Column("type", "text", "lead or opportunity"),
    Column("status", "text", "open, won or lost"),
    Column("pipeline", "text"),
    Column("stage", "text"),
    Column("company", "text"),
    Column("contact", "text"),
    Column("owner", "text"),
    Column("expected_revenue", "money", "in the row's currency"),
    Column("currency", "text"),
    Column("probability", "percent", "the probability entered on the deal"),
    Column("expected_close", "date"),
    Column("priority", "int"),
    Column("lost_reason", "text"),
    Column("source", "text"),
    Column("campaign", "text"),
    Column("tags", "text", "tag names joined by ', '"),
    Column("active", "bool", "False for an archived deal"),
    Column("created_at", "datetime"),
    Column("closed_at", "datetime"),
]

_HUNDRED = Decimal(100)


def opportunities(ws: Workspace, segment: int | str | None = None) -> Table:
    """Every active deal (or those of an opportunity ``segment``), by id; a sales user
    gets only their own.

    Columns: see :data:`OPPORTUNITY_COLUMNS`, then one per custom field of
    opportunities.
    """
    o = Opportunity
    with ws.transaction() as s:
        if segment is not None:
            # Through the pipeline's search clauses, which hold the own-records rule.
            where = _segment_clauses(ws, s, "opportunities", segment)
        else:
            where = [o.active.is_(True), *deal_clauses(ws, o)]
        custom = _custom_fields(s, "opportunity")
        total = int(s.scalar(select(func.count(o.id)).where(*where)) or 0)
    owner = aliased(User)
    query = (
        select(
            o.id,
            o.name,
            o.type,
            o.status,
            Pipeline.name,
            Stage.name,
            Company.name,
            Contact.name,
            owner.name,
            o.expected_revenue,
            o.currency,
            o.probability,
            o.expected_close,
            o.priority,
            LostReason.name,
            o.source,
            Campaign.name,
            o.active,
            o.created_at,
            o.closed_at,
            o.custom,
        )
        .join(Stage, Stage.id == o.stage_id)
        .join(Pipeline, Pipeline.id == o.pipeline_id)
        .outerjoin(Company, Company.id == o.company_id)
        .outerjoin(Contact, Contact.id == o.contact_id)
        .outerjoin(owner, owner.id == o.owner_id)
        .outerjoin(LostReason, LostReason.id == o.lost_reason_id)
        .outerjoin(Campaign, Campaign.id == o.campaign_id)
        .where(*where)
        .order_by(o.sort_key, o.id)  # alphabetical, as the deals list
    )

    def shape(row: Any, tags: dict[int, str]) -> tuple[Any, ...]:
        i = row[0]
        probability = row[11]
        return (
            *row[:11],
            None if probability is None else probability / _HUNDRED,
            *row[12:17],
            tags.get(i),
            bool(row[17]),
            row[18],
            row[19],
            *_custom_values(custom, row[20]),
        )

    return Table(
        "opportunities",
        "Opportunities",
        [*OPPORTUNITY_COLUMNS, *_custom_columns(custom)],
        _stream(ws, query, opportunity_tags, opportunity_tags.c.opportunity_id, shape),
        total,
        None if segment is None else str(segment),
    )


# -- activities ---------------------------------------------------------------------------
ACTIVITY_COLUMNS = [
    Column("id", "int", "the activity's id in crmbook"),
    Column("kind", "text", "call, meeting, email or todo"),
    Column("subject", "text"),
    Column("status", "text", "done, overdue (open and due before today) or open"),
    Column("due_date", "date"),
    Column("done_at", "datetime"),
    Column("assignee", "text"),
    Column("contact", "text"),
    Column("company", "text"),
    Column("opportunity", "text"),
    Column("note", "text"),
    Column("created_at", "datetime"),
]


def activities(ws: Workspace, segment: int | str | None = None) -> Table:
    """Every activity, done or not, by due date; a sales user gets only those they may
    see (crm_core.access). Activities have no segments: giving one is an error.

    Columns: see :data:`ACTIVITY_COLUMNS`; ``status`` is judged against today in the
    workspace time zone.
    """
    if segment is not None:
        with ws.transaction() as s:
            _segment_clauses(ws, s, "activities", segment)
    a = Activity
    where: list[Any] = activity_clauses(ws, a)
    with ws.transaction() as s:
        total = int(s.scalar(select(func.count(a.id)).where(*where)) or 0)
    query = (
        select(
            a.id,
            a.kind,
            a.subject,
            a.due_date,
            a.done_at,
            User.name,
            Contact.name,
            Company.name,
            Opportunity.name,
            a.note,
            a.created_at,
        )
        .outerjoin(User, User.id == a.assignee_id)
        .outerjoin(Contact, Contact.id == a.contact_id)
        .outerjoin(Company, Company.id == a.company_id)
        .outerjoin(Opportunity, Opportunity.id == a.opportunity_id)
        .where(*where)
        .order_by(a.due_date, a.id)
    )
    today = ws.today()

    def shape(row: Any, _tags: dict[int, str]) -> tuple[Any, ...]:
        i, kind, subject, due, done_at, assignee, contact, company, opp, note, created = row
        status = "done" if done_at is not None else "overdue" if due < today else "open"
        return (
            i,
            kind,
            subject,
            status,
            due,
            done_at,
            assignee,
            contact,
            company,
            opp,
            note,
            created,
        )

    return Table(
        "activities",
        "Activities",
        list(ACTIVITY_COLUMNS),
        _stream(ws, query, None, None, shape),
        total,
    )


# -- shared -------------------------------------------------------------------------------
def _stream(
    ws: Workspace,
    query: Select[Any] | Any,
    tag_table: Any,
    tag_key: Any,
    shape: Callable[[Any, dict[int, str]], tuple[Any, ...]],
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``query`` in batches, each batch's tags looked up in one query."""
    with ws.transaction() as s:
        result = s.execute(query.execution_options(yield_per=BATCH))
        for part in result.partitions():
            tags = (
                _tags(s, tag_table, tag_key, [row[0] for row in part])
                if tag_table is not None
                else {}
            )
            for row in part:
                yield shape(row, tags)


def _tags(s: Session, tag_table: Any, key: Any, ids: list[int]) -> dict[int, str]:
    """Record id -> its tag names (alphabetical, case-insensitively), joined by ", "."""
    found: dict[int, list[str]] = {}
    rows = s.execute(
        select(key, Tag.name)
        .join(Tag, Tag.id == tag_table.c.tag_id)
        .where(key.in_(ids))
        .order_by(key, Tag.name_key)
    )
    for record_id, name in rows:
        found.setdefault(record_id, []).append(name)
    return {i: ", ".join(names) for i, names in found.items()}


def _phone(e164: str | None) -> str | None:
    if not e164:
        return None
    try:
        return v.format_phone(e164)
    except Exception:  # a number stored before validation was strict: show it as is
        return e164


def _segment_clauses(ws: Workspace, s: Session, table_name: str, ref: int | str) -> list[Any]:
    """The WHERE clauses of segment ``ref`` for table ``table_name``, through the same
    filter logic as the entity's search (so the export has what ``evaluate`` shows)."""
    seg = ws.segments.get(ref)
    wanted = SEGMENT_ENTITY[table_name]
    if seg["entity"] != wanted:
        takes = (
            f"takes {wanted} segments"
            if wanted
            else "has no segments (segments are of contacts, companies or opportunities)"
        )
        raise ValidationError(
            [
                FieldError(
                    f"export of {table_name}",
                    "segment",
                    ref,
                    f"is a segment of {seg['entity']} records; the {table_name} table {takes}",
                )
            ]
        )
    filters = dict(seg["filters"] or {})
    service = ws.contacts if wanted == "contact" else ws.pipeline
    ids = service.matching(s, **filters)
    return [ids.whereclause] if ids.whereclause is not None else []


def _custom_fields(s: Session, entity: str) -> list[tuple[str, str]]:
    """(name, type) of the entity's custom fields, by name."""
    return [
        (d.name, d.type)
        for d in s.scalars(
            select(CustomFieldDefinition)
            .where(CustomFieldDefinition.entity == entity)
            .order_by(CustomFieldDefinition.name)
        )
    ]


def _custom_columns(custom: Sequence[tuple[str, str]]) -> list[Column]:
    return [
        Column(name, _CUSTOM_KINDS.get(kind, "text"), f"custom field ({kind})")
        for name, kind in custom
    ]


def _custom_values(custom: Sequence[tuple[str, str]], values: dict[str, Any] | None) -> list[Any]:
    if not custom:
        return []
    values = values or {}
    out: list[Any] = []
    for name, kind in custom:
        raw = values.get(name)
        if raw is None:
            out.append(None)
        elif kind == "number":
            try:
                out.append(Decimal(str(raw)))
            except InvalidOperation:  # kept from an earlier definition: as written
                out.append(str(raw))
        elif kind == "date":
            try:
                out.append(dt.date.fromisoformat(str(raw)))
            except ValueError:
                out.append(str(raw))
        elif kind == "bool":
            out.append(bool(raw))
        else:
            out.append(str(raw))
    return out
