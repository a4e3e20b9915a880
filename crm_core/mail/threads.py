"""Threading: a reply joins the thread of the message it answers.

A message's thread is the one of the nearest message it names that is already stored
(In-Reply-To first, then References from the last), else the first Message-ID its
References give (the thread's root, even when that was never fetched), else its
In-Reply-To, else its own Message-ID: so a reply read before its original still
lands in the thread the original starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.mail.parse import ParsedMail
from crm_core.models import EmailMessage


def parents(mail: ParsedMail) -> list[str]:
    """The Message-IDs ``mail`` answers, nearest first."""
    named = ([mail.in_reply_to] if mail.in_reply_to else []) + mail.references[::-1]
    return list(dict.fromkeys(named))


def known_threads(s: Session, ids: Iterable[str]) -> dict[str, str]:
    """Message-ID -> thread of the stored messages among ``ids`` (one query a batch)."""
    wanted = sorted(set(ids))
    found: dict[str, str] = {}
    for chunk in range(0, len(wanted), 500):
        rows = s.execute(
            select(EmailMessage.message_id, EmailMessage.thread_id).where(
                EmailMessage.message_id.in_(wanted[chunk : chunk + 500])
            )
        )
        found.update((mid, thread) for mid, thread in rows)
    return found


def thread_of(mail: ParsedMail, known: Mapping[str, str]) -> str:
    """The thread ``mail`` belongs to, given the threads of the messages stored."""
    for parent in parents(mail):
        if parent in known:
            return known[parent]
    if mail.references:
        return mail.references[0]
    return mail.in_reply_to or mail.message_id


#: The most Message-IDs a reply's References names (RFC 5322 lets a client trim the
#: middle; the root and the nearest ones are what threading needs).
MAX_REFERENCES = 20


def references_for_reply(s: Session, parent: str | None) -> list[str]:
    """The References of a reply to the stored message ``parent``: the Message-IDs
    ``parent`` referred to, then ``parent`` itself (RFC 5322 3.6.4), the root kept
    when the list is trimmed to :data:`MAX_REFERENCES`. ``[parent]`` when it was
    never stored; [] for no parent."""
    if not parent:
        return []
    before = s.scalar(select(EmailMessage.references).where(EmailMessage.message_id == parent))
    chain = list(dict.fromkeys([*(before or []), parent]))
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain
