"""Companies and contacts: create, update, archive, restore, get and search."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from crm_core import text
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
    label,
    raise_if,
    record_ref,
    tags_for,
    user_ref,
)
from crm_core.validation import Reject

ORDERS = {
    "name": "name_key",
    "city": "city_key",
    "email": "email_key",
    "created": "created_at",
    "updated": "updated_at",
    "id": "id",
    "country": "country",
}
MAX_PAGE = 10_000


class _Parties(Service):
    """Shared behaviour of :class:`Companies` and :class:`Contacts`."""

    model: type[Company] | type[Contact]
    tag_table: Any
    tag_column: str

    # -- validation ---------------------------------------------------------------
    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        region = self.ws.phone_region
        return {
            "name": partial(v.required_text, max_len=300),
            "email": v.email,
            "phone": partial(v.phone, region=region),
            "street": partial(v.optional_text, max_len=300),
            "street2": partial(v.optional_text, max_len=300),
            "city": partial(v.optional_text, max_len=120),
            "zip": partial(v.optional_text, max_len=20),
            "state": partial(v.optional_text, max_len=120),
            "country": v.country,
            "notes": partial(v.optional_text, max_len=100_000),
            "owner_id": user_ref(s),
        }

    def write_fields(self, s: Session, obj: Any, values: Mapping[str, Any], creating: bool) -> None:
        """Validate ``values`` and set them on ``obj`` inside the caller's session.

        The building block of create/update, public for callers that manage their own
        transaction (the ERP sync). Raises :class:`ValidationError` listing every
        refused field; the valid ones are set on ``obj`` all the same.
        """
        values = dict(values)
        if "owner" in values:
            values["owner_id"] = values.pop("owner")
        record = label(self.entity, None if creating else obj, values.get("name"))
        errors: list[FieldError] = []
        tags = values.pop("tags", None)
        custom = values.pop("custom", None)
        if "active" in values:
            errors.append(
                FieldError(record, "active", values.pop("active"), "use archive() or restore()")
            )
        if creating and "name" not in values:
            errors.append(FieldError(record, "name", None, "is required"))
        apply_fields(obj, values, self._cleaners(s), record, errors)
        if tags is not None:
            try:
                obj.tags = tags_for(s, tags)
            except Reject as exc:
                errors.append(FieldError(record, "tags", tags, str(exc)))
        if custom is not None or creating:
            obj.custom = custom_values(s, self.entity, obj.custom, custom, record, errors, creating)
        raise_if(errors)
        obj.name_key = text.fold(obj.name)[:300]
        obj.email_key = text.fold(obj.email) or None
        obj.city_key = text.fold(obj.city) or None

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
        replaces the record's tags.
        """
        values = {**(changes or {}), **more}
        with self._tx() as s:
            obj = get_or_404(s, self.model, record_id, self.entity)
            check_version(obj, label(self.entity, obj), expected_version)
            self.write_fields(s, obj, values, creating=False)
            s.flush()
            return self._as_dict(s, obj)

    def archive(self, record_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Hide a record from searches without deleting it (restore() brings it back)."""
        return self._set_active(record_id, False, expected_version)

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
        if not include_archived:
            query = query.where(m.active.is_(True))
        for word in text.words(q):
            terms = select(SearchTerm.record_id).where(
                SearchTerm.entity == self.entity,
                SearchTerm.term >= word,
                SearchTerm.term < word + text.PREFIX_END,
            )
            query = query.where(m.id.in_(terms))
        if email:
            query = query.where(m.email_key == text.fold(email))
        if phone:
            try:
                number = v.phone(phone, self.ws.phone_region)
            except Reject as exc:
                errors.append(FieldError(record, "phone", phone, str(exc)))
            else:
                columns = [m.phone] + ([m.mobile] if hasattr(m, "mobile") else [])
                query = query.where(or_(*(c == number for c in columns)))
        if tag:
            tagged = (
                select(getattr(self.tag_table.c, self.tag_column))
                .join(Tag, Tag.id == self.tag_table.c.tag_id)
                .where(Tag.name_key == text.fold(tag))
            )
            query = query.where(m.id.in_(tagged))
        if city:
            query = query.where(m.city_key == text.fold(city))
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

    def _custom_clause(
        self, s: Session, name: str, wanted: Any, record: str, errors: list[FieldError]
    ) -> Any:
        from crm_core.services.custom_fields import clean_custom_value

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
        try:
            stored = clean_custom_value(definition, wanted)
        except Reject as exc:
            errors.append(FieldError(record, f"custom.{name}", wanted, str(exc)))
            return and_(True)
        element = self.model.custom[name]
        if definition.type == "bool":
            return element.as_boolean() == stored
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
        name (Unicode-normalised and case-folded, any script). ``email`` is exact
        (case-insensitive); ``phone`` is normalised to E.164 in the workspace region
        and matches phone or mobile. ``id`` (and, for contacts, ``company_id``) match
        exactly. ``order_by`` is one of name, city, email, created, updated, id,
        country; ``limit``/``offset`` page the result.
        """
        if order_by not in ORDERS:
            raise ValidationError(
                [
                    FieldError(
                        f"{self.entity} search",
                        "order_by",
                        order_by,
                        f"must be one of {', '.join(ORDERS)}",
                    )
                ]
            )
        if not (0 < limit <= MAX_PAGE) or offset < 0:
            raise ValidationError(
                [
                    FieldError(
                        f"{self.entity} search",
                        "limit",
                        limit,
                        f"must be 1..{MAX_PAGE} with offset >= 0",
                    )
                ]
            )
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
        names = ("email", "phone", "tag", "city", "country", "owner", "custom")
        known = {k: filters.pop(k, None) for k in names}
        include_archived = filters.pop("include_archived", False)
        extra = self._extra_filters(filters)
        with self._tx() as s:
            ids = self._filtered(
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
            return int(s.scalar(select(func.count()).select_from(ids.subquery())) or 0)

    def ids_named(self, name: str, *, include_archived: bool = False) -> list[int]:
        """Ids of the records named exactly ``name`` (Unicode-normalised, any case), in
        id order: how a name typed into a form is resolved to its record."""
        key = text.fold(name)[:300]
        if not key:
            return []
        query = select(self.model.id).where(self.model.name_key == key)
        if not include_archived:
            query = query.where(self.model.active.is_(True))
        with self._tx() as s:
            return list(s.scalars(query.order_by(self.model.id)))

    def _extra_filters(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(extra) - set(self._extra_names())
        if unknown:
            raise ValidationError(
                [
                    FieldError(f"{self.entity} search", name, extra[name], "is not a search filter")
                    for name in sorted(unknown)
                ]
            )
        return dict(extra)

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
            "mobile": partial(v.phone, region=self.ws.phone_region),
            "language": v.language,
            "birthday": v.date_value,
        }

    def write_fields(self, s: Session, obj: Any, values: Mapping[str, Any], creating: bool) -> None:
        values = dict(values)
        if "company" in values:
            values["company_id"] = values.pop("company")
        super().write_fields(s, obj, values, creating)

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
