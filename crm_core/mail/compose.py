"""A message for one contact: the fields its template sees, rendered, and as MIME.

:func:`context` gathers what a template may use: ``contact``, ``company``, ``owner``
(the contact's owner), ``deal`` (the deal named, else the contact's most recent open
deal the acting user may see), ``campaign``, ``sender_name``, ``unsubscribe_url`` and
whatever extra values the caller gives. :func:`build_mime` turns an outbox row into
the message put on the wire: text and HTML alternatives, UTF-8, encoded-word
subject and the Message-ID the row was given when queued.
"""

from __future__ import annotations

import re
import uuid
from email.headerregistry import Address
from email.message import EmailMessage as MimeMessage
from email.policy import EmailPolicy
from email.utils import format_datetime, parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.access import deal_clauses
from crm_core.mail import tokens
from crm_core.mail.smtp_config import MailSettings
from crm_core.models import Campaign, Contact, Opportunity, OutboxMessage, User

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: The domain of Message-IDs when the sender's address gives none.
FALLBACK_DOMAIN = "crmbook.invalid"
#: RFC 8058's one-click unsubscribe: the body of the POST a mail client sends.
ONE_CLICK = "List-Unsubscribe=One-Click"
#: Headers written as they are, never folded nor encoded (an URL in an encoded word
#: is no URL to a mail client).
_VERBATIM = frozenset(("list-unsubscribe", "list-unsubscribe-post"))


class _Policy(EmailPolicy):
    """The default e-mail policy, except that :data:`_VERBATIM` headers (ASCII, under
    998 characters) are put on the wire as written."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _VERBATIM:
            return f"{name}: {value}{self.linesep}"
        return str(super().fold(name, value))

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _VERBATIM:
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return bytes(super().fold_binary(name, value))


POLICY = _Policy()
#: What an URL keeps as it is in a header (the rest, e.g. non-ASCII, is %-encoded).
URL_SAFE = ":/?#[]@!$&'()*+,;=%~-._"
#: The subject of a mail that opts out by mail: this word, a space and the token
#: (:mod:`crm_core.mail.optout` reads it back when the mailbox is fetched).
UNSUBSCRIBE_SUBJECT = "unsubscribe"
#: The "Re:" (and its kin in other clients: "RE:", "Re[2]:", "AW:", "SV:") a reply's
#: subject starts with, however often it was repeated.
_REPLY_PREFIX = re.compile(r"^(?:\s*(?:re|aw|sv|antw)(?:\[\d+\])?\s*[:：]\s*)+", re.IGNORECASE)


def reply_subject(subject: str | None) -> str:
    """The subject of a reply: ``Re: `` and the subject without the reply prefixes it
    already has (``Re: Re: Price`` -> ``Re: Price``, never ``Re: Re:``)."""
    bare = _REPLY_PREFIX.sub("", " ".join((subject or "").split()))
    return f"Re: {bare}" if bare else "Re:"


def unsubscribe_mailto(address: str, token: str) -> str:
    """The ``mailto:`` an unsubscribe by mail goes to (RFC 2369): the sending mailbox's
    ``address``, with the subject ``unsubscribe <token>``."""
    subject = quote(f"{UNSUBSCRIBE_SUBJECT} {token}", safe="")
    return f"mailto:{quote(address, safe='@')}?subject={subject}"


def _fields(obj: Any, names: tuple[str, ...]) -> dict[str, Any] | None:
    return None if obj is None else {n: getattr(obj, n) for n in names}


def context(
    ws: Workspace,
    s: Session,
    contact: Contact,
    settings: MailSettings,
    *,
    deal_id: int | None = None,
    campaign: Campaign | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The values a template is rendered with for ``contact`` (see the module doc)."""
    person = _fields(contact, ("id", "name", "email", "job_title", "phone", "mobile", "city"))
    assert person is not None
    person["first_name"] = (contact.name or "").split()[0] if contact.name else ""
    company = _fields(contact.company, ("id", "name", "city", "country", "website"))
    owner_row = s.get(User, contact.owner_id) if contact.owner_id else None
    owner = _fields(owner_row, ("id", "name", "email"))
    found = select(Opportunity).where(*deal_clauses(ws))
    if deal_id is not None:
        found = found.where(Opportunity.id == deal_id)
    else:
        found = found.where(Opportunity.contact_id == contact.id, Opportunity.status == "open")
    deal_row = s.scalars(found.order_by(Opportunity.id.desc()).limit(1)).first()
    deal = _fields(deal_row, ("id", "name", "expected_revenue", "currency", "expected_close"))
    # Who signs: the sender's display name, else the contact's owner, else the
    # sender's address (a template's "from {{ sender_name }}" never ends in nothing).
    name, address = parseaddr(settings.sender or "")
    sender_name = name or (owner or {}).get("name") or address
    token = tokens.make(ws, contact.id, contact.email_key, s)
    return {
        "contact": person,
        "company": company,
        "owner": owner,
        "deal": deal,
        "campaign": _fields(campaign, ("id", "name", "channel", "starts_on")),
        "sender_name": sender_name,
        "unsubscribe_url": settings.unsubscribe_url + token,
        **(extra or {}),
    }


def new_message_id(sender: str | None) -> str:
    """A fresh, unique Message-ID in the sender's domain."""
    address = parseaddr(sender or "")[1]
    domain = address.rpartition("@")[2] or FALLBACK_DOMAIN
    return f"<{uuid.uuid4().hex}@{domain}>"


def build_mime(
    row: OutboxMessage,
    references: list[str] | None = None,
    unsubscribe: str | None = None,
    unsubscribe_mail: str | None = None,
) -> MimeMessage:
    """The message an outbox row puts on the wire; ``unsubscribe`` (the contact's
    signed link, for campaign mail) adds ``List-Unsubscribe`` and RFC 8058's
    ``List-Unsubscribe-Post`` (one click: the link itself takes a POST), and
    ``unsubscribe_mail`` (a ``mailto:``, :func:`unsubscribe_mailto`) a second way to
    the same in that header, for clients that only write mail (RFC 2369).
    ``references`` are the Message-IDs of the thread before ``row.in_reply_to``
    (the answered message's own References), so the reply's References name the whole
    thread."""
    msg = MimeMessage(policy=POLICY)
    name, address = parseaddr(row.sender or "")
    msg["From"] = Address(display_name=name, addr_spec=address) if address else (row.sender or "")
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Date"] = format_datetime(row.sending_at or row.queued_at)
    msg["Message-ID"] = row.message_id
    if row.in_reply_to:
        msg["In-Reply-To"] = row.in_reply_to
        chain = [r for r in (references or []) if r != row.in_reply_to]
        msg["References"] = " ".join([*chain, row.in_reply_to])
    ways = []
    if unsubscribe:
        ways.append(f"<{quote(unsubscribe, safe=URL_SAFE)}>")
    if unsubscribe_mail:
        ways.append(f"<{unsubscribe_mail}>")
    if ways:
        msg["List-Unsubscribe"] = ", ".join(ways)
    if unsubscribe:
        msg["List-Unsubscribe-Post"] = ONE_CLICK
    msg.set_content(row.body_text, charset="utf-8")
    if row.body_html:
        msg.add_alternative(row.body_html, subtype="html", charset="utf-8")
    return msg
