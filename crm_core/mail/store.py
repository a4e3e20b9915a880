"""Writing a batch of parsed messages: interactions, their e-mail facts, bounces and
proposed contacts, in the caller's transaction.

Each new Message-ID becomes one :class:`~crm_core.models.Interaction` made by
``ws.interactions.prepare`` (validated and journaled like any other) and one
:class:`~crm_core.models.EmailMessage`. A Message-ID already stored is counted as known
and only its folder and UID are brought up to date. An incoming ``unsubscribe
<token>`` message opts its contact out (:mod:`crm_core.mail.optout`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from crm_core.errors import ValidationError
from crm_core.mail import linking, optout, threads, tokens
from crm_core.mail.parse import ParsedMail, clean_text
from crm_core.mail.report import FetchReport, Skipped
from crm_core.models import (
    Contact,
    ContactProposal,
    EmailBounce,
    EmailMessage,
    Interaction,
    Mailbox,
    MailSkip,
    OutboxMessage,
)

if TYPE_CHECKING:
    from crm_core.workspace import Workspace


@dataclass
class Incoming:
    """A message read from a folder and parsed (or the reason it could not be)."""

    folder: str
    uidvalidity: int
    uid: int
    size: int
    received: dt.datetime | None
    mail: ParsedMail | None
    problem: str | None = None


def _skip(s: Session, box: Mailbox, item: Incoming, reason: str, report: FetchReport) -> None:
    mid = item.mail.message_id if item.mail else None
    report.skipped.append(Skipped(item.folder, item.uid, reason, mid))
    s.add(
        MailSkip(
            mailbox_id=box.id,
            folder=item.folder,
            uidvalidity=item.uidvalidity,
            uid=item.uid,
            message_id=mid,
            reason=reason,
            at=report.started_at,
        )
    )


def write_batch(
    ws: Workspace, s: Session, box: Mailbox, items: list[Incoming], report: FetchReport
) -> None:
    """Store ``items`` (one folder's batch) in session ``s``; counts go to ``report``."""
    own = linking.address_key(box.address)
    mails = [i.mail for i in items if i.mail is not None]
    stored = threads.known_threads(
        s, [m.message_id for m in mails] + [p for m in mails for p in threads.parents(m)]
    )
    stored_threads = set(stored.values())  # threads with messages in the database
    # Who sent each message already stored under a Message-ID of this batch: another
    # sender's message under one of them is not the same message.
    senders = dict(
        s.execute(
            select(EmailMessage.message_id, EmailMessage.from_address).where(
                EmailMessage.message_id.in_({m.message_id for m in mails} & set(stored))
            )
        ).all()
    )
    keys = {linking.address_key(a) for m in mails for a in [m.from_address, *m.to, *m.cc]}
    contacts = linking.contacts_by_key(s, [k for k in keys if k])
    # Loaded for the batch at once: the contacts' companies (kept referenced, so the
    # session finds them when each interaction's links are checked), their open deals
    # (per contact, for the subject's deal) and the senders already proposed.
    companies = linking.companies_of(s, contacts.values())
    open_deals = linking.open_deals_of(s, contacts.values())
    proposals = _proposals(s, [k for k in keys if k and k not in contacts])
    # Interactions are flushed once for the batch: a reply in the same batch as the
    # message it answers finds that message's deal here rather than in the database.
    # (thread, contact id) -> the deal an earlier message of the batch was put on
    batch_deals: dict[tuple[str, int], int | None] = {}
    logged_facts: list[tuple[Any, EmailMessage]] = []
    proposed_facts: list[tuple[ContactProposal, EmailMessage]] = []
    for item in items:
        mail = item.mail
        if mail is None:
            _skip(s, box, item, item.problem or "unreadable", report)
            continue
        if mail.message_id in stored:
            first = senders.get(mail.message_id, mail.from_address)
            if linking.address_key(first) != linking.address_key(mail.from_address):
                _skip(
                    s,
                    box,
                    item,
                    f"its Message-ID is that of a message from {first or 'no sender'} "
                    "stored already: a second message under one ID is not stored",
                    report,
                )
                continue
            report.known += 1
            s.execute(
                update(EmailMessage)
                .where(EmailMessage.message_id == mail.message_id)
                .where(EmailMessage.mailbox_id == box.id)
                .values(folder=item.folder, uid=item.uid)
            )
            continue
        if mail.bounce is not None:
            _bounce(s, mail, report, contacts)
            stored[mail.message_id] = mail.message_id
            senders[mail.message_id] = mail.from_address
            continue
        outgoing = own is not None and linking.address_key(mail.from_address) == own
        token = None if outgoing else optout.token_of(mail.subject)
        if token is not None:
            _opt_out(ws, s, box, item, token, report)
        others = mail.to + mail.cc if outgoing else [mail.from_address]
        other_keys = [k for k in (linking.address_key(a) for a in others if a) if k and k != own]
        contact = next((contacts[k] for k in other_keys if k in contacts), None)
        thread = threads.thread_of(mail, stored)
        if contact is None and (box.only_known or not other_keys):
            report.unknown += 1
            stored[mail.message_id] = thread
            senders[mail.message_id] = mail.from_address
            continue
        facts = EmailMessage(
            message_id=mail.message_id,
            mailbox_id=box.id,
            folder=item.folder,
            uid=item.uid,
            in_reply_to=mail.in_reply_to,
            references=mail.references,
            thread_id=thread,
            from_address=mail.from_address,
            to_addresses=mail.to,
            cc_addresses=mail.cc,
            subject=mail.subject,
            summary=_summary(mail, item),
            sent_at=mail.sent_at,
            size=item.size,
            attachments=[a.as_dict() for a in mail.attachments],
            fetched_at=report.started_at,
        )
        if not mail.complete:
            report.headers_only += 1
        if contact is None:
            address = next(a for a in others if a and linking.address_key(a) == other_keys[0])
            name = mail.from_name if not outgoing else None
            proposal = _proposal(s, box, other_keys[0], address, name, report, proposals)
            proposed_facts.append((proposal, facts))
            report.proposed += 1
        else:
            deal = batch_deals.get((thread, contact.id))
            if deal is None and thread in stored_threads:
                deal = linking.thread_deal(s, thread, contact)
            if deal is None:
                deal = linking.subject_deal(s, contact, mail.subject, open_deals)
            try:
                logged = ws.interactions.prepare(
                    s,
                    "email",
                    "out" if outgoing else "in",
                    mail.sent_at or item.received or report.started_at,
                    {
                        "subject": mail.subject,
                        "summary": facts.summary,
                        "contact_id": contact.id,
                        "company_id": contact.company_id,
                        "opportunity_id": deal,
                        "user_id": box.owner_id if box.owner_id is not None else ws.user_id,
                    },
                )
            except ValidationError as exc:
                _skip(s, box, item, f"refused: {exc}", report)
                continue
            logged_facts.append((logged, facts))
            if deal is not None:
                batch_deals[thread, contact.id] = deal
            report.created += 1
        stored[mail.message_id] = thread
        senders[mail.message_id] = mail.from_address
    s.add_all([logged for logged, _ in logged_facts])
    s.flush()  # the interactions and the new proposals get their ids
    for logged, facts in logged_facts:
        facts.interaction_id = logged.id
    for proposal, facts in proposed_facts:
        facts.proposal_id = proposal.id
    s.add_all([facts for _, facts in proposed_facts])
    s.add_all([facts for _, facts in logged_facts])
    s.flush()
    del companies  # kept referenced until the interactions were checked and written


def _opt_out(
    ws: Workspace, s: Session, box: Mailbox, item: Incoming, token: str, report: FetchReport
) -> None:
    """An ``unsubscribe <token>`` message (the mailto of campaign mail's
    List-Unsubscribe): the contact it names opts out; a bad token is reported, ignored.
    The message itself is stored like any other."""
    assert item.mail is not None
    try:
        contact = optout.opt_out(ws, s, token)
    except tokens.TokenError as exc:
        report.unsubscribe_ignored.append(
            Skipped(item.folder, item.uid, str(exc), item.mail.message_id)
        )
        return
    report.unsubscribed.append(contact.id)


def _summary(mail: ParsedMail, item: Incoming) -> str | None:
    if not mail.complete:
        return f"(not downloaded: {item.size:,} bytes, over the size limit)"
    return mail.summary


def _proposals(s: Session, keys: list[str]) -> dict[str, ContactProposal]:
    """The proposals already made for ``keys`` (the first of each key)."""
    wanted = sorted(set(keys))
    found: dict[str, ContactProposal] = {}
    for chunk in range(0, len(wanted), 500):
        rows = s.scalars(
            select(ContactProposal)
            .where(ContactProposal.email_key.in_(wanted[chunk : chunk + 500]))
            .order_by(ContactProposal.id)
        )
        for row in rows:
            found.setdefault(row.email_key, row)
    return found


def _proposal(
    s: Session,
    box: Mailbox,
    key: str,
    address: str,
    name: str | None,
    report: FetchReport,
    known: dict[str, ContactProposal],
) -> ContactProposal:
    """The proposal of ``key``: one made before or in this batch (``known``), else a new
    one (added to the session; its id comes with the batch's flush)."""
    found = known.get(key)
    if found is None:
        found = ContactProposal(
            email=address,
            email_key=key,
            name=clean_text(name),
            mailbox_id=box.id,
            status="proposed",
            first_seen_at=report.started_at,
        )
        s.add(found)
        known[key] = found
        report.new_proposals += 1
    return found


def _recipients_of_ours(s: Session, message_id: str | None) -> set[str] | None:
    """The address keys ``message_id`` was sent to, when it is a message crmbook sent
    or one fetched from a folder other than INBOX as sent by the mailbox (a Sent
    folder: only the mailbox's owner puts mail there); None for any other message (a
    message in INBOX claiming the mailbox's own From could be anyone's)."""
    if not message_id:
        return None
    found: set[str] | None = None
    for recipient in s.scalars(
        select(OutboxMessage.recipient).where(OutboxMessage.message_id == message_id)
    ):
        found = found or set()
        found.add(linking.address_key(recipient) or "")
    for to, cc in s.execute(
        select(EmailMessage.to_addresses, EmailMessage.cc_addresses)
        .join(Interaction, Interaction.id == EmailMessage.interaction_id)
        .where(
            EmailMessage.message_id == message_id,
            Interaction.direction == "out",
            func.upper(func.coalesce(EmailMessage.folder, "INBOX")) != "INBOX",
        )
    ):
        found = found or set()
        found.update(linking.address_key(a) or "" for a in [*(to or []), *(cc or [])])
    if found is not None:
        found.discard("")
    return found


def _bounce(
    s: Session, mail: ParsedMail, report: FetchReport, contacts: dict[str, Contact]
) -> None:
    """Record a failure report: its addresses bounce, their contacts are marked and the
    outbox message it returns (by Message-ID) is marked bounced."""
    assert mail.bounce is not None
    report.bounces += 1
    at = mail.sent_at or report.started_at
    sent_to = _recipients_of_ours(s, mail.bounce.original_message_id)
    if sent_to is None:
        # A failure report about mail crmbook neither sent nor fetched as sent: anyone
        # could write one to stop a contact's mail: counted, and no one is marked.
        report.bounces_not_ours += 1
        return
    named = {linking.address_key(failed.address) for failed in mail.bounce.recipients}
    for failed in mail.bounce.recipients:
        key = linking.address_key(failed.address)
        if key is None or key not in sent_to:
            # An address the bounced message was not sent to: a report naming others
            # (forged, or a mailer's confusion) marks no one of them.
            continue
        seen = s.scalar(
            select(EmailBounce.id).where(
                EmailBounce.report_message_id == mail.message_id, EmailBounce.email_key == key
            )
        )
        if seen is not None:
            continue
        marked = s.scalars(select(Contact).where(Contact.email_key == key)).all()
        for contact in marked:
            if not contact.email_bouncing:
                contact.email_bouncing = True  # journaled: a flushed ORM change
        report.bouncing += 1
        s.add(
            EmailBounce(
                email_key=key,
                contact_id=marked[0].id if marked else None,
                at=at,
                status=failed.status,
                reason=failed.reason,
                report_message_id=mail.message_id,
                bounced_message_id=mail.bounce.original_message_id,
            )
        )
    if mail.bounce.original_message_id and named & sent_to:
        s.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.message_id == mail.bounce.original_message_id,
                OutboxMessage.state == "sent",
            )
            .values(state="bounced", bounced_at=at)
        )
    s.flush()
