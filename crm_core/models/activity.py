"""Activities (things to do) and interactions (things that happened)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, Money, UTCDateTime, Versioned

ACTIVITY_KINDS = ("call", "meeting", "email", "todo")
CHANNELS = ("email", "call", "meeting", "message", "note")
DIRECTIONS = ("in", "out")


class Activity(Versioned, Base):
    """A planned action for a staff member, linked to a contact, company or opportunity."""

    __tablename__ = "activities"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    due_date: Mapped[dt.date] = mapped_column(Date)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    done_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), index=True)
    #: Fields kept as the ERP wrote them although refused from a keyboard: field -> why.
    unvalidated: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    __table_args__ = (Index("ix_activities_open", "assignee_id", "done_at", "due_date"),)


class Interaction(Versioned, Base):
    """Something that happened with a customer: an e-mail, call, meeting, message or note."""

    __tablename__ = "interactions"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    direction: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    subject: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id"), index=True)


class Campaign(Versioned, Base):
    """A marketing or sales push: who was targeted, at what cost."""

    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str | None] = mapped_column(String(40))
    starts_on: Mapped[dt.date | None] = mapped_column(Date)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    cost: Mapped[Decimal | None] = mapped_column(Money)
    currency: Mapped[str | None] = mapped_column(String(3))
    segment_id: Mapped[int | None] = mapped_column(ForeignKey("segments.id"))


class CampaignMember(Base):
    """A contact targeted by a campaign, and whether they responded."""

    __tablename__ = "campaign_members"
    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), primary_key=True, index=True)
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    responded_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class Segment(Versioned, Base):
    """A saved filter over contacts, companies or opportunities, evaluated on demand."""

    __tablename__ = "segments"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    entity: Mapped[str] = mapped_column(String(20))
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class CustomFieldDefinition(Versioned, Base):
    """A field a workspace adds to an entity; values live in the entity's ``custom`` JSON."""

    __tablename__ = "custom_field_definitions"
    id: Mapped[int] = mapped_column(primary_key=True)
    entity: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))
    label: Mapped[str | None] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(10))
    choices: Mapped[list[str] | None] = mapped_column(JSON)
    required: Mapped[bool] = mapped_column(default=False)
    __table_args__ = (UniqueConstraint("entity", "name"),)


class JournalEntry(Base):
    """One change to one field of one record: the audit log and the sync's push source.

    ``field`` is None for a whole-record event (create, delete); ``old``/``new`` hold
    JSON-encoded values. ``origin`` names what made a change that no staff member typed,
    such as ``sync:<backend>`` for values a sync brought in (the push skips those).
    """

    __tablename__ = "journal"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    entity: Mapped[str] = mapped_column(String(40))
    record_id: Mapped[int] = mapped_column()
    action: Mapped[str] = mapped_column(String(10))
    field: Mapped[str | None] = mapped_column(String(80))
    old: Mapped[str | None] = mapped_column(Text)
    new: Mapped[str | None] = mapped_column(Text)
    origin: Mapped[str | None] = mapped_column(String(220))
    __table_args__ = (Index("ix_journal_record", "entity", "record_id"),)


class Setting(Base):
    """A workspace setting, such as the default phone region."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(300))
