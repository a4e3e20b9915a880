"""Pipelines, stages, opportunities and their stage history."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm_core.models.base import Base, Money, SortedByName, UTCDateTime, Versioned
from crm_core.models.party import Company, Contact, Tag, User

OPPORTUNITY_TYPES = ("lead", "opportunity")
STATUSES = ("open", "won", "lost")

opportunity_tags = Table(
    "opportunity_tags",
    Base.metadata,
    Column("opportunity_id", ForeignKey("opportunities.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Pipeline(Versioned, Base):
    """An ordered set of stages a deal moves through."""

    __tablename__ = "pipelines"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    stages: Mapped[list[Stage]] = relationship(back_populates="pipeline", order_by="Stage.sequence")


class Stage(Versioned, Base):
    """One step of a pipeline, with the probability a deal there usually has."""

    __tablename__ = "stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"), index=True)
    pipeline: Mapped[Pipeline] = relationship(back_populates="stages")
    name: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[int] = mapped_column(Integer)
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    is_lost: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (UniqueConstraint("pipeline_id", "name"),)


class LostReason(Versioned, Base):
    """Why deals are lost; chosen when a deal is marked lost."""

    __tablename__ = "lost_reasons"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Opportunity(SortedByName, Versioned, Base):
    """A lead (unqualified) or an opportunity (qualified deal) in a pipeline."""

    __tablename__ = "opportunities"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    name_key: Mapped[str] = mapped_column(String(300))
    type: Mapped[str] = mapped_column(String(20), default="opportunity")
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"), index=True)
    company: Mapped[Company | None] = relationship()
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    contact: Mapped[Contact | None] = relationship()
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    owner: Mapped[User | None] = relationship()
    pipeline_id: Mapped[int] = mapped_column(ForeignKey("pipelines.id"))
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    stage: Mapped[Stage] = relationship()
    expected_revenue: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    currency: Mapped[str] = mapped_column(String(3))
    probability: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    expected_close: Mapped[dt.date | None] = mapped_column(Date)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="open")
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    lost_reason_id: Mapped[int | None] = mapped_column(ForeignKey("lost_reasons.id"))
    lost_reason: Mapped[LostReason | None] = relationship()
    lost_note: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(100))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    description: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    custom: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Fields kept as the ERP wrote them although refused from a keyboard: field -> why.
    unvalidated: Mapped[dict[str, str] | None] = mapped_column(JSON(none_as_null=True))
    tags: Mapped[list[Tag]] = relationship(secondary=opportunity_tags, order_by=Tag.name_key)
    # Covers the pipeline-by-stage aggregate: an index-only scan per stage.
    __table_args__ = (
        Index(
            "ix_opportunities_by_stage",
            "stage_id",
            "active",
            "currency",
            "status",
            "expected_revenue",
            "probability",
        ),
        # The global search: deals whose name starts with what was typed, in name
        # order, a page read from the index (crm_core.services.search); a sales
        # user's own deals through the second (their owner first).
        Index("ix_opportunities_active_name", "active", "name_key"),
        Index("ix_opportunities_owner_name", "owner_id", "active", "name_key"),
        # Lists of deals in name order (alphabetical: crm_core.collation), everyone's
        # and a sales user's own.
        Index("ix_opportunities_active_sort", "active", "sort_key"),
        Index("ix_opportunities_owner_sort", "owner_id", "active", "sort_key"),
    )


class StageChange(Base):
    """History: an opportunity moved from one stage to another. Never edited."""

    __tablename__ = "stage_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    opportunity_id: Mapped[int] = mapped_column(
        ForeignKey("opportunities.id", ondelete="CASCADE"), index=True
    )
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id"))
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id"))
    changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
