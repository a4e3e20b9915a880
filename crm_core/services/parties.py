"""Companies and contacts: create, update, archive, restore, get and search."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from crm_core import access, db, text
from crm_core import validation as v
from crm_core.errors import FieldError, ValidationError
from crm_core.models import Company, Contact, CustomFieldDefinition, SearchTerm, Tag, User
from crm_core.models.party import company_tags, contact_tags
from crm_core.services.base import (
    Cleaner,
    Service,
    apply_fields,
    check_version,
    custom_values,
    get_or_404,
    id_filter,
    keepable,
    label,
    raise_if,
    record_ref,
    retried_when_blind,
    tags_for,
    user_ref,
)
from crm_core.validation import Reject

ORDERS = {
    "name": "sort_key",  # alphabetical in every script (crm_core.collation)
    "city": "city_key",
    "email": "email_key",
    "created": "created_at",
    "updated": "updated_at",
    "id": "id",
    "country": "country",
}
MAX_PAGE = 10_000
#: A query typed as a phone number: digits with the usual separators, and enough digits
#: to be a number rather than a year or a house number.
PHONE_QUERY = re.compile(r"\+?[\d\s().\-/]+")
PHONE_QUERY_DIGITS = 6


def phone_query(q: Any, phone: Any) -> tuple[Any, Any]:
    """``(q, phone)`` with a query typed as a phone number (``0318 8895048``,
    ``+92 318-8895048``) moved to the phone filter, so the one search box finds a
    record by its number; anything else as it came."""
    typed = q.strip() if isinstance(q, str) else ""
    digits = sum(ch.isdigit() for ch in typed)
    if phone is None and digits >= PHONE_QUERY_DIGITS and PHONE_QUERY.fullmatch(typed):
        return None, typed
    return q, phone


#: Lengths of the derived search keys (their columns): a kept value may be longer.
NAME_KEY, EMAIL_KEY, CITY_KEY = 300, 320, 120


class _Parties(Service):
    """Shared behaviour of :class:`Companies` and :class:`Contacts`."""

    model: type[Company] | type[Contact]
    tag_table: Any
    tag_column: str

    #: Text fields whose value from an ERP or a file is kept as written when refused
    #: (``write_fields(..., keep_invalid=True)``); the rest are ids, codes and dates.
    keep_fields: ClassVar[tuple[str, ...]] = (
        "name",
        "email",
        "phone",
        "street",
        "street2",
        "city",
        "zip",
        "state",
        "country",
        "notes",
    )
    #: Phone fields: read with the record's own country first (see phone_cleaner).
    phone_fields: ClassVar[tuple[str, ...]] = ("phone",)

    # -- validation ---------------------------------------------------------------
    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            "name": partial(v.required_text, max_len=300),
            "email": v.email,
            "phone": self.phone_cleaner(None),
            "street": partial(v.optional_text, max_len=300),
            "street2": partial(v.optional_text, max_len=300),
            "city": partial(v.optional_text, max_len=120),
            "zip": partial(v.optional_text, max_len=20),
            "state": partial(v.optional_text, max_len=120),
            "country": v.country,
            "notes": partial(v.optional_text, max_len=100_000, multiline=True),
            "owner_id": user_ref(s),
        }

    def phone_cleaner(self, country: str | None) -> Cleaner:
        """The cleaner of a phone of a record in ``country``: a national-format number
        is read in that country first, then in the workspace's phone region."""
        region = self.ws.phone_region
        return lambda value: v.phone(value, country, region)

    def keepable(self) -> dict[str, int | None]:
        """The fields whose refused text may be kept as written, each with the most
        characters its column holds (None: no limit)."""
        return keepable(self.model, self.keep_fields)

    def write_fields(
        self,
        s: Session,
        obj: Any,
        values: Mapping[str, Any],
        creating: bool,
        keep_invalid: bool = False,
    ) -> None:
        """Validate ``values`` and set them on ``obj`` inside the caller's session.

        The building block of create/update, public for callers that manage their own
        transaction (the ERP sync). Raises :class:`ValidationError` listing every
        refused field; the valid ones are set on ``obj`` all the same.

        ``keep_invalid`` is for values that arrive from an ERP or a file: a text a
        person could not have typed (a phone that is no valid number, an e-mail with a
        reserved domain, a name too long, a country code nobody knows) is then stored as
        written and its field listed in ``obj.unvalidated`` with the reason it would
        have been refused; only what no database can store is changed (NUL removed,
        lone surrogates replaced), and the reason says so. Values of the wrong type and
        a missing name are refused all the same. Any field written with a valid value
        loses its mark.

        Every path that sets an owner comes through here (create, update, imports,
        merges, the sync): a sales user changing the owner of a record another user
        owns is refused before anything is set
        (:func:`crm_core.access.check_owner_change`).
        """
        record = label(self.entity, None if creating else obj, None)
        if not isinstance(values, Mapping):
            raise ValidationError(
                [FieldError(record, "values", values, "must be a mapping of field to value")]
            )
        values = dict(values)
        if "owner" in values:
            values["owner_id"] = values.pop("owner")
        # A record is named as it is stored; a new one by the name it is given.
        name = values.get("name") if creating else obj.name
        record = label(
            self.entity, None if creating else obj, name if isinstance(name, str) else None
        )
        errors: list[FieldError] = []
        tags = values.pop("tags", None)
        custom = values.pop("custom", None)
        if "active" in values:
            errors.append(
                FieldError(record, "active", values.pop("active"), "use archive() or restore()")
            )
        if creating and "name" not in values:
            errors.append(FieldError(record, "name", None, "is required"))
        if not creating and "owner_id" in values:
            self._check_owner(s, obj, values["owner_id"])
        keep = self.keepable() if keep_invalid else None
        phones = {f: values.pop(f) for f in self.phone_fields if f in values}
        apply_fields(obj, values, self._cleaners(s), record, errors, keep)
        if phones:
            # After the country: the record's own country reads a national number.
            cleaner = self.phone_cleaner(obj.country)
            apply_fields(obj, phones, dict.fromkeys(phones, cleaner), record, errors, keep)
        if tags is not None:
            try:
                obj.tags = tags_for(s, tags)
            except Reject as exc:
                errors.append(FieldError(record, "tags", tags, str(exc)))
        if custom is not None or creating:
            obj.custom = custom_values(s, self.entity, obj.custom, custom, record, errors, creating)
        raise_if(errors)
        obj.name_key = text.fold(obj.name)[:NAME_KEY]
        obj.email_key = text.fold(obj.email)[:EMAIL_KEY] or None
        obj.city_key = text.fold(obj.city)[:CITY_KEY] or None

    def _check_owner(self, s: Session, obj: Any, owner: Any) -> None:
        """Refuse, before anything is set, a sales user giving ``obj`` another owner
        when someone else owns it (:func:`crm_core.access.check_owner_change`). An
        owner that names no user is left to the cleaner, which reports it."""
        try:
            wanted = user_ref(s)(owner)
        except Reject:
            return
        access.check_owner_change(self.ws, label(self.entity, obj, ""), obj.owner_id, wanted)

    # -- commands -----------------------------------------------------------------
    def create(self, **values: Any) -> dict[str, Any]:
        """Create a record from field values and return it as a dict.

        Every refused value is reported at once in a :class:`ValidationError`;
        nothing is written then.
        """
        with self._tx() as s:
            obj = self.model(active=True, custom={})
            self.write_fields(s, obj, values, creating=True)
            s.add(obj)
            s.flush()
            return self._as_dict(s, obj)

    @retried_when_blind
    def update(
        self,
        record_id: int,
        changes: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        **more: Any,
    ) -> dict[str, Any]:
        """Change fields of one record; ``expected_version`` guards against stale edits.

        Custom values merge into the existing ones (``None`` clears one); ``tags``
        replaces the record's tags. Only a manager or an admin changes the ``owner`` of
        a record another user owns (a sales user may take an unowned one).
        """
        values = {**_changes(f"{self.entity} #{record_id}", changes), **more}
        with self._tx() as s:
            obj = get_or_404(s, self.model, record_id, self.entity)
            check_version(obj, label(self.entity, obj), expected_version)
            self.write_fields(s, obj, values, creating=False)
            s.flush()
            return self._as_dict(s, obj)

    @retried_when_blind
    def archive(self, record_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Hide a record from searches without deleting it (restore() brings it back)."""
        return self._set_active(record_id, False, expected_version)

    @retried_when_blind
    def restore(self, record_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Bring back an archived record."""
        return self._set_active(record_id, True, expected_version)

    def _set_active(self, record_id: int, active: bool, expected: int | None) -> dict[str, Any]:
        with self._tx() as s:
            obj = get_or_404(s, self.model, record_id, self.entity)
            check_version(obj, label(self.entity, obj), expected)
            obj.active = active
            s.flush()
            return self._as_dict(s, obj)

    def get(self, record_id: int) -> dict[str, Any]:
        """One record as a dict (tags as names, custom values typed)."""
        with self._tx() as s:
            return self._as_dict(s, get_or_404(s, self.model, record_id, self.entity))

    # -- queries ------------------------------------------------------------------
    def _filtered(
        self,
        s: Session,
        q: str | None,
        email: str | None,
        phone: str | None,
        tag: str | None,
        city: str | None,
        country: str | None,
        owner: Any,
        custom: Mapping[str, Any] | None,
        include_archived: bool,
        extra: Mapping[str, Any],
    ) -> Select[Any]:
        m = self.model
        query = select(m.id)
        record = f"{self.entity} search"
        errors: list[FieldError] = []
        given = {"q": q, "email": email, "phone": phone, "tag": tag, "city": city}
        q, email, phone, tag, city = _text_filters(record, given, errors).values()
        if custom is not None and not isinstance(custom, Mapping):
            reason = "must be a mapping of name to value"
            errors.append(FieldError(record, "custom", custom, reason))
            custom = None
        if not include_archived:
            # An exact e-mail or phone finds a handful of records through its own
            # index; "active" must not lure the planner onto the (active, name) index
            # instead (see db.not_indexed).
            active = db.not_indexed(m.active) if email or phone else m.active
            query = query.where(active.is_(True))
        for word in text.words(q):
            terms = select(SearchTerm.record_id).where(
                SearchTerm.entity == self.entity,
                SearchTerm.term >= word,
                SearchTerm.term < word + text.PREFIX_END,
            )
            query = query.where(m.id.in_(terms))
        if email:
            query = query.where(m.email_key == text.fold(email)[:EMAIL_KEY])
        if phone:
            query = query.where(self._phone_clause(phone))
        if tag:
            tagged = (
                select(getattr(self.tag_table.c, self.tag_column))
                .join(Tag, Tag.id == self.tag_table.c.tag_id)
                .where(Tag.name_key == text.fold(tag))
            )
            query = query.where(m.id.in_(tagged))
        if city:
            query = query.where(m.city_key == text.fold(city)[:CITY_KEY])
        if country:
            try:
                query = query.where(m.country == v.country(country))
            except Reject as exc:
                errors.append(FieldError(record, "country", country, str(exc)))
        if owner is not None:
            try:
                query = query.where(m.owner_id == user_ref(s)(owner))
            except Reject as exc:
                errors.append(FieldError(record, "owner", owner, str(exc)))
        for name, wanted in (custom or {}).items():
            query = query.where(self._custom_clause(s, name, wanted, record, errors))
        for name, wanted in extra.items():
            query = query.where(getattr(m, name) == wanted)
        raise_if(errors)
        return query

    def _phone_clause(self, phone: str) -> Any:
        """Records whose phone (or mobile) is ``phone``, as search reads it.

        A national-format number is read in every phone region (see
        :func:`crm_core.validation.phone_readings`); each reading matches the records of
        its region, and the workspace region's reading any record (that is how a number
        of a record with no country was read). A phone kept as its source wrote it is
        found by that same text.
        """
        m = self.model
        columns = [m.phone] + ([m.mobile] if hasattr(m, "mobile") else [])
        region = self.ws.phone_region
        clauses = []
        for e164, regions in v.phone_readings(phone).items():
            match = or_(*(c == e164 for c in columns))
            if None in regions or region in regions:
                clauses.append(match)
            else:
                clauses.append(and_(match, m.country.in_(sorted(r for r in regions if r))))
        written = {phone, phone.strip()}
        clauses += [c.in_(sorted(written)) for c in columns]
        return or_(*clauses)

    def _custom_clause(
        self, s: Session, name: str, wanted: Any, record: str, errors: list[FieldError]
    ) -> Any:
        from crm_core.services.custom_fields import clean_custom_value

        if not isinstance(name, str) or v.query_text(name) is None:
            errors.append(FieldError(record, "custom", name, "is not a custom field name"))
            return and_(True)
        definition = s.scalars(
            select(CustomFieldDefinition).where(
                CustomFieldDefinition.entity == self.entity, CustomFieldDefinition.name == name
            )
        ).first()
        if definition is None:
            errors.append(
                FieldError(
                    record, f"custom.{name}", wanted, f"is not a custom field of {self.entity}"
                )
            )
            return and_(True)
        if definition.type == "choice" and isinstance(wanted, str):
            # A choice is found in any case, as the rest of search finds text.
            key = text.fold(wanted)
            wanted = next((c for c in definition.choices or [] if text.fold(c) == key), wanted)
        try:
            stored = clean_custom_value(definition, wanted)
        except Reject as exc:
            errors.append(FieldError(record, f"custom.{name}", wanted, str(exc)))
            return and_(True)
        element = self.model.custom[name]
        if definition.type == "bool":
            return element.as_boolean() == stored
        if definition.type in ("text", "choice") and isinstance(stored, str):
            return element.as_string().in_(_values_folded_as(s, element.as_string(), stored))
        return element.as_string() == stored

    def search(
        self,
        q: str | None = None,
        *,
        email: str | None = None,
        phone: str | None = None,
        tag: str | None = None,
        city: str | None = None,
        country: str | None = None,
        owner: Any = None,
        custom: Mapping[str, Any] | None = None,
        include_archived: bool = False,
        order_by: str = "name",
        descending: bool = False,
        limit: int = 50,
        offset: int = 0,
        **extra: Any,
    ) -> pd.DataFrame:
        """Find records; every filter given must match. Returns one page as a DataFrame.

        ``q`` matches names word by word: each query word must start a word of the
        name (Unicode-normalised and case-folded, any script); a ``q`` typed as a phone
        number (six digits or more, with spaces, dashes, dots, brackets or a leading
        +) is searched as ``phone`` instead. ``email`` is exact
        (case-insensitive); ``phone`` matches phone or mobile: as the number it is read
        as in the record's own country or the workspace region (E.164), or as the very
        text of a phone kept as its source wrote it. ``id`` (and, for contacts,
        ``company_id``) match exactly. ``order_by`` is one of name, city, email,
        created, updated, id, country; ``limit``/``offset`` page the result.
        """
        record = f"{self.entity} search"
        _check_page(record, order_by, ORDERS, limit, offset)
        errors: list[FieldError] = []
        q = _text_filters(record, {"q": q}, errors)["q"]
        raise_if(errors)
        q, phone = phone_query(q, phone)
        extra = self._extra_filters(extra)
        only_words = (
            text.words(q)
            and order_by == "name"
            and not (
                email or phone or tag or city or country or owner is not None or custom or extra
            )
        )
        with self._tx() as s:
            if only_words:
                # The type-ahead case: one page straight from the word index.
                page = self._name_page(
                    s, text.words(q), include_archived, descending, limit, offset
                )
                rows = s.execute(self._listing().where(self.model.id.in_(page))).mappings().all()
                rank = {record_id: i for i, record_id in enumerate(page)}
                rows = sorted(rows, key=lambda r: rank[r["id"]])
            else:
                ids = self._filtered(
                    s,
                    q,
                    email,
                    phone,
                    tag,
                    city,
                    country,
                    owner,
                    custom,
                    include_archived,
                    extra,
                )
                column = getattr(self.model, ORDERS[order_by])
                # Descending is the exact reverse of ascending, ties included.
                order = (
                    [column.desc(), self.model.id.desc()]
                    if descending
                    else [column.asc(), self.model.id.asc()]
                )
                # The filters apply to the listing itself (not as "id IN (...)"), so a
                # page in index order is read from the index with no sort of all rows.
                query = self._listing()
                if ids.whereclause is not None:
                    query = query.where(ids.whereclause)
                query = query.order_by(*order)
                rows = s.execute(query.limit(limit).offset(offset)).mappings().all()
            frame = pd.DataFrame([dict(r) for r in rows], columns=self._listing_columns())
            frame["tags"] = self._tag_names(s, list(frame["id"]))
        return frame

    def _name_page(
        self,
        s: Session,
        words: list[str],
        include_archived: bool,
        descending: bool,
        limit: int,
        offset: int,
    ) -> list[int]:
        """Ids of one page of records whose name has a word starting with each of
        ``words``, in name order, read from the word index alone (no table lookups,
        however many records match)."""
        t = SearchTerm
        first, *rest = sorted(words, key=len, reverse=True)  # the longest: fewest matches
        query = select(t.record_id).where(
            t.entity == self.entity, t.term >= first, t.term < first + text.PREFIX_END
        )
        if not include_archived:
            query = query.where(t.active.is_(True))
        for word in rest:
            # Checked on the same index row: no second range to build and probe.
            query = query.where(t.words.contains(f" {word}", autoescape=True))
        order = (t.sort_key.desc(), t.record_id.desc()) if descending else (t.sort_key, t.record_id)
        query = query.order_by(*order)
        # ORDER BY ... LIMIT keeps only the top rows while scanning (no full sort, no
        # GROUP BY); a record with two words matching appears twice, so fetch more and
        # de-duplicate, fetching again in the rare case that was not enough.
        want = offset + limit
        fetch = want * 2
        while True:
            found = list(s.scalars(query.limit(fetch)))
            ids = list(dict.fromkeys(found))
            if len(ids) >= want or len(found) < fetch:
                return ids[offset:want]
            fetch *= 2

    def count(self, q: str | None = None, **filters: Any) -> int:
        """How many records :meth:`search` would find with the same filters (all pages)."""
        with self._tx() as s:
            ids = self.matching(s, q, **filters)
            return int(s.scalar(select(func.count()).select_from(ids.subquery())) or 0)

    def matching(self, s: Session, q: str | None = None, **filters: Any) -> Select[Any]:
        """The ids of the records :meth:`search` would find with the same filters (a
        segment's, say), as a query for the caller's session ``s``: its
        ``whereclause`` restricts another query of this table to them (how a workbook
        exports a segment). Filters are checked as search checks them."""
        names = ("email", "phone", "tag", "city", "country", "owner", "custom")
        known = {k: filters.pop(k, None) for k in names}
        q, known["phone"] = phone_query(q, known["phone"])
        include_archived = bool(filters.pop("include_archived", False))
        extra = self._extra_filters(filters)
        return self._filtered(
            s,
            q,
            known["email"],
            known["phone"],
            known["tag"],
            known["city"],
            known["country"],
            known["owner"],
            known["custom"],
            include_archived,
            extra,
        )

    def ids_named(self, name: str, *, include_archived: bool = False) -> list[int]:
        """Ids of the records named exactly ``name`` (Unicode-normalised, any case), in
        id order: how a name typed into a form is resolved to its record."""
        try:
            key = text.fold(v.query_text(name))[:NAME_KEY]
        except Reject as exc:
            error = FieldError(f"{self.entity} name", "name", name, str(exc))
            raise ValidationError([error]) from None
        if not key:
            return []
        query = select(self.model.id).where(self.model.name_key == key)
        if not include_archived:
            query = query.where(self.model.active.is_(True))
        with self._tx() as s:
            return list(s.scalars(query.order_by(self.model.id)))

    def _extra_filters(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        record = f"{self.entity} search"
        errors = [
            FieldError(record, name, extra[name], "is not a search filter")
            for name in sorted(set(extra) - set(self._extra_names()))
        ]
        out: dict[str, Any] = {}
        for name in self._extra_names():
            if name in extra:
                try:
                    out[name] = id_filter(extra[name], f"a {name.removesuffix('_id') or 'record'}")
                except Reject as exc:
                    errors.append(FieldError(record, name, extra[name], str(exc)))
        raise_if(errors)
        return out

    def _extra_names(self) -> tuple[str, ...]:
        # ``id``: one record in its listing form, e.g. to refresh a row of a page.
        return ("id",)

    def _tag_names(self, s: Session, ids: list[int]) -> list[str]:
        if not ids:
            return []
        key = getattr(self.tag_table.c, self.tag_column)
        found: dict[int, list[str]] = {}
        rows = s.execute(
            select(key, Tag.name)
            .join(Tag, Tag.id == self.tag_table.c.tag_id)
            .where(key.in_(ids))
            .order_by(Tag.name_key)
        )
        for record_id, name in rows:
            found.setdefault(record_id, []).append(name)
        return [", ".join(found.get(i, [])) for i in ids]

    def _listing(self) -> Any:
        raise NotImplementedError

    def _listing_columns(self) -> list[str]:
        raise NotImplementedError

    def _as_dict(self, s: Session, obj: Any) -> dict[str, Any]:
        from crm_core.services.custom_fields import typed

        types = dict(
            s.execute(
                select(CustomFieldDefinition.name, CustomFieldDefinition.type).where(
                    CustomFieldDefinition.entity == self.entity
                )
            ).all()
        )
        out = {
            c.key: getattr(obj, c.key)
            for c in obj.__mapper__.column_attrs
            if not c.key.endswith("_key")
        }
        out["tags"] = [t.name for t in obj.tags]
        out["custom"] = {
            k: typed(types.get(k, "text"), val) for k, val in (obj.custom or {}).items()
        }
        return out


class Companies(_Parties):
    """Organisations: customers, prospects, partners."""

    entity = "company"
    model = Company
    tag_table = company_tags
    tag_column = "company_id"

    keep_fields: ClassVar[tuple[str, ...]] = (*_Parties.keep_fields, "website", "vat")

    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            **super()._cleaners(s),
            "website": partial(v.optional_text, max_len=300),
            "vat": partial(v.optional_text, max_len=40),
        }

    def _listing(self) -> Any:
        c = Company
        return select(
            c.id,
            c.name,
            c.email,
            c.phone,
            c.city,
            c.country,
            c.website,
            c.vat,
            User.name.label("owner"),
            c.active,
            c.version,
        ).outerjoin(User, User.id == c.owner_id)

    def _listing_columns(self) -> list[str]:
        return [
            "id",
            "name",
            "email",
            "phone",
            "city",
            "country",
            "website",
            "vat",
            "owner",
            "active",
            "version",
        ]


class Contacts(_Parties):
    """People, optionally working at a company."""

    entity = "contact"
    model = Contact
    tag_table = contact_tags
    tag_column = "contact_id"

    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            **super()._cleaners(s),
            "company_id": record_ref(s, Company, "company"),
            "job_title": partial(v.optional_text, max_len=200),
            "mobile": self.phone_cleaner(None),
            "language": v.language,
            "birthday": v.date_value,
            # "no marketing e-mail": campaign sends skip them (crm_core.mail)
            "no_marketing": v.boolean,
        }

    keep_fields: ClassVar[tuple[str, ...]] = (
        *_Parties.keep_fields,
        "job_title",
        "mobile",
        "language",
    )
    phone_fields: ClassVar[tuple[str, ...]] = ("phone", "mobile")

    def write_fields(
        self,
        s: Session,
        obj: Any,
        values: Mapping[str, Any],
        creating: bool,
        keep_invalid: bool = False,
    ) -> None:
        if isinstance(values, Mapping) and "company" in values:
            values = dict(values)
            values["company_id"] = values.pop("company")
        super().write_fields(s, obj, values, creating, keep_invalid)

    def _extra_names(self) -> tuple[str, ...]:
        return ("company_id", "id")

    def _listing(self) -> Any:
        c = Contact
        return (
            select(
                c.id,
                c.name,
                c.email,
                c.phone,
                c.mobile,
                c.city,
                c.country,
                Company.name.label("company"),
                c.job_title,
                c.language,
                User.name.label("owner"),
                c.active,
                c.version,
            )
            .outerjoin(Company, Company.id == c.company_id)
            .outerjoin(User, User.id == c.owner_id)
        )

    def _listing_columns(self) -> list[str]:
        return [
            "id",
            "name",
            "email",
            "phone",
            "mobile",
            "city",
            "country",
            "company",
            "job_title",
            "language",
            "owner",
            "active",
            "version",
        ]


def _text_filters(
    record: str, given: Mapping[str, Any], errors: list[FieldError]
) -> dict[str, str | None]:
    """The text filters of a search, each checked to be text a database can be asked
    about (refusals go to ``errors`` and the filter is dropped)."""
    out: dict[str, str | None] = {}
    for name, value in given.items():
        try:
            out[name] = v.query_text(value)
        except Reject as exc:
            errors.append(FieldError(record, name, value, str(exc)))
            out[name] = None
    return out


def _check_page(
    record: str, order_by: Any, orders: Mapping[str, Any], limit: Any, offset: Any
) -> None:
    """Refuse a sort key that is not one of ``orders`` and a page out of bounds."""
    errors = []
    if not isinstance(order_by, str) or order_by not in orders:
        reason = f"must be one of {', '.join(orders)}"
        errors.append(FieldError(record, "order_by", order_by, reason))
    if not (type(limit) is int and 0 < limit <= MAX_PAGE):
        errors.append(FieldError(record, "limit", limit, f"must be a whole number 1..{MAX_PAGE}"))
    if not (type(offset) is int and 0 <= offset <= v.MAX_ID):
        errors.append(FieldError(record, "offset", offset, f"must be a whole number 0..{v.MAX_ID}"))
    raise_if(errors)


def _changes(record: str, changes: Any) -> Mapping[str, Any]:
    """An update's ``changes``: a mapping of field to value (None: no changes)."""
    if changes is None:
        return {}
    if not isinstance(changes, Mapping):
        reason = "must be a mapping of field to value"
        raise ValidationError([FieldError(record, "changes", changes, reason)])
    return changes


def _values_folded_as(s: Session, column: Any, wanted: str) -> list[str]:
    """The values ``column`` (a custom text or choice field's) holds that search reads
    as ``wanted``: Unicode-normalised and case-folded (:func:`crm_core.text.fold`), as
    names, cities and tags are searched. Folded here, in Python, so that SQLite and
    PostgreSQL find the same records; the distinct values are read in batches."""
    key = text.fold(wanted)
    found: list[str] = []
    rows = s.execute(
        select(column).where(column.is_not(None)).distinct().execution_options(yield_per=5000)
    ).scalars()
    for value in rows:
        if isinstance(value, str) and text.fold(value) == key:
            found.append(value)
    return found
