"""Campaigns by e-mail: who a send reaches and who it skips, replies found by thread,
and the per-campaign counts ``campaign_results`` reports.

A campaign send targets the campaign's members plus whoever its segment matches now;
it skips, and counts by reason, contacts who opted out of marketing e-mail, whose
address bounces, who have no address, are archived, or were already sent this
campaign (so a second run only reaches the new members). A member *replied* when an
incoming e-mail interaction of theirs is in the thread of the campaign message sent
to them; :func:`mark_replies` then sets their ``responded_at`` (once, the first reply)
and :func:`attribute_deals` gives the campaign to the deals those replies lead to.

Attribution: a deal without a campaign, of the contact who replied (or the deal the
reply is linked to), opened (``created_at``) from the moment the campaign message
was sent to ``attribution_days`` (a mail setting, 90 by default) after it, gets that
campaign; when two campaigns' replies lead to it, the one whose message went last
before the deal was opened. A deal's campaign is never replaced; the change is an
ordinary journaled edit (origin ``mail:campaign-reply``).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from crm_core import journal
from crm_core.access import check_unrestricted
from crm_core.mail.smtp_config import load
from crm_core.models import (
    Campaign,
    CampaignMember,
    Contact,
    EmailMessage,
    Interaction,
    Opportunity,
    OutboxMessage,
)
from crm_core.services.segments import MEMBERS, member_row

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
    #: Each contact skipped: contact_id, name, recipient (their address) and reason.
    skipped_list: list[dict[str, Any]] = field(default_factory=list)
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


def unwanted(contact: Contact) -> str | None:
    """Why ``contact`` may get no campaign mail now (archived, opted out, bouncing,
    no address), or None: asked when a send is queued and again when it goes."""
    if not contact.active:
        return "archived"
    if contact.no_marketing:
        return "opted out"
    if contact.email_bouncing:
        return "bouncing"
    if not contact.email:
        return "no e-mail address"
    return None


def skip_reason(s: Session, contact: Contact, campaign_id: int) -> str | None:
    """Why ``contact`` gets no message from this campaign send, or None."""
    why = unwanted(contact)
    if why is not None:
        return why
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
    have none yet, each journaled as :meth:`Campaigns.responded
    <crm_core.services.segments.Campaigns.responded>` journals it (``campaign_members``,
    ``update`` of ``responded_at``, the row before and after); returns how many were
    marked. Then :func:`attribute_deals`. Managers and admins only: it changes the
    whole team's campaigns and deals (a sales user would set the campaign of other
    reps' deals)."""
    check_unrestricted(ws, "mark replies to", _campaigns(campaign_id))
    changes: list[journal.Change] = []
    with ws.transaction() as s:
        for cid, contact_id, at in s.execute(_replies(campaign_id)).all():
            member = s.get(CampaignMember, (cid, contact_id))
            if member is None or member.responded_at is not None:
                continue
            before = member_row(member)
            # Only while none is set: a fetch marking the same reply at the same
            # moment marks (and journals) it once.
            done = s.execute(
                update(CampaignMember)
                .where(
                    CampaignMember.campaign_id == cid,
                    CampaignMember.contact_id == contact_id,
                    CampaignMember.responded_at.is_(None),
                )
                .values(responded_at=at)
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0):
                after = {**before, "responded_at": at}
                changes.append((cid, "update", "responded_at", before, after))
        journal.records(s, MEMBERS, changes)
    attribute_deals(ws, campaign_id)
    return len(changes)


def _campaigns(campaign_id: int | None) -> str:
    """How a refusal names the campaigns a call works on."""
    return "every campaign" if campaign_id is None else f"campaign #{campaign_id}"


#: The origin the journal gives a campaign set on a deal by a reply.
ATTRIBUTION_ORIGIN = "mail:campaign-reply"


def _reply_leads(campaign_id: int | None) -> Any:
    """(campaign id, contact id, when the campaign message went, the reply's deal) of
    each reply in the thread of a campaign message, from the contact it was sent to."""
    out = aliased(EmailMessage)
    inbound = aliased(EmailMessage)
    query = (
        select(
            OutboxMessage.campaign_id,
            OutboxMessage.contact_id,
            func.coalesce(OutboxMessage.sent_at, OutboxMessage.sending_at),
            Interaction.opportunity_id,
        )
        .join(out, out.message_id == OutboxMessage.message_id)
        .join(inbound, and_(inbound.thread_id == out.thread_id, inbound.id != out.id))
        .join(Interaction, Interaction.id == inbound.interaction_id)
        .where(
            OutboxMessage.campaign_id.is_not(None),
            OutboxMessage.state.in_(("sent", "bounced")),
            Interaction.direction == "in",
            Interaction.contact_id == OutboxMessage.contact_id,
        )
        .distinct()
    )
    if campaign_id is not None:
        query = query.where(OutboxMessage.campaign_id == campaign_id)
    return query


def attribute_deals(ws: Workspace, campaign_id: int | None = None) -> dict[int, int]:
    """Give the deals campaign replies lead to their campaign (the module doc says
    which); returns deal id -> campaign id of those given one now. Managers and admins
    only, as :func:`mark_replies`: the deals are any rep's."""
    check_unrestricted(ws, "attribute deals to", _campaigns(campaign_id))
    window = dt.timedelta(days=load(ws).attribution_days)
    best: dict[int, tuple[dt.datetime, int]] = {}
    with ws.transaction() as s:
        for cid, contact_id, sent_at, reply_deal in s.execute(_reply_leads(campaign_id)).all():
            if sent_at is None:
                continue
            whose = [Opportunity.contact_id == contact_id]
            if reply_deal is not None:
                whose.append(Opportunity.id == reply_deal)
            for deal_id in s.scalars(
                select(Opportunity.id).where(
                    or_(*whose),
                    Opportunity.campaign_id.is_(None),
                    Opportunity.active,
                    Opportunity.created_at >= sent_at,
                    Opportunity.created_at <= sent_at + window,
                )
            ):
                if deal_id not in best or best[deal_id][0] < sent_at:
                    best[deal_id] = (sent_at, cid)
    given: dict[int, int] = {}
    for deal_id, (_sent, cid) in sorted(best.items()):
        with ws.transaction(origin=ATTRIBUTION_ORIGIN) as s:
            deal = s.get(Opportunity, deal_id)
            if deal is not None and deal.campaign_id is None:  # never replaced
                deal.campaign_id = cid
                given[deal_id] = cid
    return given


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
