"""Merging two duplicate records into one, and undoing a merge from the journal.

A merge runs in one transaction whose journal origin is ``merge:<merge id>``: the kept
record takes the chosen values (through the service's ``write_fields``: validated,
versioned), everything pointing at the dropped record is moved to the kept one (see
:mod:`crm_core.duplicates.relink`), and the dropped record is archived, never deleted.
A last journal row, action ``merge``, field ``merged_into``, marks the dropped record
as merged into the kept one: what ``merges()`` lists, what refuses merging it again,
and what tells the ERP sync why it was archived.

An undo reads that merge's journal rows and puts back every value and row they
changed, in one transaction journaled as ``unmerge:<merge id>``. It refuses when
anything the merge changed has changed since (naming what, who and when): restoring
it would overwrite that later change. Later edits of other fields are kept. Version
numbers and ``updated_at`` move forward through the merge and its undo like through
any edit: putting an old version number back would let an edit based on the merged
record pass the version check once the record reaches that number again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import access, journal, text
from crm_core import validation as v
from crm_core.duplicates import compare, relink
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.models import Base, Company, Contact, JournalEntry, Segment, User, Versioned
from crm_core.services.base import get_or_404, raise_if, tags_for
from crm_core.services.parties import CITY_KEY, EMAIL_KEY, NAME_KEY

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Journal origins of a merge's changes and of its undo, followed by the merge id.
ORIGIN = "merge:"
UNDO = "unmerge:"
#: The journal field of the marker row of a merge (and of its undo).
MARK = "merged_into"
#: Columns of ``merges()``.
MERGES_COLUMNS = ["merge_id", "entity", "kept", "dropped", "at", "user", "undone"]
#: Entity argument -> (model, singular name).
ENTITIES: dict[str, tuple[Any, str]] = {
    "contacts": (Contact, "contact"),
    "companies": (Company, "company"),
}
CHOICES = ("keep", "drop")
_SINGULAR = {
    "contacts": "contact",
    "companies": "company",
    "opportunities": "opportunity",
    "activities": "activity",
    "interactions": "interaction",
}


def _entity(entity: Any, record: str) -> tuple[Any, str]:
    if not isinstance(entity, str) or entity not in ENTITIES:
        reason = f"must be one of {', '.join(ENTITIES)}"
        raise ValidationError([FieldError(record, "entity", entity, reason)])
    return ENTITIES[entity]


def _pair(s: Session, entity: str, a: Any, b: Any, record: str) -> tuple[Any, Any]:
    """The two records, refusing the same id twice and unknown ids (by id)."""
    model, singular = ENTITIES[entity]
    if v.is_id(a) and a == b:
        reason = f"is {singular} #{a} twice: a record is merged with another one"
        raise ValidationError([FieldError(record, "ids", a, reason)])
    return get_or_404(s, model, a, singular), get_or_404(s, model, b, singular)


def merged_into(s: Session, table: str, record_id: int) -> int | None:
    """The record ``table`` #``record_id`` was merged into (and not un-merged since),
    or None: read from the journal's merge markers."""
    return merged_into_many(s, table, [record_id]).get(record_id)


def merged_into_many(s: Session, table: str, ids: Iterable[int]) -> dict[int, int]:
    """:func:`merged_into` for many records at once (a query per 500): those of ``ids``
    merged into another record and not un-merged since, each with that record."""
    out: dict[int, int] = {}
    wanted = sorted(set(ids))
    for i in range(0, len(wanted), 500):
        last: dict[int, tuple[str, str | None]] = {}
        for record_id, action, new in s.execute(
            select(JournalEntry.record_id, JournalEntry.action, JournalEntry.new)
            .where(
                JournalEntry.entity == table,
                JournalEntry.field == MARK,
                JournalEntry.record_id.in_(wanted[i : i + 500]),
            )
            .order_by(JournalEntry.id)
        ):
            last[record_id] = (action, new)
        out.update(
            (record_id, int(json.loads(new)))
            for record_id, (action, new) in last.items()
            if action == "merge" and new is not None
        )
    return out


def compare_records(ws: Workspace, entity: str, id_a: Any, id_b: Any) -> pd.DataFrame:
    """See :meth:`crm_core.duplicates.service.Duplicates.compare`."""
    _entity(entity, "compare")
    with ws.transaction() as s:
        a, b = _pair(s, entity, id_a, id_b, "compare")
        return compare.frame(s, entity, entity, a, b)


def _picks(shown: pd.DataFrame, choose: Any, record: str) -> dict[str, str]:
    """Field -> "keep"/"drop": ``compare``'s default with ``choose`` over it."""
    pairs = zip(shown["field"], shown["choice"], strict=True)
    picks = {f: ("keep" if c == "a" else "drop") for f, c in pairs}
    if choose is None:
        return picks
    if not isinstance(choose, Mapping):
        reason = 'must map field names to "keep" or "drop"'
        raise ValidationError([FieldError(record, "choose", choose, reason)])
    errors = []
    for field, side in choose.items():
        if field not in picks:
            errors.append(FieldError(record, f"choose[{field!r}]", side, "is not a field shown"))
        elif side not in CHOICES:
            errors.append(
                FieldError(record, f"choose[{field!r}]", side, 'must be "keep" or "drop"')
            )
    raise_if(errors)
    return {**picks, **choose}


def _taken(entity: str, kept: Any, dropped: Any, picks: dict[str, str], tags: str | None) -> Any:
    """The values the kept record takes from the dropped one (``write_fields`` form).
    ``tags``: the explicit choice for tags, or None for the union of both."""
    mine, theirs = compare.values(entity, kept), compare.values(entity, dropped)
    out: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for field, side in picks.items():
        if field == "tags" or side != "drop" or compare.same(mine.get(field), theirs.get(field)):
            continue
        if field.startswith(compare.CUSTOM):
            custom[field[len(compare.CUSTOM) :]] = theirs.get(field)
        else:
            out[field] = theirs[field]
    if tags is None:
        union = list(dict.fromkeys([*mine["tags"], *theirs["tags"]]))
        if union != mine["tags"]:
            out["tags"] = union
    elif tags == "drop":
        out["tags"] = theirs["tags"]
    if custom:
        out["custom"] = custom
    return out


def merge(
    ws: Workspace, entity: str, keep: Any, drop: Any, choose: Mapping[str, str] | None
) -> dict[str, Any]:
    """See :meth:`crm_core.duplicates.service.Duplicates.merge`."""
    model, singular = _entity(entity, "merge")
    access.check_unrestricted(ws, "merge", f"{singular} #{drop} into {singular} #{keep}")
    merge_id = uuid.uuid4().hex
    record = f"merge of {singular} #{drop} into {singular} #{keep}"
    service = ws.contacts if model is Contact else ws.companies
    with ws.transaction(origin=ORIGIN + merge_id) as s:
        kept, dropped = _pair(s, entity, keep, drop, record)
        errors = []
        for obj, role in ((kept, "keep"), (dropped, "drop")):
            into = merged_into(s, entity, obj.id)
            if into is not None:
                reason = (
                    f"{singular} #{obj.id} was merged into {singular} #{into} already "
                    "(see merges(); undo that merge first to merge it otherwise)"
                )
                errors.append(FieldError(record, role, obj.id, reason))
        raise_if(errors)
        picks = _picks(compare.frame(s, entity, entity, kept, dropped), choose, record)
        tags = None if choose is None or "tags" not in choose else choose["tags"]
        taken = _taken(entity, kept, dropped, picks, tags)
        # Values come from stored records, some kept as the ERP or a file wrote them:
        # carried over as written (and marked), never refused for what they say.
        service.write_fields(s, kept, taken, creating=False, keep_invalid=True)
        for ref in relink.references(model):
            if ref.how == "records":
                attr = ref.model.__mapper__.get_property_by_column(ref.column).key
                for obj in s.scalars(select(ref.model).where(ref.column == dropped.id)):
                    setattr(obj, attr, kept.id)
            elif ref.how == "rows":
                relink.move_rows(s, ref, dropped.id, kept.id)
        # Saved segments name records in their filters (JSON, no foreign key): one that
        # picked the dropped record's people or deals picks the kept record's now.
        key = f"{singular}_id"
        for segment in s.scalars(select(Segment).order_by(Segment.id)):
            if (segment.filters or {}).get(key) == dropped.id:
                segment.filters = {**segment.filters, key: kept.id}
        # The tag links went to the kept record above (by default: both records' tags).
        dropped.tags = []
        moved = relink.move_links(s, singular, dropped.id, kept.id)
        relink.move_sync_rows(s, singular, dropped.id, kept.id, moved)
        dropped.active = False
        s.flush()
        journal.record(s, entity, dropped.id, "merge", MARK, None, kept.id)
        kept_id, dropped_id = kept.id, dropped.id
    return {
        "merge_id": merge_id,
        "kept": kept_id,
        "dropped": dropped_id,
        "record": service.get(kept_id),
    }


# -- undo -------------------------------------------------------------------------------
def _current(obj: Any, field: str) -> Any:
    if field == "tags":
        return sorted(t.name for t in obj.tags)
    if field.startswith(compare.CUSTOM):
        return (obj.custom or {}).get(field[len(compare.CUSTOM) :])
    return getattr(obj, field)


def _parse(model: Any, field: str, encoded: str | None) -> Any:
    if encoded is None:
        return None
    value = json.loads(encoded)
    if field == "tags" or field.startswith(compare.CUSTOM):
        return value
    return relink.decode(model.__table__.c[field], value)


def _put_back(s: Session, obj: Any, field: str, value: Any) -> None:
    if field == "tags":
        obj.tags = tags_for(s, value or [])
    elif field.startswith(compare.CUSTOM):
        custom = dict(obj.custom or {})
        name = field[len(compare.CUSTOM) :]
        if value is None:
            custom.pop(name, None)
        else:
            custom[name] = value
        obj.custom = custom  # a new dict: a JSON column sees no change made in place
    else:
        setattr(obj, field, value)
    if isinstance(obj, Company | Contact):
        # Derived search keys, as the services' write_fields sets them.
        obj.name_key = text.fold(obj.name)[:NAME_KEY]
        obj.email_key = text.fold(obj.email)[:EMAIL_KEY] or None
        obj.city_key = text.fold(obj.city)[:CITY_KEY] or None


def _since(s: Session, table: str, record_id: int, field: str | None, after: int) -> str:
    """Who changed a field (or row) after the merge and when, from the journal."""
    query = (
        select(JournalEntry.at, User.login)
        .outerjoin(User, User.id == JournalEntry.user_id)
        .where(
            JournalEntry.entity == table,
            JournalEntry.record_id == record_id,
            JournalEntry.id > after,
        )
        .order_by(JournalEntry.id.desc())
        .limit(1)
    )
    if field is not None:
        query = query.where(JournalEntry.field == field)
    found = s.execute(query).first()
    if found is None:
        return "changed since the merge"
    who = f" by {found.login}" if found.login else ""
    return f"changed since the merge{who} at {found.at:%Y-%m-%d %H:%M} UTC"


def undo(ws: Workspace, merge_id: Any) -> dict[str, Any]:
    """See :meth:`crm_core.duplicates.service.Duplicates.undo`."""
    if not isinstance(merge_id, str) or not merge_id.isalnum() or len(merge_id) > 64:
        raise NotFoundError("merge", merge_id)
    access.check_unrestricted(ws, "undo", f"merge {merge_id}")
    with ws.transaction(origin=UNDO + merge_id) as s:
        entries = s.scalars(
            select(JournalEntry)
            .where(JournalEntry.origin == ORIGIN + merge_id)
            .order_by(JournalEntry.id)
        ).all()
        marker = next((e for e in entries if e.action == "merge"), None)
        if marker is None:
            raise NotFoundError("merge", merge_id)
        entity, drop = marker.entity, marker.record_id
        keep = int(json.loads(marker.new or "0"))
        singular = ENTITIES[entity][1]
        record = f"merge {merge_id} of {singular} #{drop} into {singular} #{keep}"
        done = s.execute(
            select(JournalEntry.at, User.login)
            .outerjoin(User, User.id == JournalEntry.user_id)
            .where(JournalEntry.origin == UNDO + merge_id, JournalEntry.action == "unmerge")
        ).first()
        if done is not None:
            who = f" by {done.login}" if done.login else ""
            reason = f"was undone already{who} at {done.at:%Y-%m-%d %H:%M} UTC"
            raise ValidationError([FieldError(record, "merge_id", merge_id, reason)])
        after = entries[-1].id
        models = relink.mapped_models()
        versioned = {t for t, cls in models.items() if issubclass(cls, Versioned)}
        # Per field of each journaled record: its value before the merge, and after.
        fields: dict[tuple[str, int, str], list[str | None]] = {}
        rows = []
        for e in entries:
            if e.action == "merge":
                continue  # the marker: answered by the undo's own below
            if e.entity not in versioned:
                rows.append(e)
            elif e.field is not None:
                key = (e.entity, e.record_id, e.field)
                fields.setdefault(key, [e.old, e.new])[1] = e.new
            # A merge creates no record (its tags exist on one side already); a record
            # row without a field would be one, and is left in place.
        errors: list[FieldError] = []
        objs: dict[tuple[str, int], Any] = {}
        for (table, rid, field), (_old, new) in fields.items():
            name = f"{_SINGULAR.get(table, table)} #{rid}"
            obj = objs.get((table, rid)) or s.get(models[table], rid)
            if obj is None:
                errors.append(FieldError(record, name, None, "was deleted since the merge"))
                continue
            objs[(table, rid)] = obj
            now = _current(obj, field)
            if not compare.same(now, _parse(models[table], field, new)):
                reason = _since(s, table, rid, field, after) + _HOW
                errors.append(FieldError(record, f"{name} {field}", now, reason))
        parsed = []
        for e in rows:
            tbl = Base.metadata.tables[e.entity]
            was, became = relink.decode_row(tbl, e.old), relink.decode_row(tbl, e.new)
            probe = became if e.action != "delete" else was
            assert probe is not None
            now = relink.read_row(s, tbl, probe)
            why = relink.row_conflict(tbl, e.action, was, became, now)
            if why is not None:
                rid = relink.record_id(tbl, probe)
                errors.append(FieldError(record, f"{e.entity} row {rid}", probe, why + _HOW))
            parsed.append((tbl, e.action, was, became))
        raise_if(errors)
        for (table, rid, field), (old, _new) in reversed(fields.items()):
            _put_back(s, objs[(table, rid)], field, _parse(models[table], field, old))
        for tbl, action, was, became in reversed(parsed):
            relink.restore_row(s, tbl, action, was, became)
        s.flush()
        journal.record(s, entity, drop, "unmerge", MARK, keep, None)
        changes = len(fields) + len(parsed)
    service = ws.contacts if entity == "contacts" else ws.companies
    return {
        "merge_id": merge_id,
        "entity": entity,
        "kept": keep,
        "dropped": drop,
        "changes": changes,
        "records": {"kept": service.get(keep), "dropped": service.get(drop)},
    }


_HOW = (
    "; an undo puts back only what is as the merge left it: set it back to the merge's"
    " value first (and make that change again after the undo), or correct the records"
    " by hand"
)


def merges(ws: Workspace, limit: Any) -> pd.DataFrame:
    """See :meth:`crm_core.duplicates.service.Duplicates.merges`."""
    from crm_core.duplicates.service import MAX_LIMIT

    if not (type(limit) is int and 0 < limit <= MAX_LIMIT):
        reason = f"must be a whole number 1..{MAX_LIMIT}"
        raise ValidationError([FieldError("merges", "limit", limit, reason)])
    j = JournalEntry
    with ws.transaction() as s:
        found = s.execute(
            select(j.origin, j.entity, j.record_id, j.new, j.at, User.login)
            .outerjoin(User, User.id == j.user_id)
            .where(j.action == "merge", j.field == MARK)
            .order_by(j.id.desc())
            .limit(limit)
        ).all()
        ids = [str(r.origin)[len(ORIGIN) :] for r in found]
        undone = set(
            s.scalars(
                select(j.origin).where(j.action == "unmerge", j.origin.in_([UNDO + i for i in ids]))
            )
        )
    return pd.DataFrame(
        [
            (i, r.entity, int(json.loads(r.new)), r.record_id, r.at, r.login, UNDO + i in undone)
            for i, r in zip(ids, found, strict=True)
        ],
        columns=MERGES_COLUMNS,
    )
