"""Campaigns by e-mail: who a send reaches and who it skips, replies found by thread,
and the per-campaign counts ``campaign_results`` reports.

A campaign send targets the campaign's members plus whoever its segment matches now;
it skips, and counts by reason, contacts who opted out of marketing e-mail, whose
address bounces, who have no address, are archived, or were already sent this
campaign (so a second run only reaches the new members). A member *replied* when an
incoming e-mail interaction of theirs is in the thread of the campaign message sent
to them; :func:`mark_replies` then sets their ``responded_at`` (once, the first reply).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, select, update
from sqlalchemy.orm import Session, aliased

from crm_core.models import (
    Campaign,
    CampaignMember,
    Contact,
    EmailMessage,
    Interaction,
    OutboxMessage,
)

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Why a contact is left out of a campaign send.
SKIP_REASONS = ("opted out", "bouncing", "no e-mail address", "archived", "already sent")


@dataclass
class CampaignSend:
    """The outcome of a campaign send (or of its dry run)."""

    campaign: str
    queued: list[int] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    skipped_contacts: dict[int, str] = field(default_factory=dict)
    previews: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False

    @property
    def to_send(self) -> int:
        """How many messages were queued (or would be, in a dry run)."""
        return len(self.previews) if self.dry_run else len(self.queued)

    def __str__(self) -> str:
        verb = "would queue" if self.dry_run else "queued"
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items()))
        skipped = sum(self.skipped.values())
        return f"campaign {self.campaign!r}: {verb} {self.to_send}, skipped {skipped}" + (
            f" ({why})" if why else ""
        )


def skip_reason(s: Session, contact: Contact, campaign_id: int) -> str | None:
    """Why ``contact`` gets no message from this campaign send, or None."""
    if not contact.active:
        return "archived"
    if contact.no_marketing:
        return "opted out"
    if contact.email_bouncing:
        return "bouncing"
    if not contact.email:
        return "no e-mail address"
    done = s.scalar(
        select(OutboxMessage.id).where(
            OutboxMessage.campaign_id == campaign_id,
            OutboxMessage.contact_id == contact.id,
            OutboxMessage.state != "failed",
        )
    )
    return "already sent" if done is not None else None


def _replies(campaign_id: Any = None) -> Any:
    """(campaign id, contact id, first reply time) of the members who replied."""
    out = aliased(EmailMessage)
    inbound = aliased(EmailMessage)
    query = (
        select(
            OutboxMessage.campaign_id,
            OutboxMessage.contact_id,
            func.min(Interaction.occurred_at).label("replied_at"),
        )
        .join(out, out.message_id == OutboxMessage.message_id)
        .join(inbound, and_(inbound.thread_id == out.thread_id, inbound.id != out.id))
        .join(Interaction, Interaction.id == inbound.interaction_id)
        .where(
            OutboxMessage.campaign_id.is_not(None),
            Interaction.direction == "in",
            Interaction.contact_id == OutboxMessage.contact_id,
        )
        .group_by(OutboxMessage.campaign_id, OutboxMessage.contact_id)
    )
    if campaign_id is not None:
        query = query.where(OutboxMessage.campaign_id == campaign_id)
    return query


def mark_replies(ws: Workspace, campaign_id: int | None = None) -> int:
    """Set ``responded_at`` of the members who replied to their campaign message and
    have none yet; returns how many were marked."""
    marked = 0
    with ws.transaction() as s:
        for cid, contact_id, at in s.execute(_replies(campaign_id)).all():
            done = s.execute(
                update(CampaignMember)
                .where(
                    CampaignMember.campaign_id == cid,
                    CampaignMember.contact_id == contact_id,
                    CampaignMember.responded_at.is_(None),
                )
                .values(responded_at=at)
            )
            marked += int(getattr(done, "rowcount", 0) or 0)
    return marked


def mail_counts() -> Any:
    """A subquery of each campaign's e-mail figures: ``sent`` (messages the server
    accepted, bounced or not), ``delivered`` (sent and not bounced), ``bounced`` and
    ``replied`` (contacts who answered in the thread of their campaign message)."""
    o = OutboxMessage
    replies = _replies().subquery()
    replied = (
        select(replies.c.campaign_id, func.count().label("replied"))
        .group_by(replies.c.campaign_id)
        .subquery()
    )
    counts = (
        select(
            o.campaign_id,
            func.sum(case((o.state.in_(("sent", "bounced")), 1), else_=0)).label("sent"),
            func.sum(case((o.state == "sent", 1), else_=0)).label("delivered"),
            func.sum(case((o.state == "bounced", 1), else_=0)).label("bounced"),
        )
        .where(o.campaign_id.is_not(None))
        .group_by(o.campaign_id)
        .subquery()
    )
    return (
        select(
            Campaign.id.label("campaign_id"),
            func.coalesce(counts.c.sent, 0).label("sent"),
            func.coalesce(counts.c.delivered, 0).label("delivered"),
            func.coalesce(counts.c.bounced, 0).label("bounced"),
            func.coalesce(replied.c.replied, 0).label("replied"),
        )
        .outerjoin(counts, counts.c.campaign_id == Campaign.id)
        .outerjoin(replied, replied.c.campaign_id == Campaign.id)
        .subquery()
    )
