"""Two records side by side, field by field, and the value a merge keeps by default.

The default is the most recently changed non-empty value: a field's change time is
read from the journal (the last update of that field, or the record's creation when
it was set then), and falls back to the record's ``updated_at`` for a record the
journal knows nothing about (a workspace older than its journal).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.models import JournalEntry

#: The fields a person sees and a merge chooses, per entity, in the order shown; custom
#: values (``custom.<name>``) and ``tags`` follow them.
FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": (
        "name",
        "email",
        "phone",
        "mobile",
        "job_title",
        "company_id",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "country",
        "language",
        "birthday",
        "owner_id",
        "notes",
    ),
    "companies": (
        "name",
        "email",
        "phone",
        "website",
        "vat",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "country",
        "owner_id",
        "notes",
    ),
}
#: Columns of :meth:`~crm_core.duplicates.service.Duplicates.compare`'s result.
COLUMNS = ["field", "a", "b", "differs", "choice"]
CUSTOM = "custom."


def empty(value: Any) -> bool:
    """Whether ``value`` holds nothing (None, blank text, no tags)."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, list | dict) and not value


def values(entity: str, obj: Any) -> dict[str, Any]:
    """Every field of :data:`FIELDS` of ``obj``, its custom values and its tags (names)."""
    out = {field: getattr(obj, field) for field in FIELDS[entity]}
    for name in sorted(obj.custom or {}):
        out[CUSTOM + name] = obj.custom[name]
    out["tags"] = [tag.name for tag in obj.tags]
    return out


def changed_at(s: Session, table: str, obj: Any) -> dict[str, dt.datetime]:
    """When each field of ``obj`` last changed, by the journal: field -> time."""
    rows = s.execute(
        select(JournalEntry.at, JournalEntry.action, JournalEntry.field, JournalEntry.new)
        .where(JournalEntry.entity == table, JournalEntry.record_id == obj.id)
        .order_by(JournalEntry.id)
    )
    out: dict[str, dt.datetime] = {}
    for at, action, field, new in rows:
        if action == "create" and new:
            # A create row holds the whole record: every field it set was set then.
            for key, value in json.loads(new).items():
                if key == "custom":
                    out.update({CUSTOM + name: at for name in value or {}})
                else:
                    out[key] = at
        elif field is not None:
            out[field] = at
    return out


def same(a: Any, b: Any) -> bool:
    """Whether two values of one field are the same (blank ones are; tags as sets)."""
    if empty(a) and empty(b):
        return True
    if isinstance(a, list) and isinstance(b, list):
        return sorted(map(str, a)) == sorted(map(str, b))
    return bool(a == b)


def choice(a: Any, b: Any, at_a: dt.datetime, at_b: dt.datetime) -> str:
    """``"a"`` or ``"b"``: the non-empty value, or the more recently changed one (``a``
    on a tie, so that a review shows a stable default)."""
    if empty(a) != empty(b):
        return "b" if empty(a) else "a"
    if same(a, b):
        return "a"
    return "b" if at_b > at_a else "a"


def frame(s: Session, entity: str, table: str, a: Any, b: Any) -> pd.DataFrame:
    """The rows of ``compare``: one per field either record has (see :data:`COLUMNS`)."""
    va, vb = values(entity, a), values(entity, b)
    ta, tb = changed_at(s, table, a), changed_at(s, table, b)
    names = list(FIELDS[entity])
    names += sorted({n for n in (*va, *vb) if n.startswith(CUSTOM)})
    names.append("tags")
    rows = []
    for field in names:
        x, y = va.get(field), vb.get(field)
        at_a, at_b = ta.get(field, a.updated_at), tb.get(field, b.updated_at)
        rows.append((field, x, y, not same(x, y), choice(x, y, at_a, at_b)))
    out = pd.DataFrame(rows, columns=COLUMNS)
    out["differs"] = out["differs"].astype(bool)
    return out
