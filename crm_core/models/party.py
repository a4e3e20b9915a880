"""Companies, contacts, tags and staff users."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core import collation
from crm_core.models.base import Base, SortedByName, Versioned

ROLES = ("admin", "manager", "sales")

company_tags = Table(
    "company_tags",
    Base.metadata,
    Column("company_id", ForeignKey("companies.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)
contact_tags = Table(
    "contact_tags",
    Base.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(Versioned, Base):
    """A staff member: owner of records, assignee of activities, author of changes."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    login: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(20), default="sales")
    #: The sales team the user works in (free text such as "Karachi"); reports filter on it.
    team: Mapped[str | None] = mapped_column(String(100))
    password_hash: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: The language the staff app speaks to this user (``ur``, ``bn``, ...); None: the
    #: workspace's default.
    language: Mapped[str | None] = mapped_column(String(16))


class Tag(Versioned, Base):
    """A label on companies, contacts and opportunities; names are unique case-insensitively."""

    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    color: Mapped[int] = mapped_column(default=0)


class _PartyFields(SortedByName):
    """Address and communication fields that companies and contacts share.

    The text columns have no length limit in the database: the services limit what a
    person types, but a value that arrives from an ERP or a file is kept whole, as
    written, even when it breaks those rules (see ``unvalidated``).
    """

    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(String(300), index=True)
    email: Mapped[str | None] = mapped_column(Text)
    email_key: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(Text, index=True)
    street: Mapped[str | None] = mapped_column(Text)
    street2: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(Text)
    city_key: Mapped[str | None] = mapped_column(String(120), index=True)
    zip: Mapped[str | None] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text)
    country: Mapped[str | None] = mapped_column(String(2))
    notes: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Fields holding a value kept as its source wrote it although crm_core would refuse
    #: it from a keyboard (a phone that is no valid number, a reserved e-mail domain):
    #: field -> the reason. None when every value passed validation.
    unvalidated: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))


class Company(_PartyFields, Versioned, Base):
    """An organisation: a customer, prospect or partner."""

    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(primary_key=True)
    website: Mapped[str | None] = mapped_column(Text)
    vat: Mapped[str | None] = mapped_column(Text)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=company_tags, order_by=Tag.name_key)
    contacts: Mapped[list[Contact]] = relationship(back_populates="company")
    # Counting and paging the active records in name order read this index alone.
    __table_args__ = (Index("ix_companies_active_sort", "active", "sort_key"),)


class Contact(_PartyFields, Versioned, Base):
    """A person, optionally working at a company."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    company: Mapped[Company | None] = relationship(back_populates="contacts")
    job_title: Mapped[str | None] = mapped_column(Text)
    mobile: Mapped[str | None] = mapped_column(Text, index=True)
    language: Mapped[str | None] = mapped_column(String(16))
    birthday: Mapped[dt.date | None] = mapped_column(Date)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner: Mapped[User | None] = relationship()
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, order_by=Tag.name_key)
    #: Asked for no marketing e-mail (campaign sends skip them; crm_core.mail).
    no_marketing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: Their address bounced (a delivery failure report came back; crm_core.mail).
    email_bouncing: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Counting and paging the active records in name order read this index alone.
    __table_args__ = (Index("ix_contacts_active_sort", "active", "sort_key"),)


class SearchTerm(Base):
    """One folded word of a company's or contact's name, for indexed word-prefix search.

    A query word matches a record when it is a prefix of one of its terms: an index
    range scan on ``(entity, term)`` whatever the script, instead of a LIKE scan.
    """

    __tablename__ = "search_terms"
    entity: Mapped[str] = mapped_column(String(20), primary_key=True)
    term: Mapped[str] = mapped_column(String(120), primary_key=True)
    record_id: Mapped[int] = mapped_column(primary_key=True)
    #: The record's name's sort key (crm_core.collation) and whether it is active,
    #: copied here so that a name search sorted by name reads only this index (SQLite
    #: keeps the table in its primary key: WITHOUT ROWID), however many records match.
    sort_key: Mapped[str] = mapped_column(String(collation.KEY_LENGTH), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: All the record's words, " w1 w2 ", so the other words of a query are checked on
    #: the same row (LIKE '% w2%') instead of through a second index range.
    words: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        Index("ix_search_terms_record", "entity", "record_id"),
        {"sqlite_with_rowid": False},
    )
