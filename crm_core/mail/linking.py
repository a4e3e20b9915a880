"""Who a message is with: contacts by e-mail key, their company, and the open deal.

A contact is found by the key of an address (:func:`crm_core.keys.email_key`, the
key the ``contacts.email_key`` column holds); an address shared by several contacts
goes to the active one made first. The deal is the open deal the thread is already
linked to, else the one open deal of the contact (or their company) whose name the
subject contains, the longest such name when several do.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm_core import text
from crm_core.keys import email_key
from crm_core.models import Contact, EmailMessage, Interaction, Opportunity


def address_key(address: str | None) -> str | None:
    """The key an address is compared by (None for one crm_core refuses)."""
    return email_key(address) if address else None


def contacts_by_key(s: Session, keys: Iterable[str]) -> dict[str, Contact]:
    """The contact of each key that has one (one query for a whole batch)."""
    wanted = sorted({k for k in keys if k})
    found: dict[str, Contact] = {}
    for chunk in range(0, len(wanted), 500):
        rows = s.scalars(
            select(Contact)
            .where(Contact.email_key.in_(wanted[chunk : chunk + 500]))
            .order_by(Contact.active.desc(), Contact.id)
        )
        for contact in rows:
            if contact.email_key is not None:
                found.setdefault(contact.email_key, contact)
    return found


def thread_deal(s: Session, thread_id: str) -> int | None:
    """The open deal the latest linked message of the thread is on."""
    return s.scalar(
        select(Interaction.opportunity_id)
        .join(EmailMessage, EmailMessage.interaction_id == Interaction.id)
        .join(Opportunity, Opportunity.id == Interaction.opportunity_id)
        .where(EmailMessage.thread_id == thread_id, Opportunity.status == "open")
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(1)
    )


def subject_deal(
    s: Session,
    contact: Contact,
    subject: str | None,
    cache: dict[int, list[tuple[int, str]]] | None = None,
) -> int | None:
    """The open deal of ``contact`` or their company whose name ``subject`` contains.
    ``cache`` keeps each contact's open deals (id, folded name) for a batch."""
    if not subject:
        return None
    deals = None if cache is None else cache.get(contact.id)
    if deals is None:
        mine = [Opportunity.contact_id == contact.id]
        if contact.company_id is not None:
            mine.append(Opportunity.company_id == contact.company_id)
        found = s.execute(
            select(Opportunity.id, Opportunity.name).where(Opportunity.status == "open", or_(*mine))
        )
        deals = [(deal_id, text.fold(name)) for deal_id, name in found]
        if cache is not None:
            cache[contact.id] = deals
    said = text.fold(subject)
    named = [(len(name), -deal_id) for deal_id, name in deals if name and name in said]
    return -max(named)[1] if named else None
