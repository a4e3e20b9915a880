"""Opting out by mail: campaign mail's ``List-Unsubscribe`` also names a ``mailto:``
(the sending mailbox, subject ``unsubscribe <token>``; RFC 2369), for mail clients
that unsubscribe by writing. When a fetch reads such a message in a mailbox, the
contact the token names gets ``no_marketing`` (an ordinary, journaled change: the
same effect as the ``/unsubscribe`` page); a token that is altered, expired or for an
address the contact no longer has changes nothing and is reported with the reason.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from crm_core.mail import tokens
from crm_core.mail.compose import UNSUBSCRIBE_SUBJECT
from crm_core.models import Contact

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: ``unsubscribe <token>``, as a mail client writes the mailto's subject (any case,
#: spaces around; the token is itsdangerous' URL-safe text).
_SUBJECT = re.compile(rf"^\s*{UNSUBSCRIBE_SUBJECT}\s+(\S+)\s*$", re.IGNORECASE)


def token_of(subject: str | None) -> str | None:
    """The token of an ``unsubscribe <token>`` subject; None for any other subject."""
    found = _SUBJECT.match(subject or "")
    return found.group(1) if found else None


def contact_of(s: Session, named: tuple[int, str]) -> Contact:
    """The contact a token's (contact id, address digest) names now; TokenError when
    none has that address any more."""
    contact_id, key = named
    contact = s.get(Contact, contact_id)
    if contact is None or tokens.address_digest(contact.email_key) != key:
        raise tokens.TokenError("names an address no contact has now")
    return contact


def opt_out(ws: Workspace, s: Session, token: str) -> Contact:
    """Set ``no_marketing`` on the contact ``token`` names, in session ``s`` (journaled
    with the session's origin); TokenError says why not."""
    contact = contact_of(s, tokens.read(ws, token, s))
    contact.no_marketing = True
    s.flush()
    return contact
