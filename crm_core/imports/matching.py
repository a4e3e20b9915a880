"""Finding the existing record a row stands for, so that an import updates it.

A row is matched by its keys, strongest first: the id of the record in the ERP
(``erp_id``, through the sync's links), its e-mail, its VAT number, its phones (as
E.164, both the phone and the mobile of a contact), and last its name (a contact's
or a deal's within its company, or among those of no company; a company's alone; so
that a row with nothing but a name still finds its record again). Every strong key
the row has is looked up: when they name one record, that is the match; when they name
two or more, the row is ambiguous and refused with every candidate named. The name is
only tried when no strong key matched. A record merged into another one (archived by
the merge, see :func:`survivors`) is never a candidate: a key of it finds the record it
was merged into. A phone does not find a record whose e-mail
says it is someone else (an office's phone is shared), unless the row's e-mail finds
another record that lacks the phone: then both are candidates. A name does not find a
record whose e-mail, VAT number or phones say it is someone else (namesakes), see
:func:`other_person`.

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

from crm_core.duplicates.merge import merged_into_many
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


def other_person(row: RowKeys, other: RowKeys) -> bool:
    """Whether ``other`` (a record's keys, or another row's) is someone other than
    ``row`` by a key both give: their e-mails differ, their VAT numbers differ, or each
    has phones and they share none. Then a name in common does not make them one."""
    if row.email is not None and other.email is not None and row.email != other.email:
        return True
    if row.vat is not None and other.vat is not None and row.vat != other.vat:
        return True
    return bool(row.phones and other.phones and not set(row.phones) & set(other.phones))


def survivors(s: Session, model: Any, ids: Iterable[int]) -> dict[int, int | None]:
    """Those of ``ids`` that were merged away, each with the record it stands for now:
    the one it was merged into, following the chain (A merged into B, B later into C: C).
    None when the chain ends at a deleted record (or loops). Records not listed are live,
    or archived by hand: they stand for themselves.

    A record is merged away when it is archived and
    :func:`crm_core.duplicates.merge.merged_into` says it was merged into another (the
    journal's last merge marker about it is a ``merge``, not its ``unmerge``). An
    archived record restored by hand is live again, as for the sync's copies. Only
    companies and contacts are merged: other models find none."""
    if model not in (Company, Contact):
        return {}
    table = model.__tablename__
    into: dict[int, int | None] = {}  # record -> merged into (None: not merged away)
    missing: set[int] = set()
    todo = set(ids)
    while todo:
        archived: set[int] = set()
        present: set[int] = set()
        for chunk in _chunks(sorted(todo), 500):
            for record_id, active in s.execute(
                select(model.id, model.active).where(model.id.in_(chunk))
            ):
                present.add(record_id)
                if not active:
                    archived.add(record_id)
        missing |= todo - present
        for record_id in todo:
            into[record_id] = None
        into.update(merged_into_many(s, table, archived))
        todo = {k for k in into.values() if k is not None and k not in into}
    out: dict[int, int | None] = {}
    for record_id in set(ids):
        kept = into.get(record_id)
        if kept is None:
            continue
        seen = {record_id}
        survivor: int | None = kept
        while survivor is not None and into.get(survivor) is not None:
            if survivor in seen:
                survivor = None  # a loop: no live record to stand for
                break
            seen.add(survivor)
            survivor = into[survivor]
        out[record_id] = None if survivor is None or survivor in missing else survivor
    return out


def _to_survivors(
    found: dict[int, list[str]], merged: dict[int, int | None], aliases: dict[int, set[str]]
) -> None:
    """Candidates merged away replaced (in place) by the records they were merged
    into, their keys joined to those the survivor was found by (strongest first); the
    keys that found a survivor only through a record merged into it go to ``aliases``."""
    direct = {i: set(keys) for i, keys in found.items() if i not in merged}
    for record_id in [i for i in found if i in merged]:
        keys = found.pop(record_id)
        survivor = merged[record_id]
        if survivor is None:
            continue
        have = found.setdefault(survivor, [])
        have.extend(k for k in keys if k not in have)
        have.sort(key=KEYS.index)
        only = set(keys) - direct.get(survivor, set())
        if only:
            aliases.setdefault(survivor, set()).update(only)


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
    #: Records the row's phone finds whose e-mail says they are someone else.
    phone_elsewhere: dict[int, list[str]] = field(default_factory=dict)
    #: Candidate id -> the keys that found it only through a record merged into it
    #: (the merged-away record's e-mail, phone...: not the candidate's own value).
    aliases: dict[int, set[str]] = field(default_factory=dict)

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

    def __init__(self, entity: str, keys: Sequence[str], *, phone_of_another: bool = False):
        """``phone_of_another``: a row whose e-mail finds one record and whose phone
        only another (with an e-mail of its own) has both as candidates (a file's row,
        refused naming both), instead of the e-mail's alone."""
        self.entity = entity
        self.model = _MODELS[entity]
        self.keys = tuple(keys)
        self.phone_of_another = phone_of_another

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
                    for record_id, keys_of in hits.get(value, ()):
                        if key in WEAK and contradicts(row, keys_of.email):
                            out.phone_elsewhere.setdefault(record_id, [key])
                            continue
                        keys = out.strong.setdefault(record_id, [])
                        if key not in keys:
                            keys.append(key)
        self._survivors(s, found, ("strong", "phone_elsewhere"))
        for out in found if self.phone_of_another else ():
            # A row whose e-mail finds one record and whose phone only another (with
            # an e-mail of its own) could be either: both are candidates, and the row
            # is refused naming them. (A phone the e-mail's record has too is an
            # office's, shared: it decides nothing.)
            by_email = [keys for keys in out.strong.values() if "email" in keys]
            if by_email and not any("phone" in keys for keys in by_email):
                for record_id, keys in out.phone_elsewhere.items():
                    out.strong.setdefault(record_id, keys)
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
                        for record_id, keys_of in hits.get(value, ()):
                            # Namesakes: a name does not find a record whose e-mail,
                            # VAT number or phones say it is someone else.
                            if other_person(row, keys_of):
                                continue
                            out.by_name.setdefault(record_id, []).append("name")
            self._survivors(s, found, ("by_name",))
        return found

    def _survivors(self, s: Session, found: list[Found], pools: tuple[str, ...]) -> None:
        """Candidates merged away replaced by the records they were merged into (see
        :func:`survivors`): one query for the archived among all candidates of the
        batch, and the journal only for those."""
        ids = {i for out in found for pool in pools for i in getattr(out, pool)}
        merged = survivors(s, self.model, ids) if ids else {}
        if not merged:
            return
        for out in found:
            for pool in pools:
                _to_survivors(getattr(out, pool), merged, out.aliases)

    def _lookup(
        self, s: Session, key: str, wanted: set[Any], emails: set[str] | None = None
    ) -> dict[Any, list[tuple[int, RowKeys]]]:
        """value -> [(record id, the record's keys as far as they are needed: its
        e-mail for phones; e-mail, phones and VAT number for names)] for the records
        holding one of ``wanted`` (names: only those with no e-mail or one of
        ``emails``, when given)."""
        m = self.model
        out: dict[Any, list[tuple[int, RowKeys]]] = {}
        none = RowKeys()
        chunks = _chunks(sorted(wanted, key=repr), 500)
        for chunk in chunks:
            if key == "erp_id":
                link = ExternalLink
                q: Any = select(link.remote_id, link.local_id).where(
                    link.entity == self.entity, link.remote_id.in_(chunk)
                )
                for remote_id, local_id in s.execute(q):
                    out.setdefault(remote_id, []).append((local_id, none))
            elif key == "email":
                for record_id, email_key in s.execute(
                    select(m.id, m.email_key).where(m.email_key.in_(chunk))
                ):
                    out.setdefault(email_key, []).append((record_id, none))
            elif key == "vat":
                stored: Any = m.vat
                for noise in (" ", "-", ".", "/"):  # as vat_key strips them
                    stored = func.replace(stored, noise, "")
                stored = func.upper(stored)
                for record_id, vat in s.execute(select(m.id, m.vat).where(stored.in_(chunk))):
                    out.setdefault(vat_key(vat), []).append((record_id, none))
            elif key == "phone":
                columns = [m.phone, m.mobile] if m is Contact else [m.phone]
                q = select(m.id, m.email_key, *columns).where(or_(*(c.in_(chunk) for c in columns)))
                for record_id, email_key, *numbers in s.execute(q):
                    keys = RowKeys(email=email_key)
                    for number in dict.fromkeys(n for n in numbers if n in wanted):
                        out.setdefault(number, []).append((record_id, keys))
            else:  # name, within the company (a company's own name alone)
                names = sorted({name for name, _ in chunk})
                email = m.email_key if hasattr(m, "email_key") else literal(None)
                company = m.company_id if hasattr(m, "company_id") else literal(None)
                phone = m.phone if hasattr(m, "phone") else literal(None)
                mobile = m.mobile if hasattr(m, "mobile") else literal(None)
                vat = m.vat if hasattr(m, "vat") else literal(None)
                q = select(m.id, m.name_key, company, email, phone, mobile, vat).where(
                    m.name_key.in_(names)
                )
                if emails is not None:
                    q = q.where(or_(email.is_(None), email.in_(sorted(emails))))
                for record_id, name_key, company_id, email_key, *numbers, vat_ in s.execute(q):
                    value = (name_key, company_id)
                    if value in wanted:
                        # Only numbers stored as E.164 are keys (not one kept as written).
                        phones = tuple(
                            dict.fromkeys(
                                n for n in numbers if isinstance(n, str) and n.startswith("+")
                            )
                        )
                        keys = RowKeys(email=email_key, vat=vat_key(vat_), phones=phones)
                        out.setdefault(value, []).append((record_id, keys))
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
