"""The outbox: messages waiting, being sent, sent, failed or bounced, and the moves
between these states.

queued -> sending -> sent | failed | bounced; failed -> queued (a retry); sent ->
bounced (when a failure report comes back, crm_core.mail.store). A server's refusal
decides the next state (:mod:`crm_core.mail.sender`): a temporary one (no connection,
a 4xx answer) puts the message back in ``queued`` for the next drain (:func:`defer`,
until :data:`MAX_ATTEMPTS` tries or :data:`GIVE_UP_AFTER`), a permanent one (5xx)
makes it ``failed``, and one saying the address does not exist ``bounced`` (the
contact's address is marked bouncing, :func:`bounce`). A send that got no answer
after the whole message went (:func:`doubt`) stays in ``sending``, in doubt, as after
a crash. A message is claimed for sending
by one conditional UPDATE (``state = 'queued'``) committed *before* the SMTP
transaction, and its Message-ID was fixed when it was queued: so a process that dies
between the server's acceptance and the move to ``sent`` leaves the message in
``sending``, where no run sends it again. Such a message is in doubt: each drain
first looks for it in the Sent folder (:mod:`crm_core.mail.in_doubt`), which settles
it as sent when found; otherwise it stays in doubt until someone says what became of
it (:func:`resolve`). It is never sent again on its own.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from crm_core.errors import CrmError, FieldError, NotFoundError, ValidationError
from crm_core.mail import linking, threads
from crm_core.models import Contact, EmailBounce, EmailMessage, OutboxMessage, User

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: How long a claimed message may be on the wire: the SMTP timeout of its connection,
#: its data and its QUIT, with room to spare. Only a message in ``sending`` for longer
#: is in doubt; before that a run may be sending it now, so nothing settles it.
SENDING_GRACE = dt.timedelta(minutes=3)
#: How the reason of a message in doubt because of a send with no final answer starts.
NO_ANSWER = "no answer after the whole message was sent, the server may have it: "
#: What separates that cause from the notes of the Sent-folder checks that follow.
NOTE_SEPARATOR = " | "


def in_doubt_before(now: dt.datetime) -> dt.datetime:
    """Messages claimed before this moment and still in ``sending`` are in doubt."""
    return now - SENDING_GRACE


def in_doubt(now: dt.datetime) -> Any:
    """The condition of the messages in doubt at ``now`` (see :func:`is_in_doubt`)."""
    return and_(
        OutboxMessage.state == "sending",
        or_(
            OutboxMessage.sending_at.is_(None),
            OutboxMessage.sending_at <= in_doubt_before(now),
            OutboxMessage.reason.startswith(NO_ANSWER, autoescape=True),
        ),
    )


def is_in_doubt(row: OutboxMessage, now: dt.datetime) -> bool:
    """Whether the row is in doubt: in ``sending`` for longer than a send can take, or
    sent whole with no answer (:func:`doubt`: no run is sending it any more)."""
    return row.state == "sending" and (
        row.sending_at is None
        or row.sending_at <= in_doubt_before(now)
        or doubt_cause(row.reason) is not None
    )


#: Tries a message gets against temporary failures before it is ``failed`` (a manual
#: retry after that gives it one more).
MAX_ATTEMPTS = 5
#: How long after it was queued a message still waits out temporary failures.
GIVE_UP_AFTER = dt.timedelta(days=1)
#: How long a message put back after its 1st, 2nd, 3rd, 4th (and later) temporary
#: failure waits before a drain tries it again.
RETRY_DELAYS = (
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=15),
    dt.timedelta(hours=1),
    dt.timedelta(hours=4),
)

#: The longest plain-text summary an outbound interaction keeps.
SUMMARY_LEN = 2000


def claim(ws: Workspace, message_id: int) -> bool:
    """Move a queued message to ``sending`` (committed); False when another process
    claimed it first, it is no longer queued or its author was disabled meanwhile."""
    with ws.transaction() as s:
        done = s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "queued", not_held())
            .values(
                state="sending",
                sending_at=ws.clock(),
                attempts=OutboxMessage.attempts + 1,
                reason=None,
            )
        )
        return bool(getattr(done, "rowcount", 0) == 1)


def fail(ws: Workspace, message_id: int, reason: str) -> None:
    """Record that the server refused the message (or could not be reached)."""
    with ws.transaction() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(state="failed", failed_at=ws.clock(), reason=reason[:4000])
        )


def retry_at(row: OutboxMessage) -> dt.datetime | None:
    """When a message put back after a temporary failure may be tried again (None: now)."""
    if row.sending_at is None or not row.attempts:
        return None
    return row.sending_at + RETRY_DELAYS[min(row.attempts, len(RETRY_DELAYS)) - 1]


def ready(now: dt.datetime) -> Any:
    """The condition of the queued messages a drain may send at ``now``: never tried,
    queued again by hand (:func:`retry`, :func:`resolve` clear ``sending_at``), or
    waited out the :data:`RETRY_DELAYS` after a temporary failure."""
    o = OutboxMessage
    waited = [
        and_(o.attempts == n, o.sending_at <= now - delay)
        for n, delay in enumerate(RETRY_DELAYS, 1)
    ]
    waited.append(and_(o.attempts > len(RETRY_DELAYS), o.sending_at <= now - RETRY_DELAYS[-1]))
    return and_(
        o.state == "queued",
        or_(o.sending_at.is_(None), o.attempts == 0, *waited),
    )


def author_disabled() -> Any:
    """The condition of the messages whose author (the user who queued them) is
    disabled: a drain holds them, queued, until the user is enabled again."""
    return OutboxMessage.user_id.in_(select(User.id).where(User.active.is_(False)))


def not_held() -> Any:
    """The condition of the messages a drain may send as far as their author goes."""
    return or_(OutboxMessage.user_id.is_(None), ~author_disabled())


def held_reason(login: str) -> str:
    """What a queued message of disabled user ``login`` shows (never sent while so)."""
    return (
        f"held: its author {login!r} is disabled; it stays queued, not sent, until they"
        " are enabled again"
    )


def defer(ws: Workspace, message_id: int, reason: str) -> str:
    """A temporary failure: back to ``queued`` for the next drain with the reason and
    the try it was, or ``failed`` after :data:`MAX_ATTEMPTS` tries or
    :data:`GIVE_UP_AFTER`. Returns the new state."""
    now = ws.clock()
    with ws.transaction() as s:
        row = s.get(OutboxMessage, message_id)
        if row is None or row.state != "sending":
            return row.state if row is not None else "missing"
        tries = row.attempts or 0
        if tries >= MAX_ATTEMPTS or now - row.queued_at >= GIVE_UP_AFTER:
            row.state, row.failed_at = "failed", now
            row.reason = f"gave up after {tries} tries (temporary failures): {reason}"[:4000]
        else:
            row.state = "queued"
            later = retry_at(row)
            when = later.strftime("%Y-%m-%d %H:%M UTC") if later else "the next drain"
            row.reason = (
                f"temporary failure (try {tries} of {MAX_ATTEMPTS}), "
                f"tried again from {when}: {reason}"
            )[:4000]
        return row.state


def doubt(ws: Workspace, message_id: int, reason: str) -> None:
    """The whole message went and no answer came: it stays in ``sending`` (in doubt
    once :data:`SENDING_GRACE` has passed), with the reason; never sent again on its
    own (:mod:`crm_core.mail.in_doubt` looks for it, :func:`resolve` settles it)."""
    with ws.transaction() as s:
        s.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.state == "sending")
            .values(reason=(NO_ANSWER + reason)[:4000])
        )


def doubt_cause(reason: str | None) -> str | None:
    """The :func:`doubt` cause at the start of a reason, else None."""
    if reason and reason.startswith(NO_ANSWER):
        return reason.split(NOTE_SEPARATOR, 1)[0]
    return None


def bounce(ws: Workspace, message_id: int, reason: str, status: str | None) -> None:
    """The server refused the recipient as an address that does not exist: the message
    is ``bounced`` and the address is marked bouncing on every contact that has it, as
    a failure report does (crm_core.mail.store), with an :class:`EmailBounce` row."""
    now = ws.clock()
    with ws.transaction(origin="mail:refused") as s:
        row = s.get(OutboxMessage, message_id)
        if row is None or row.state != "sending":
            return
        row.state, row.bounced_at, row.reason = "bounced", now, reason[:4000]
        key = linking.address_key(row.recipient)
        if key is None:
            return
        marked = s.scalars(select(Contact).where(Contact.email_key == key)).all()
        for contact in marked:
            if not contact.email_bouncing:
                contact.email_bouncing = True  # journaled: a flushed ORM change
        seen = s.scalar(
            select(EmailBounce.id).where(
                EmailBounce.report_message_id == row.message_id, EmailBounce.email_key == key
            )
        )
        if seen is None:
            # No report came: the refusal at RCPT is its own record, named by the
            # Message-ID of the message refused.
            s.add(
                EmailBounce(
                    email_key=key,
                    contact_id=marked[0].id if marked else None,
                    at=now,
                    status=status,
                    reason=reason[:4000],
                    report_message_id=row.message_id,
                    bounced_message_id=row.message_id,
                )
            )
        s.flush()


def mark_sent(ws: Workspace, message_id: int) -> None:
    """Record that the server accepted the message and log it as an outbound e-mail
    interaction of its contact, with its e-mail facts (so replies thread back)."""
    with ws.transaction() as s:
        row = s.get(OutboxMessage, message_id)
        if row is None or row.state != "sending":
            return
        row.state, row.sent_at, row.failed_at = "sent", ws.clock(), None
        log_sent(ws, s, row)


def log_sent(ws: Workspace, s: Session, row: OutboxMessage) -> None:
    """The outbound interaction and EmailMessage of a sent outbox row (once: when a
    fetch already stored the message, e.g. from the Sent folder, the row is linked to
    the interaction that made)."""
    stored = s.scalars(
        select(EmailMessage).where(EmailMessage.message_id == row.message_id)
    ).first()
    if stored is not None:
        if row.interaction_id is None and stored.interaction_id is not None:
            row.interaction_id = stored.interaction_id
        return
    contact = s.get(Contact, row.contact_id) if row.contact_id else None
    at = row.sent_at or ws.clock()
    parents = threads.references_for_reply(s, row.in_reply_to)
    known = threads.known_threads(s, parents[-1:])
    thread = known.get(row.in_reply_to or "", row.in_reply_to or row.message_id)
    summary = " ".join(row.body_text.split())[:SUMMARY_LEN] or None
    facts = EmailMessage(
        message_id=row.message_id,
        in_reply_to=row.in_reply_to,
        references=parents,
        thread_id=thread,
        from_address=parseaddr(row.sender or "")[1].lower() or None,
        to_addresses=[row.recipient.lower()],
        cc_addresses=[],
        subject=row.subject,
        summary=summary,
        sent_at=at,
        size=len(row.body_text.encode()) + len((row.body_html or "").encode()),
        attachments=[],
        fetched_at=at,
    )
    if contact is not None:
        deal = linking.thread_deal(s, thread, contact) if thread != row.message_id else None
        if deal is None:
            deal = linking.subject_deal(s, contact, row.subject)
        # The message is sent whatever happens here: a deal link the sender may not make
        # is dropped, and an interaction refused altogether leaves the e-mail facts.
        for link in dict.fromkeys([deal, None]):
            try:
                logged = ws.interactions.prepare(
                    s,
                    "email",
                    "out",
                    at,
                    {
                        "subject": row.subject,
                        "summary": summary,
                        "contact_id": contact.id,
                        "company_id": contact.company_id,
                        "opportunity_id": link,
                        "user_id": row.user_id,
                    },
                )
            except CrmError as exc:
                row.reason = f"sent; not logged as an interaction: {exc}"[:4000]
                continue
            s.add(logged)
            s.flush()
            facts.interaction_id = logged.id
            row.interaction_id, row.reason = logged.id, None
            break
    s.add(facts)
    s.flush()


def _row(s: Session, message_id: Any) -> OutboxMessage:
    row = s.get(OutboxMessage, message_id) if isinstance(message_id, int) else None
    if row is None:
        raise NotFoundError("outbox message", message_id)
    return row


def retry(ws: Workspace, s: Session, message_id: int) -> OutboxMessage:
    """Queue a failed message again (same Message-ID, same text)."""
    row = _row(s, message_id)
    if row.state != "failed":
        raise ValidationError(
            [
                FieldError(
                    f"outbox message #{row.id}",
                    "state",
                    row.state,
                    "only a failed message can be retried",
                )
            ]
        )
    row.state, row.queued_at, row.sending_at = "queued", ws.clock(), None
    return row


def resolve(ws: Workspace, s: Session, message_id: int, *, sent: bool) -> OutboxMessage:
    """Say what became of a message left in ``sending`` by a crash: ``sent=True`` (it is
    in the Sent folder / the recipient has it) records and logs it; ``sent=False``
    queues it again."""
    row = _row(s, message_id)
    if row.state == "sending" and not is_in_doubt(row, ws.clock()):
        minutes = int(SENDING_GRACE.total_seconds() // 60)
        raise ValidationError(
            [
                FieldError(
                    f"outbox message #{row.id}",
                    "state",
                    row.state,
                    f"is being sent now (claimed less than {minutes} minutes ago):"
                    " settle it only if it is still sending after that",
                )
            ]
        )
    if row.state != "sending":
        raise ValidationError(
            [
                FieldError(
                    f"outbox message #{row.id}",
                    "state",
                    row.state,
                    "only a message in doubt (sending) can be resolved",
                )
            ]
        )
    if sent:
        row.state, row.sent_at = "sent", row.sending_at or ws.clock()
        log_sent(ws, s, row)
    else:
        row.state, row.queued_at, row.sending_at = "queued", ws.clock(), None
    return row


def as_dict(row: OutboxMessage, now: dt.datetime | None = None) -> dict[str, Any]:
    """An outbox row as plain values (with ``in_doubt`` when ``now`` is given)."""
    out = {c.key: getattr(row, c.key) for c in row.__mapper__.column_attrs}
    if now is not None:
        out["in_doubt"] = is_in_doubt(row, now)
    return out


def window_start(now: dt.datetime) -> dt.datetime:
    """The start of the minute-long window the rate limit counts in."""
    return now - dt.timedelta(minutes=1)
