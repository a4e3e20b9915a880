"""Segments (saved filters evaluated on demand) and campaigns.

Both are the whole team's: everyone reads them (a sales user's segment over deals
matches only their own deals, crm_core.access), and managers and admins change them
(:func:`crm_core.access.check_unrestricted`): a segment deleted or a campaign's
members changed moves the figures of every rep's campaigns. Campaign members (a table
without a version column) are journaled here, one row per member added or changed,
in the form a merge journals them (:mod:`crm_core.duplicates.relink`): the whole row.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core import access, journal
from crm_core import validation as v
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.journal import plain
from crm_core.models import Campaign, CampaignMember, Contact, Segment
from crm_core.services.base import (
    Cleaner,
    Service,
    apply_fields,
    fit_amount,
    get_or_404,
    raise_if,
)
from crm_core.services.unique import insert_unique
from crm_core.validation import Reject

SEGMENT_ENTITIES = ("contact", "company", "opportunity")

#: How many records one page holds when every record a segment matches is wanted
#: (:meth:`Segments.contact_ids`): memory stays bounded however large the segment.
PAGE = 10_000


class Segments(Service):
    """Saved filters: ``ws.segments``. A segment stores the filters, never the result,
    so it always reflects the current data."""

    entity = "segment"

    def _service(self, entity: str) -> Any:
        return {
            "contact": self.ws.contacts,
            "company": self.ws.companies,
            "opportunity": self.ws.pipeline,
        }[entity]

    def create(self, name: str, entity: str, **filters: Any) -> dict[str, Any]:
        """Save a filter under ``name``: the keyword arguments of the entity's search().

        The filter is checked by running it once, so a bad filter is refused now
        rather than when the segment is used. Managers and admins only.
        """
        record = f"segment {name!r}"
        access.check_unrestricted(self.ws, "create", record)
        errors: list[FieldError] = []
        try:
            name = v.required_text(name, 200)
        except Reject as exc:
            errors.append(FieldError(record, "name", name, str(exc)))
        if not isinstance(entity, str) or entity not in SEGMENT_ENTITIES:
            errors.append(
                FieldError(
                    record, "entity", entity, f"must be one of {', '.join(SEGMENT_ENTITIES)}"
                )
            )
        for paging in ("limit", "offset", "order_by"):
            if paging in filters:
                errors.append(
                    FieldError(
                        record, paging, filters[paging], "is not a filter; give it to evaluate()"
                    )
                )
        stored = _jsonable(filters)
        try:
            journal.encode(stored)
        except (TypeError, ValueError):
            errors.append(
                FieldError(record, "filters", filters, "must be text, numbers, dates or lists")
            )
        raise_if(errors)
        try:
            self._service(entity).search(**filters, limit=1)
        except TypeError as exc:
            raise ValidationError([FieldError(record, "filters", filters, str(exc))]) from None
        except ValidationError as exc:
            raise ValidationError(
                [FieldError(record, e.field, e.value, e.reason) for e in exc.errors]
            ) from None
        with self._tx() as s:
            if s.scalars(select(Segment).where(Segment.name == name)).first():
                raise_if([FieldError(record, "name", name, "already exists")])
            seg = Segment(name=name, entity=entity, filters=stored)
            s.add(seg)
            s.flush()
            return {"id": seg.id, "name": seg.name, "entity": seg.entity, "filters": seg.filters}

    def _get(self, s: Session, ref: int | str) -> Segment:
        if isinstance(ref, int):
            return get_or_404(s, Segment, ref, "segment")
        try:
            name = v.query_text(ref)
        except Reject:
            raise NotFoundError("segment", ref) from None
        found = s.scalars(select(Segment).where(Segment.name == name)).first() if name else None
        if found is None:
            raise NotFoundError("segment", ref)
        return found

    def get(self, segment: int | str) -> dict[str, Any]:
        """One segment by id or name: id, name, entity and filters."""
        with self._tx() as s:
            seg = self._get(s, segment)
            return {"id": seg.id, "name": seg.name, "entity": seg.entity, "filters": seg.filters}

    def evaluate(
        self, segment: int | str, *, limit: int = 1000, offset: int = 0, **order: Any
    ) -> pd.DataFrame:
        """The records the segment matches now, one page as a DataFrame."""
        with self._tx() as s:
            seg = self._get(s, segment)
            entity, filters = seg.entity, dict(seg.filters)
        return self._service(entity).search(**filters, limit=limit, offset=offset, **order)

    def contact_ids(self, segment: int | str, record: str) -> list[int]:
        """The id of every contact a contact segment matches now, read a :data:`PAGE`
        at a time in id order (so a contact added meanwhile comes last, not twice).

        A segment of companies or deals is refused (its ids are no contacts' ids),
        naming ``record`` (the campaign asking), the segment and its entity.
        """
        with self._tx() as s:
            seg = self._get(s, segment)
            entity, name = seg.entity, seg.name
        if entity != "contact":
            reason = f"is segment {name!r} of {entity} records; a campaign targets contacts"
            raise ValidationError([FieldError(record, "segment", segment, reason)])
        ids: list[int] = []
        while True:
            found = self.evaluate(segment, limit=PAGE, offset=len(ids), order_by="id")
            ids += [int(i) for i in found["id"]]
            if len(found) < PAGE:
                return ids

    def count(self, segment: int | str) -> int:
        """How many records the segment matches now."""
        with self._tx() as s:
            seg = self._get(s, segment)
            entity, filters = seg.entity, dict(seg.filters)
        return int(self._service(entity).count(**filters))

    def list(self) -> pd.DataFrame:
        """All segments with their filters."""
        with self._tx() as s:
            rows = [
                {"id": g.id, "name": g.name, "entity": g.entity, "filters": g.filters}
                for g in s.scalars(select(Segment).order_by(Segment.name))
            ]
        return pd.DataFrame(rows, columns=["id", "name", "entity", "filters"])

    def delete(self, segment: int | str) -> None:
        """Forget a segment (the records it matched are untouched; the campaigns sent to
        it keep their members and lose the segment, journaled). Managers and admins
        only."""
        access.check_unrestricted(self.ws, "delete", f"segment {segment!r}")
        with self._tx() as s:
            seg = self._get(s, segment)
            # Through the ORM, not one UPDATE: each campaign's change is journaled.
            for camp in s.scalars(select(Campaign).where(Campaign.segment_id == seg.id)):
                camp.segment_id = None
            s.flush()
            s.delete(seg)


def _jsonable(filters: dict[str, Any]) -> dict[str, Any]:
    return {key: plain(value) for key, value in filters.items()}


#: The journal's name of campaign memberships (their table's, as merges journal them).
MEMBERS = CampaignMember.__tablename__


def member_row(member: CampaignMember) -> dict[str, Any]:
    """A membership as its journal rows hold it: the whole row (its key included)."""
    return {c.key: getattr(member, c.key) for c in member.__mapper__.column_attrs}


class Campaigns(Service):
    """Campaigns and who they targeted: ``ws.campaigns``."""

    entity = "campaign"

    def create(self, name: str, **values: Any) -> dict[str, Any]:
        """Create a campaign: channel, starts_on, ends_on, cost (Decimal), currency.
        Managers and admins only."""
        record = f"campaign (new) {name!r}"
        access.check_unrestricted(self.ws, "create", record)
        with self._tx() as s:
            camp = Campaign()
            errors: list[FieldError] = []
            cleaners: dict[str, Cleaner] = {
                "name": partial(v.required_text, max_len=200),
                "channel": partial(v.optional_text, max_len=40),
                "starts_on": v.date_value,
                "ends_on": v.date_value,
                "cost": v.money,
                "currency": v.currency,
            }
            apply_fields(camp, {"name": name, **values}, cleaners, record, errors)
            if camp.cost is not None and camp.currency is None:
                camp.currency = self.ws.setting("currency")
            if camp.currency is not None:
                fit_amount(camp, "cost", camp.currency, record, errors)
            if camp.starts_on and camp.ends_on and camp.ends_on < camp.starts_on:
                errors.append(FieldError(record, "ends_on", camp.ends_on, "is before starts_on"))
            if s.scalars(select(Campaign).where(Campaign.name == camp.name)).first():
                errors.append(FieldError(record, "name", name, "already exists"))
            raise_if(errors)
            # Inserted unless the name exists, so a second user creating the same
            # campaign at the same moment gets "already exists" too, not a database
            # error (crm_core.services.unique).
            columns = [c.key for c in camp.__mapper__.column_attrs]
            given = {k: getattr(camp, k) for k in columns if getattr(camp, k) is not None}
            made, created = insert_unique(s, Campaign, "name", given)
            if not created:
                raise_if([FieldError(record, "name", name, "already exists")])
            return {k: getattr(made, k) for k in columns}

    def add_contacts(
        self,
        campaign_id: int,
        contact_ids: list[int] | None = None,
        *,
        segment: int | str | None = None,
    ) -> int:
        """Target contacts (given, or every contact a contact segment matches now; a
        segment of companies or deals is refused, nothing written).

        Contacts already targeted are kept as they are. Returns how many were added;
        each is journaled (``campaign_members``, ``create``, the new row). Managers and
        admins only.
        """
        record = f"campaign #{campaign_id}"
        access.check_unrestricted(self.ws, "add contacts to", record)
        if contact_ids is not None and (
            not isinstance(contact_ids, list | tuple | set | frozenset)
            or not all(type(i) is int for i in contact_ids)
        ):
            raise ValidationError(
                [FieldError(record, "contact_ids", contact_ids, "must be a list of contact ids")]
            )
        if segment is not None:
            contact_ids = [*(contact_ids or []), *self.ws.segments.contact_ids(segment, record)]
        with self._tx() as s:
            camp = get_or_404(s, Campaign, campaign_id, "campaign")
            wanted = list(dict.fromkeys(int(i) for i in contact_ids or []))
            possible = [i for i in wanted if v.is_id(i)]
            existing: set[int] = set()
            for start in range(0, len(possible), PAGE):  # bound each IN list
                chunk = possible[start : start + PAGE]
                existing.update(s.scalars(select(Contact.id).where(Contact.id.in_(chunk))))
            missing = [i for i in wanted if i not in existing]
            if missing:
                raise ValidationError(
                    [
                        FieldError(
                            f"campaign #{camp.id} {camp.name!r}",
                            "contact_ids",
                            missing,
                            "are not contacts",
                        )
                    ]
                )
            have = set(
                s.scalars(
                    select(CampaignMember.contact_id).where(CampaignMember.campaign_id == camp.id)
                )
            )
            now = self.ws.clock()
            new = [i for i in wanted if i not in have]
            added = [CampaignMember(campaign_id=camp.id, contact_id=i, added_at=now) for i in new]
            s.add_all(added)
            if segment is not None and camp.segment_id is None:
                camp.segment_id = self.ws.segments._get(s, segment).id
            s.flush()
            journal.records(
                s, MEMBERS, ((m.campaign_id, "create", None, None, member_row(m)) for m in added)
            )
            return len(new)

    def responded(self, campaign_id: int, contact_id: int, at: Any = None) -> None:
        """Record that a targeted contact responded (journaled: ``campaign_members``,
        ``update`` of ``responded_at``, the row before and after). Managers and admins
        only, like every change of a campaign."""
        access.check_unrestricted(self.ws, "record a response to", f"campaign #{campaign_id}")
        with self._tx() as s:
            member = None
            if v.is_id(campaign_id) and v.is_id(contact_id):
                member = s.get(CampaignMember, (campaign_id, contact_id))
            if member is None:
                raise NotFoundError("campaign member", (campaign_id, contact_id))
            before = member_row(member)
            try:
                member.responded_at = v.aware_datetime(at) or self.ws.clock()
            except Reject as exc:
                raise ValidationError(
                    [FieldError(f"campaign #{campaign_id}", "at", at, str(exc))]
                ) from None
            after = member_row(member)
            if after != before:
                s.flush()
                journal.record(
                    s, MEMBERS, member.campaign_id, "update", "responded_at", before, after
                )

    def members(self, campaign_id: int) -> pd.DataFrame:
        """The contacts a campaign targeted, with when they responded."""
        with self._tx() as s:
            get_or_404(s, Campaign, campaign_id, "campaign")
            rows = (
                s.execute(
                    select(
                        Contact.id,
                        Contact.name,
                        Contact.email,
                        CampaignMember.added_at,
                        CampaignMember.responded_at,
                    )
                    .join(CampaignMember, CampaignMember.contact_id == Contact.id)
                    .where(CampaignMember.campaign_id == campaign_id)
                    .order_by(Contact.sort_key, Contact.id)
                )
                .mappings()
                .all()
            )
        return pd.DataFrame(
            [dict(r) for r in rows], columns=["id", "name", "email", "added_at", "responded_at"]
        )

    def list(self) -> pd.DataFrame:
        """Every campaign, latest start first (undated ones last), then by name: id,
        name, channel, starts_on, ends_on, cost, currency and its segment's name."""
        columns = ["id", "name", "channel", "starts_on", "ends_on", "cost", "currency", "segment"]
        with self._tx() as s:
            rows = s.execute(
                select(
                    Campaign.id,
                    Campaign.name,
                    Campaign.channel,
                    Campaign.starts_on,
                    Campaign.ends_on,
                    Campaign.cost,
                    Campaign.currency,
                    Segment.name.label("segment"),
                )
                .outerjoin(Segment, Segment.id == Campaign.segment_id)
                .order_by(Campaign.starts_on.is_(None), Campaign.starts_on.desc(), Campaign.name)
            ).all()
        return pd.DataFrame([tuple(r) for r in rows], columns=columns)

    def count(self) -> int:
        """How many campaigns exist."""
        with self._tx() as s:
            return int(s.scalar(select(func.count()).select_from(Campaign)) or 0)
