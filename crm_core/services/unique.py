"""Rows with a unique name created on first use: tags, lost reasons, pipelines (and,
through :func:`insert_if_missing`, settings and login counters).

Two users adding the same new tag at the same moment must both end up with the one
tag, not one of them with a unique-constraint error. ``INSERT ... ON CONFLICT DO
NOTHING`` (SQLite and PostgreSQL alike) inserts the row unless it exists, waiting for
a concurrent inserter to commit or roll back, and the row is then read back. No
savepoint is needed, which matters on SQLite, where pysqlite's transaction handling
turns the release of an outermost savepoint into a commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm_core import journal
from crm_core.models import Versioned


def insert_unique(
    s: Session, model: Any, key: str | Sequence[str], values: Mapping[str, Any]
) -> tuple[Any, bool]:
    """The ``model`` row whose unique ``key`` (a column, or the columns of a unique
    constraint such as a stage's ``("pipeline_id", "name")``) holds what ``values``
    give it, inserted with ``values`` if there is none; returns (row, whether this call
    created it).

    A row this call creates is journaled like an ORM insert (same user, origin, clock).
    """
    keys = [key] if isinstance(key, str) else list(key)
    table: Table = model.__table__
    row = dict(values)
    if issubclass(model, Versioned):
        now = s.info["clock"]()
        row.setdefault("created_at", now)
        row.setdefault("updated_at", now)
    new_id = s.execute(_insert_or_nothing(s, table, keys, row).returning(table.c.id)).scalar()
    found = s.scalars(select(model).where(*(table.c[k] == values[k] for k in keys))).one()
    if new_id is not None:
        journal.created(s, found)
    return found, new_id is not None


def insert_if_missing(s: Session, model: Any, key: str, values: Mapping[str, Any]) -> None:
    """Insert a ``model`` row unless one with the same unique ``key`` column exists
    (then leave it as it is), for tables keyed by a name rather than an id (settings,
    login counters); not journaled."""
    s.execute(_insert_or_nothing(s, model.__table__, [key], values))


def _insert_or_nothing(
    s: Session, table: Table, keys: Sequence[str], values: Mapping[str, Any]
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO NOTHING`` in the session's dialect."""
    build = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    return (
        build(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=[table.c[k] for k in keys])
    )
