"""Many-row creates of companies and contacts for code bringing records in from
elsewhere (the ERP sync's first pull), validated like the services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Boolean, Integer, String, Text, select
from sqlalchemy.orm import Session

from crm_core.loaders import CompanyLoader, ContactLoader, PartyLoader
from crm_core.models import Tag

if TYPE_CHECKING:
    from crm_core.workspace import Workspace


class PartyWriter:
    """Validated many-row creates of companies or contacts in the caller's session.

    For code that brings records in from elsewhere, such as the ERP sync's first pull:
    each row is checked exactly as ``ws.companies.create`` / ``ws.contacts.create``
    would check it, then the valid rows are inserted with one ``executemany``,
    journaled with the session's user and origin and indexed for search. Unlike an
    import, a row may carry ``active`` (a record archived at its source arrives
    archived).

    With ``keep_invalid`` (the default: what a source holds is never dropped), a text
    value a person could not have typed is kept as written and marked in the record's
    ``unvalidated``, in the same ``executemany``: such a row stays on the batch path.
    Only a row without a name or with a value of the wrong kind gets an error.
    """

    def __init__(self, ws: Workspace, entity: str, keep_invalid: bool = True):
        loaders: dict[str, type[PartyLoader]] = {
            "company": CompanyLoader,
            "contact": ContactLoader,
        }
        if entity not in loaders:
            raise ValueError(f"PartyWriter writes companies or contacts, not {entity!r}")
        self.loader = loaders[entity](ws, keep_invalid)

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


__all__ = ["PartyWriter"]
