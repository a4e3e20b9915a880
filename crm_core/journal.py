"""The journal: every change to every record, written in the same transaction.

A session listener turns the ORM's own change tracking into journal rows after each
flush, so no service can forget to journal and a rolled-back operation leaves no
journal entry either. It also stamps ``created_at``/``updated_at`` from the
workspace clock and keeps the word index of names (:class:`SearchTerm`) in step.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, event, insert, inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from crm_core import collation, text
from crm_core.models import Company, Contact, JournalEntry, SearchTerm, Versioned

#: Columns that are derived or bookkeeping (a name's search and sort keys, rewritten
#: with each rename): journaling them would only add noise. An older journal may hold
#: rows of ``sort_key``; whoever shows a record's changes leaves these out.
NOT_JOURNALED = frozenset(
    {"version", "created_at", "updated_at", "name_key", "email_key", "city_key", "sort_key"}
)
# Columns whose values must never be copied anywhere.
_SECRET = {"password_hash"}
_INDEXED: dict[type, str] = {Company: "company", Contact: "contact"}


def encode(value: Any) -> str | None:
    """JSON-encode a field value for the journal (dates ISO, decimals as strings)."""
    if value is None:
        return None
    return _ENCODER.encode(value)


_JSON_SCALARS = frozenset((str, int, float, bool))


def plain(value: Any) -> Any:
    """A value in JSON-able form: dates and times ISO, decimals as exact strings."""
    if value is None or type(value) in _JSON_SCALARS:
        return value
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _default(value: Any) -> Any:
    if isinstance(value, Decimal | dt.datetime | dt.date):
        return plain(value)
    if hasattr(value, "name") and hasattr(value, "id"):
        return value.name  # a related record, e.g. a Tag
    raise TypeError(f"cannot journal {value!r}")


# What json.dumps(value, default=_default, ensure_ascii=False, sort_keys=True) would
# build on every call (an encoder keeps no state between calls).
_ENCODER = json.JSONEncoder(default=_default, ensure_ascii=False, sort_keys=True)


def entity_name(obj: Any) -> str:
    """The journal's name for the entity of ``obj`` (its table name)."""
    return str(obj.__table__.name)


def _value(v: Any) -> Any:
    if isinstance(v, list):
        return sorted(x.name for x in v)
    return v


def _changes(obj: Any) -> Iterable[tuple[str, Any, Any]]:
    state = inspect(obj)
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in NOT_JOURNALED:
            continue
        hist = state.attrs[key].history
        if not hist.has_changes():
            continue
        old = hist.deleted[0] if hist.deleted else None
        new = hist.added[0] if hist.added else None
        if key == "custom":
            before, after = old or {}, new or {}
            for name in sorted(set(before) | set(after)):
                if before.get(name) != after.get(name):
                    yield f"custom.{name}", before.get(name), after.get(name)
            continue
        if old == new:
            continue
        if key in _SECRET:
            old, new = ("***" if old else None), "***"
        yield key, old, new
    for rel in state.mapper.relationships:
        if rel.secondary is None:
            continue
        hist = state.attrs[rel.key].history
        if not (hist.added or hist.deleted):
            continue
        current = set(_value(list(getattr(obj, rel.key))))
        added = {x.name for x in hist.added}
        removed = {x.name for x in hist.deleted}
        old_set = (current - added) | removed
        if old_set != current:
            yield rel.key, sorted(old_set), sorted(current)


def _snapshot(obj: Any) -> dict[str, Any]:
    state = inspect(obj)
    out = {}
    for attr in state.mapper.column_attrs:
        if attr.key in NOT_JOURNALED or attr.key in _SECRET:
            continue
        out[attr.key] = getattr(obj, attr.key)
    return out


def _journaled(objects: Iterable[Any]) -> Iterator[Any]:
    """The journaled records among the session's objects (history rows are not)."""
    return (obj for obj in objects if isinstance(obj, Versioned))


def _before_flush(session: Session, _ctx: Any, _instances: Any) -> None:
    now = session.info["clock"]()
    for obj in session.new:
        if isinstance(obj, Versioned):
            obj.created_at = obj.created_at or now
            obj.updated_at = now
    for obj in session.dirty:
        if isinstance(obj, Versioned) and session.is_modified(obj):
            # Touching updated_at also forces an UPDATE (and a version bump) when only
            # a many-to-many collection such as tags changed, even when the clock
            # reads the same as at the last change.
            obj.updated_at = now
            flag_modified(obj, "updated_at")


def _after_flush(session: Session, _ctx: Any) -> None:
    now = session.info["clock"]()
    user_id = session.info.get("user_id")
    origin = session.info.get("origin")
    rows: list[dict[str, Any]] = []
    stale: list[tuple[str, int]] = []  # (entity, id) whose old terms must go
    terms: list[dict[str, Any]] = []

    def add(obj: Any, action: str, field: str | None, old: Any, new: Any) -> None:
        rows.append(
            {
                "at": now,
                "user_id": user_id,
                "entity": entity_name(obj),
                "record_id": obj.id,
                "action": action,
                "field": field,
                "old": encode(old),
                "new": encode(new),
                "origin": origin,
            }
        )

    for obj in _journaled(session.new):
        add(obj, "create", None, None, _snapshot(obj))
        if type(obj) in _INDEXED:
            terms += _search_rows_of(obj)
    for obj in _journaled(session.dirty):
        reindex = False
        for field, old, new in _changes(obj):
            action = "update"
            if field == "active":
                action = "restore" if new else "archive"
            add(obj, action, field, old, new)
            reindex = reindex or field in ("name", "active")
        if reindex and type(obj) in _INDEXED:
            stale.append((_INDEXED[type(obj)], obj.id))
            terms += _search_rows_of(obj)
    for obj in _journaled(session.deleted):
        add(obj, "delete", None, _snapshot(obj), None)
        if type(obj) in _INDEXED:
            stale.append((_INDEXED[type(obj)], obj.id))

    conn = session.connection()
    if rows:
        conn.execute(insert(JournalEntry), rows)
    # New records have no terms yet; only renamed or deleted ones need a delete. The
    # inserts go out as one batched statement however many records were flushed.
    for entity, record_id in stale:
        conn.execute(
            delete(SearchTerm).where(SearchTerm.entity == entity, SearchTerm.record_id == record_id)
        )
    if terms:
        conn.execute(insert(SearchTerm), terms)


def created(session: Session, obj: Any) -> None:
    """Journal the creation of ``obj``, a row inserted without the ORM unit of work
    (see crm_core.services.unique), exactly as the flush listener journals an insert."""
    session.connection().execute(
        insert(JournalEntry),
        [
            {
                "at": session.info["clock"](),
                "user_id": session.info.get("user_id"),
                "entity": entity_name(obj),
                "record_id": obj.id,
                "action": "create",
                "field": None,
                "old": None,
                "new": encode(_snapshot(obj)),
                "origin": session.info.get("origin"),
            }
        ],
    )


def record(
    session: Session,
    entity: str,
    record_id: int,
    action: str,
    field: str | None,
    old: Any,
    new: Any,
) -> None:
    """Journal one change the flush listener does not see, with the session's clock,
    user and origin: a row of a table without a version column changed with SQL (a
    merge moving a campaign membership), or a marker such as a merge's
    ``merged_into``. ``old`` and ``new`` are encoded like every journaled value."""
    records(session, entity, [(record_id, action, field, old, new)])


#: One change for :func:`records`: (record id, action, field, old, new).
Change = tuple[int, str, str | None, Any, Any]


def records(session: Session, entity: str, changes: Iterable[Change]) -> None:
    """Journal changes of ``entity`` the flush listener does not see, one row each (as
    :func:`record` does), sent as one statement however many there are: the members a
    campaign gains at once, for one."""
    at, user_id, origin = (
        session.info["clock"](),
        session.info.get("user_id"),
        session.info.get("origin"),
    )
    rows = [
        {
            "at": at,
            "user_id": user_id,
            "entity": entity,
            "record_id": record_id,
            "action": action,
            "field": field,
            "old": encode(old),
            "new": encode(new),
            "origin": origin,
        }
        for record_id, action, field, old, new in changes
    ]
    if rows:
        session.connection().execute(insert(JournalEntry), rows)


def search_rows(
    entity: str, record_id: int, name: str | None, active: bool = True, key: str | None = None
) -> list[dict[str, Any]]:
    """The :class:`SearchTerm` rows indexing ``name`` for one record; ``key`` is the
    name's sort key when the record already has it (computed here otherwise)."""
    if key is None:  # pages of a name search in alphabetical order
        key = collation.sort_key(name)
    words = text.words(name)
    spelled = f" {' '.join(words)} "
    return [
        {
            "entity": entity,
            "term": w[:120],
            "record_id": record_id,
            "sort_key": key,
            "active": active,
            "words": spelled,
        }
        for w in words
    ]


def _search_rows_of(obj: Any) -> list[dict[str, Any]]:
    """An indexed record's search rows, with the sort key the ORM gave it on flush."""
    key = getattr(obj, "sort_key", None)
    return search_rows(_INDEXED[type(obj)], obj.id, obj.name, bool(obj.active), key)


def install(session_factory: Any) -> None:
    """Attach the journal to a sessionmaker.

    Each session must carry ``info["clock"]`` (a callable giving aware UTC now) and
    may carry ``info["user_id"]``, the staff member making the change, and
    ``info["origin"]``, what made it when no one typed it (a sync).
    """
    event.listen(session_factory, "before_flush", _before_flush)
    event.listen(session_factory, "after_flush", _after_flush)
