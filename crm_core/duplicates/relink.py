"""What points at a company or a contact, and how a merge moves it and an undo moves it
back.

The references are read from the tables' metadata, not listed by hand, so a table
added later is moved too (``tests/crm_core/test_merge.py`` lists every reference it
expects, so a new one also gets a thought). Each reference is moved one of three ways:

- ``tags``: the merged entity's tag links (an association table), set through the
  record's ``tags`` so the journal records them as a change of the record;
- ``records``: rows of a versioned (journaled) model, changed through the ORM, so the
  journal listener records each change and the version column guards it;
- ``rows``: any other table (campaign members, the ERP's read-only copies): changed
  with SQL, each change journaled here as whole-row snapshots (``old``, ``new``; the
  row's key is in them) so that an undo can find and restore the row.

ERP links (``external_links``) name their record by entity and id, not by a foreign
key; :func:`move_links` moves them, and :func:`move_sync_rows` the sync's open
questions about the dropped record (its open conflicts where its link moved, the
review queue's candidates).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    ColumnElement,
    Table,
    TypeDecorator,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from crm_core import journal
from crm_core.models import Base, ExternalLink, SyncConflict, SyncMatch, Versioned


@dataclass(frozen=True)
class Reference:
    """A column pointing at the merged table, and how a merge moves it."""

    table: Table
    column: Column[Any]
    how: str
    model: Any = None

    @property
    def name(self) -> str:
        """``table.column``, as tests and errors name it."""
        return f"{self.table.name}.{self.column.name}"


def mapped_models() -> dict[str, Any]:
    """Mapped class per table name."""
    return {str(getattr(m.local_table, "name", "")): m.class_ for m in Base.registry.mappers}


def references(model: Any) -> list[Reference]:
    """Every foreign key to ``model``'s table, in the metadata's table order."""
    tag_table = model.tags.property.secondary
    models = mapped_models()
    found = []
    for table in Base.metadata.sorted_tables:
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name):
            if fk.column.table is not model.__table__:
                continue
            cls = models.get(table.name)
            if table is tag_table:
                how = "tags"
            elif cls is not None and issubclass(cls, Versioned):
                how = "records"
            else:
                how = "rows"
            found.append(Reference(table, fk.parent, how, cls))
    return found


# -- rows of tables without a version column -------------------------------------------
def key_clause(table: Table, row: dict[str, Any]) -> ColumnElement[bool]:
    """WHERE the primary key of ``table`` is ``row``'s."""
    return and_(*(c == row[c.name] for c in table.primary_key.columns))


def record_id(table: Table, row: dict[str, Any]) -> int:
    """The journal's ``record_id`` of a row: its ``id``, or the first whole-number part
    of its primary key (the rest of the key is in the journaled snapshot)."""
    if "id" in table.c:
        return int(row["id"])
    return next(int(row[c.name]) for c in table.primary_key.columns if isinstance(row[c.name], int))


def read_row(s: Session, table: Table, row: dict[str, Any]) -> dict[str, Any] | None:
    """The row of ``table`` with ``row``'s key as it is now, or None."""
    found = s.execute(select(table).where(key_clause(table, row))).mappings().first()
    return None if found is None else dict(found)


def decode(column: Column[Any], value: Any) -> Any:
    """A journaled (JSON) value back in the column's Python type."""
    # A decorated type (UTCDateTime) names no Python type of its own: its base does.
    base = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    if value is None or isinstance(base, JSON):
        return value
    try:
        kind = base.python_type
    except NotImplementedError:
        return value
    if kind is Decimal:
        return Decimal(str(value))
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(value)
    if kind is dt.date:
        return dt.date.fromisoformat(value)
    return value


def decode_row(table: Table, encoded: str | None) -> dict[str, Any] | None:
    """A journaled row snapshot back in its columns' types."""
    if encoded is None:
        return None
    return {k: decode(table.c[k], v) for k, v in json.loads(encoded).items()}


def change_row(s: Session, table: Table, old: dict[str, Any], changes: dict[str, Any]) -> None:
    """Change columns of one row and journal it (``update``, with both snapshots)."""
    new = {**old, **changes}
    s.execute(update(table).where(key_clause(table, old)).values(changes))
    field = ",".join(sorted(changes))[:80]
    journal.record(s, table.name, record_id(table, old), "update", field, old, new)


def drop_row(s: Session, table: Table, old: dict[str, Any]) -> None:
    """Delete one row and journal it (``delete``, with its snapshot)."""
    s.execute(delete(table).where(key_clause(table, old)))
    journal.record(s, table.name, record_id(table, old), "delete", None, old, None)


def move_rows(s: Session, ref: Reference, drop: int, keep: int) -> int:
    """Point ``ref``'s rows at ``keep`` instead of ``drop``: how many moved.

    When the column is part of the primary key and ``keep`` already has a row with
    that key (a contact who was in a campaign twice, once as each record), the dropped
    record's row goes and the kept row takes whatever it lacked from it (a response
    only the dropped record's row had)."""
    table, column = ref.table, ref.column
    rows = s.execute(select(table).where(column == drop)).mappings().all()
    for found in rows:
        old = dict(found)
        if column.primary_key:
            twin = read_row(s, table, {**old, column.name: keep})
            if twin is not None:
                drop_row(s, table, old)
                lacking = {k: v for k, v in old.items() if twin[k] is None and v is not None}
                if lacking:
                    change_row(s, table, twin, lacking)
                continue
        change_row(s, table, old, {column.name: keep})
    return len(rows)


def move_links(s: Session, singular: str, drop: int, keep: int) -> list[str]:
    """Give ``keep`` the dropped record's ERP links on backends where it has none (it
    becomes the twin of that remote record); where both are linked, the dropped
    record keeps its link, so the next sync archives its twin in the ERP instead of
    pulling it back as new. The backends whose link moved."""
    table: Table = ExternalLink.__table__  # type: ignore[assignment]
    kept = set(
        s.scalars(
            select(ExternalLink.backend).where(
                ExternalLink.entity == singular, ExternalLink.local_id == keep
            )
        )
    )
    links = s.execute(
        select(table).where(table.c.entity == singular, table.c.local_id == drop)
    ).mappings()
    moved = []
    for link in [dict(x) for x in links]:
        if link["backend"] not in kept:
            change_row(s, table, link, {"local_id": keep})
            moved.append(link["backend"])
    return moved


def move_sync_rows(s: Session, singular: str, drop: int, keep: int, moved: list[str]) -> None:
    """The sync's open questions that named the dropped record name the kept one:

    - open conflicts of the dropped record on the backends whose link moved (``moved``,
      from :func:`move_links`): the remote record is the kept record's twin now;
    - queued matches (not yet applied) offering the dropped record as a candidate offer
      the kept one (once), and a choice of the dropped record is a choice of the kept
      one, so that no run links a remote record to a record merged away.
    Each change is journaled like the other rows a merge moves, so an undo puts it back.
    """
    conflicts: Table = SyncConflict.__table__  # type: ignore[assignment]
    if moved:
        rows = s.execute(
            select(conflicts).where(
                conflicts.c.entity == singular,
                conflicts.c.local_id == drop,
                conflicts.c.status == "open",
                conflicts.c.backend.in_(moved),
            )
        ).mappings()
        for row in [dict(r) for r in rows]:
            change_row(s, conflicts, row, {"local_id": keep})
    matches: Table = SyncMatch.__table__  # type: ignore[assignment]
    queued = s.execute(
        select(matches).where(
            matches.c.entity == singular,
            matches.c.direction == "pull",
            matches.c.status.in_(("open", "decided")),
        )
    ).mappings()
    for row in [dict(r) for r in queued]:
        candidates = list(row["candidates"] or [])
        ids = [c.get("id") for c in candidates]
        if drop not in ids and row["choice"] != drop:
            continue
        offered = [
            {**c, "id": keep} if c.get("id") == drop else c
            for c in candidates
            if not (c.get("id") == drop and keep in ids)
        ]
        changes: dict[str, Any] = {"candidates": offered}
        if row["choice"] == drop:
            changes["choice"] = keep
        change_row(s, matches, row, changes)


def changed_columns(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The columns a journaled row change set."""
    return sorted(k for k in new if old.get(k) != new[k])


def row_conflict(table: Table, action: str, old: Any, new: Any, now: Any) -> str | None:
    """Why a row change cannot be undone (``now``: the row as it is, read by the key of
    ``new`` for an update, of ``old`` for a delete), or None."""
    if action == "delete":
        return None if now is None else "a row with its key exists again"
    if now is None:
        return "the row is gone"
    moved = [k for k in changed_columns(old, new) if now[k] != new[k]]
    if moved:
        shown = ", ".join(f"{k} is now {now[k]!r}" for k in moved)
        return f"changed since ({shown})"
    return None


def restore_row(s: Session, table: Table, action: str, old: Any, new: Any) -> None:
    """Undo one journaled row change (and journal the undo)."""
    if action == "delete":
        s.execute(insert(table).values(old))
        journal.record(s, table.name, record_id(table, old), "create", None, None, old)
        return
    now = read_row(s, table, new)
    assert now is not None
    back = {k: old[k] for k in changed_columns(old, new)}
    change_row(s, table, now, back)
