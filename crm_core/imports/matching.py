"""Finding the existing record a row stands for, so that an import updates it.

A row is matched by its keys, strongest first: the id of the record in the ERP
(``erp_id``, through the sync's links), its e-mail, its VAT number, its phones (as
E.164, both the phone and the mobile of a contact), and last its name (a contact's
or a deal's within its company, or among those of no company; a company's alone; so
that a row with nothing but a name still finds its record again). Every strong key
the row has is looked up: when they name one record, that is the match; when they name
two or more, the row is ambiguous and refused with every candidate named. The name is
only tried when no strong key matched. Neither a phone nor a name finds a record whose
e-mail says it is someone else (an office's phone, a common name are shared).

Each key is one query per batch of rows (``IN (...)`` on an indexed column), so
matching costs a few queries per thousand rows, not one per row.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session

from crm_core.keys import WEAK, RowKeys, contradicts, vat_key
from crm_core.models import Company, Contact, ExternalLink, Opportunity

#: Every key an import can match on, strongest first.
KEYS = ("erp_id", "email", "vat", "phone", "name")
#: The keys each entity matches on by default (``--match`` chooses others).
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "contact": ("erp_id", "email", "phone", "name"),
    "company": ("erp_id", "vat", "email", "phone", "name"),
    "opportunity": ("erp_id", "name"),
}
#: The keys an entity has at all.
ENTITY_KEYS: dict[str, tuple[str, ...]] = {
    "contact": ("erp_id", "email", "phone", "name"),
    "company": ("erp_id", "vat", "email", "phone", "name"),
    "opportunity": ("erp_id", "name"),
}
#: How a reason names a key.
SAID = {
    "erp_id": "same ERP id",
    "email": "same e-mail",
    "vat": "same VAT number",
    "phone": "same phone",
    "name": "same name",
}
_MODELS: dict[str, Any] = {"contact": Contact, "company": Company, "opportunity": Opportunity}


def check_keys(entity: str, keys: Iterable[str]) -> tuple[str, ...]:
    """``keys`` in strength order, refused with a clear message if one is unknown."""
    given = [k.strip() for k in keys if k.strip()]
    allowed = ENTITY_KEYS[entity]
    wrong = [k for k in given if k not in allowed]
    if wrong or not given:
        raise ValueError(
            f"cannot match {entity} rows on {', '.join(wrong) or 'nothing'}: "
            f"choose among {', '.join(allowed)}"
        )
    return tuple(k for k in KEYS if k in given)


@dataclass
class Found:
    """What the keys of one row found: candidate id -> the keys that named it."""

    strong: dict[int, list[str]] = field(default_factory=dict)
    by_name: dict[int, list[str]] = field(default_factory=dict)

    def decision(self) -> tuple[int | None, str | None, dict[int, list[str]]]:
        """(matched id, the key it was matched by, all candidates): one candidate is a
        match; none is a new record; several are ambiguous (matched id None, candidates
        given)."""
        pool = self.strong or self.by_name
        if len(pool) == 1:
            ((record_id, keys),) = pool.items()
            return record_id, keys[0], pool
        return None, None, pool


class Matcher:
    """Looks up a batch of rows' keys in one query per key."""

    def __init__(self, entity: str, keys: Sequence[str]):
        self.entity = entity
        self.model = _MODELS[entity]
        self.keys = tuple(keys)

    def find(self, s: Session, rows: Sequence[RowKeys | None]) -> list[Found]:
        """One :class:`Found` per row (rows given as None find nothing)."""
        found = [Found() for _ in rows]
        for key in self.keys:
            if key == "name":
                continue
            wanted = {v for r in rows if r is not None for v in r.values(key)}
            if not wanted:
                continue
            hits = self._lookup(s, key, wanted)
            for row, out in zip(rows, found, strict=True):
                if row is None:
                    continue
                for value in row.values(key):
                    for record_id, email in hits.get(value, ()):
                        if key in WEAK and contradicts(row, email):
                            continue
                        keys = out.strong.setdefault(record_id, [])
                        if key not in keys:
                            keys.append(key)
        if "name" in self.keys:
            # Only for rows no strong key placed; a row with an e-mail only finds records
            # with no e-mail or that one (so that the query returns a handful of rows,
            # not every namesake).
            for with_email in (False, True):
                todo = [
                    (row, out)
                    for row, out in zip(rows, found, strict=True)
                    if row is not None
                    and not out.strong
                    and row.name is not None
                    and (row.email is not None) == with_email
                ]
                if not todo:
                    continue
                wanted = {v for row, _ in todo for v in row.values("name")}
                emails = {row.email for row, _ in todo if row.email} if with_email else None
                hits = self._lookup(s, "name", wanted, emails)
                for row, out in todo:
                    for value in row.values("name"):
                        for record_id, email in hits.get(value, ()):
                            if contradicts(row, email):
                                continue
                            out.by_name.setdefault(record_id, []).append("name")
        return found

    def _lookup(
        self, s: Session, key: str, wanted: set[Any], emails: set[str] | None = None
    ) -> dict[Any, list[tuple[int, Any]]]:
        """value -> [(record id, extra)] for the records holding one of ``wanted``
        (names: only those with no e-mail or one of ``emails``, when given)."""
        m = self.model
        out: dict[Any, list[tuple[int, Any]]] = {}
        chunks = _chunks(sorted(wanted, key=repr), 500)
        for chunk in chunks:
            if key == "erp_id":
                link = ExternalLink
                q: Any = select(link.remote_id, link.local_id).where(
                    link.entity == self.entity, link.remote_id.in_(chunk)
                )
                for remote_id, local_id in s.execute(q):
                    out.setdefault(remote_id, []).append((local_id, None))
            elif key == "email":
                for record_id, email_key in s.execute(
                    select(m.id, m.email_key).where(m.email_key.in_(chunk))
                ):
                    out.setdefault(email_key, []).append((record_id, None))
            elif key == "vat":
                stored: Any = m.vat
                for noise in (" ", "-", ".", "/"):  # as vat_key strips them
                    stored = func.replace(stored, noise, "")
                stored = func.upper(stored)
                for record_id, vat in s.execute(select(m.id, m.vat).where(stored.in_(chunk))):
                    out.setdefault(vat_key(vat), []).append((record_id, None))
            elif key == "phone":
                columns = [m.phone, m.mobile] if m is Contact else [m.phone]
                q = select(m.id, m.email_key, *columns).where(or_(*(c.in_(chunk) for c in columns)))
                for record_id, email_key, *numbers in s.execute(q):
                    for number in dict.fromkeys(n for n in numbers if n in wanted):
                        out.setdefault(number, []).append((record_id, email_key))
            else:  # name, within the company (a company's own name alone)
                names = sorted({name for name, _ in chunk})
                email = m.email_key if hasattr(m, "email_key") else literal(None)
                company = m.company_id if hasattr(m, "company_id") else literal(None)
                q = select(m.id, m.name_key, company, email).where(m.name_key.in_(names))
                if emails is not None:
                    q = q.where(or_(email.is_(None), email.in_(sorted(emails))))
                for record_id, name_key, company_id, email_key in s.execute(q):
                    value = (name_key, company_id)
                    if value in wanted:
                        out.setdefault(value, []).append((record_id, email_key))
        return out


def _chunks(values: list[Any], size: int) -> list[list[Any]]:
    return [values[i : i + size] for i in range(0, len(values), size)]


class Touched:
    """Which records this import has already matched or created, and on which line.

    A second row of the file that lands on the same record is a duplicate inside the
    file: it is refused (naming the first line) in every run, so that running the file
    again changes nothing. Kept as an array indexed by record id: 4 bytes a record,
    whatever the size of the file.
    """

    def __init__(self) -> None:
        self._lines = array("i")

    def line(self, record_id: int) -> int | None:
        """The line that already touched ``record_id``, if one did."""
        if record_id < len(self._lines):
            return self._lines[record_id] or None
        return None

    def mark(self, record_id: int, line: int) -> None:
        """Remember that ``line`` matched or created ``record_id``."""
        if record_id >= len(self._lines):
            grow = max(record_id + 1 - len(self._lines), len(self._lines), 1024)
            self._lines.frombytes(bytes(grow * self._lines.itemsize))
        self._lines[record_id] = line

    def forget(self, record_ids: Iterable[int]) -> None:
        """Forget records whose batch was rolled back."""
        for record_id in record_ids:
            if record_id < len(self._lines):
                self._lines[record_id] = 0
