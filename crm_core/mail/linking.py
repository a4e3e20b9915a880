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
from crm_core.models import Company, Contact, EmailMessage, Interaction, Opportunity


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


def companies_of(s: Session, contacts: Iterable[Contact]) -> list[Company]:
    """The companies of ``contacts``, loaded into the session in one query (the caller
    keeps the list: a session holds what it loaded only while it is referenced), so
    that validating each interaction's company finds it there."""
    ids = sorted({c.company_id for c in contacts if c.company_id is not None})
    found: list[Company] = []
    for chunk in range(0, len(ids), 500):
        found += s.scalars(select(Company).where(Company.id.in_(ids[chunk : chunk + 500]))).all()
    return found


def open_deals_of(s: Session, contacts: Iterable[Contact]) -> dict[int, list[tuple[int, str]]]:
    """Each contact's open deals (id, folded name) as :func:`subject_deal` finds them:
    the contact's own and their company's, for a whole batch in one query each 500."""
    people = list({c.id: c for c in contacts}.values())
    contact_ids = sorted(c.id for c in people)
    company_ids = sorted({c.company_id for c in people if c.company_id is not None})
    rows: dict[int, tuple[int, str, int | None, int | None]] = {}
    pairs = ((contact_ids, Opportunity.contact_id), (company_ids, Opportunity.company_id))
    for ids, column in pairs:
        for chunk in range(0, len(ids), 500):
            found = s.execute(
                select(
                    Opportunity.id,
                    Opportunity.name,
                    Opportunity.contact_id,
                    Opportunity.company_id,
                ).where(Opportunity.status == "open", column.in_(ids[chunk : chunk + 500]))
            )
            rows.update((r[0], tuple(r)) for r in found)  # type: ignore[misc]
    by_contact: dict[int, list[tuple[int, str]]] = {c.id: [] for c in people}
    by_company: dict[int, list[int]] = {}
    for c in people:
        if c.company_id is not None:
            by_company.setdefault(c.company_id, []).append(c.id)
    for deal_id, name, contact_id, company_id in sorted(rows.values()):
        folded = text.fold(name)
        owners = set(by_company.get(company_id, [])) if company_id is not None else set()
        if contact_id in by_contact:
            owners.add(contact_id)
        for owner in owners:
            by_contact[owner].append((deal_id, folded))
    return by_contact


def thread_deal(s: Session, thread_id: str, contact: Contact) -> int | None:
    """The open deal the latest linked message of the thread is on, when it is a deal
    of ``contact`` or their company: someone else answering in the thread (a colleague
    of another company put in copy) is not put on another customer's deal."""
    theirs = [Opportunity.contact_id == contact.id]
    if contact.company_id is not None:
        theirs.append(Opportunity.company_id == contact.company_id)
    return s.scalar(
        select(Interaction.opportunity_id)
        .join(EmailMessage, EmailMessage.interaction_id == Interaction.id)
        .join(Opportunity, Opportunity.id == Interaction.opportunity_id)
        .where(EmailMessage.thread_id == thread_id, Opportunity.status == "open", or_(*theirs))
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
