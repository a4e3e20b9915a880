"""Draining the outbox: send what is queued over SMTP, at most the configured number
of messages a minute.

Each message is claimed (``sending``, committed), put on the wire, then marked
``sent`` and logged as an interaction, or ``failed`` with the server's words. The rate
limit counts the messages claimed in the last minute by any process (from the
database), and waits with the injected ``sleep`` while the window is full. Messages
already in ``sending`` when a run starts are in doubt: they are first looked for in the
Sent folder (:mod:`crm_core.mail.in_doubt`) and settled as sent when found, otherwise
left alone and reported as in doubt, never sent again. Campaign messages carry the
contact's unsubscribe link in ``List-Unsubscribe`` (RFC 8058 one-click) and, when a
mailbox crmbook fetches has the sender's address, a ``mailto:`` to it (RFC 2369).
A reply names the thread it answers in ``References``.

What a failed send becomes depends on where it failed (:mod:`crm_core.mail.smtp`):
no answer after the whole message went (timeout, disconnect) leaves it in
``sending``, in doubt (the server may have it); no connection or a 4xx answer puts it
back in ``queued``, tried again by a drain after a growing delay
(:data:`crm_core.mail.outbox.RETRY_DELAYS`; no connection also ends this drain: the
rest wait untouched); a 5xx answer makes it ``failed``, and a refused recipient that does
not exist (5.1.x, "user unknown") ``bounced``. A message that cannot be built
(a header the e-mail library refuses) is ``failed`` with the reason; the batch goes on.
"""

from __future__ import annotations

import email.errors
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm_core.access import own_only
from crm_core.errors import FieldError, ValidationError
from crm_core.mail import campaigns, in_doubt, outbox, threads, tokens
from crm_core.mail.compose import build_mime, unsubscribe_mailto
from crm_core.mail.smtp import InDoubtError, SmtpTransport, Transport, Unbuildable, Unreachable
from crm_core.mail.smtp_config import MailSettings, load
from crm_core.models import Contact, Mailbox, OutboxMessage, User

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: What a message still in ``sending`` at the start of a run is reported as.
IN_DOUBT = "unknown whether the server has it: check the Sent folder, then resolve it"
#: A refusal of the recipient that says the address does not exist (without an
#: enhanced status code, or with a 5.1.x one): the message bounced.
_NO_SUCH_ADDRESS = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address)"
    r"|mailbox (?:unavailable|not found|does not exist)|does not exist"
    r"|unknown (?:recipient|address|mailbox)|recipient unknown|address unknown"
    r"|invalid (?:recipient|mailbox)",
    re.IGNORECASE,
)
_ENHANCED = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})\b")


@dataclass
class DrainReport:
    """What a drain did: ids sent, failed (with the server's words), in doubt (with
    where each was looked for: ``doubts``) and, of those a crash left in ``sending``,
    the ones found in a Sent folder and so settled as sent (``settled``: where)."""

    sent: list[int] = field(default_factory=list)
    failed: dict[int, str] = field(default_factory=dict)
    in_doubt: list[int] = field(default_factory=list)
    waited: float = 0.0
    settled: dict[int, str] = field(default_factory=dict)
    doubts: dict[int, str] = field(default_factory=dict)
    #: Put back in the queue after a temporary failure (the reason).
    deferred: dict[int, str] = field(default_factory=dict)
    #: Refused as an address that does not exist (the server's words).
    bounced: dict[int, str] = field(default_factory=dict)
    #: Sent whole in this run with no answer after: in doubt (also in ``in_doubt``).
    unanswered: dict[int, str] = field(default_factory=dict)
    #: Why this run stopped before the queue was empty (the server unreachable).
    stopped: str | None = None
    #: Left queued, not sent: their author is disabled (the reason).
    held: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"sent {len(self.sent)}, failed {len(self.failed)}"
        if self.bounced:
            text += f", bounced {len(self.bounced)}"
        if self.deferred:
            text += f", {len(self.deferred)} left queued after a temporary failure"
        if self.settled:
            text += f", {len(self.settled)} found in a Sent folder (settled as sent)"
        if self.in_doubt:
            text += f", {len(self.in_doubt)} in doubt ({IN_DOUBT})"
        if self.held:
            text += f", {len(self.held)} held (their author is disabled)"
        if self.waited:
            text += f"; waited {self.waited:.0f} s for the rate limit"
        if self.stopped:
            text += f"; stopped: {self.stopped}"
        return text


def _code(exc: BaseException) -> tuple[int | None, str]:
    """The SMTP code of a refusal and the server's words (None: no answer at all)."""
    said: bytes | str
    if isinstance(exc, smtplib.SMTPRecipientsRefused) and exc.recipients:
        code, said = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, said = exc.smtp_code, exc.smtp_error
    else:
        return None, ""
    return code, said.decode(errors="replace") if isinstance(said, bytes) else str(said)


def outcome(exc: BaseException) -> tuple[str, str | None]:
    """What a failed send makes of the message: ``in doubt`` (sent whole, no answer),
    ``temporary`` (try again later), ``bounced`` (the recipient does not exist) or
    ``failed`` (refused for good); and the enhanced status code the server gave."""
    if isinstance(exc, InDoubtError):
        return "in doubt", None
    if isinstance(exc, Unbuildable | smtplib.SMTPNotSupportedError):
        return "failed", None
    code, words = _code(exc)
    enhanced = _ENHANCED.match(words)
    status = ".".join(enhanced.groups()) if enhanced else None
    if code is None or code < 500:
        # no answer before the message went (refused connection, timeout, reset), a
        # 4xx answer, or an odd code: the server does not have it; later may work
        return ("failed" if code is not None and code < 400 else "temporary"), status
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        if status is not None:
            if status.startswith("5.1."):
                return "bounced", status
        elif code in (550, 551, 553) and _NO_SUCH_ADDRESS.search(words):
            return "bounced", status
    return "failed", status


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{rcpt}: {code} {msg.decode(errors='replace') if isinstance(msg, bytes) else msg}"
            for rcpt, (code, msg) in exc.recipients.items()
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        words = exc.smtp_error
        text = words.decode(errors="replace") if isinstance(words, bytes) else str(words)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, InDoubtError | Unreachable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _wait_for_rate(
    ws: Workspace, settings: MailSettings, sleep: Callable[[float], None], report: DrainReport
) -> None:
    while True:
        now = ws.clock()
        with ws.transaction() as s:
            recent = select(OutboxMessage.sending_at).where(
                OutboxMessage.sending_at > outbox.window_start(now),
                OutboxMessage.state != "queued",
            )
            count = s.scalar(select(func.count()).select_from(recent.subquery())) or 0
            if count < settings.rate_per_minute:
                return
            oldest = s.scalar(select(func.min(recent.subquery().c.sending_at)))
        pause = max((oldest - outbox.window_start(now)).total_seconds(), 0.05)
        report.waited += pause
        sleep(pause)


# What became of a contact since a campaign message to them was queued.
_SINCE = {
    "archived": "was archived",
    "opted out": "opted out",
    "bouncing": "is bouncing",
    "no e-mail address": "has no e-mail address",
}


class _Unwanted(Exception):
    """A campaign message whose contact opted out, bounced or was archived since it
    was queued (:func:`crm_core.mail.campaigns.unwanted`)."""


def drain(
    ws: Workspace,
    *,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
    limit: int | None = None,
    check_sent: bool = True,
) -> DrainReport:
    """Send the queued messages, oldest first (at most ``limit``), after looking for
    the messages in doubt in the Sent folders (``check_sent=False``: only list them).
    A sales user's drain sends, checks and lists only the messages they queued. A
    message whose author (who queued it) is disabled is held: left queued, unsent
    (listed in ``held``), and sent by a drain after they are enabled again."""
    settings = load(ws)
    report = DrainReport()
    mine = own_only(ws)
    own = [] if mine is None else [OutboxMessage.user_id == mine]
    if check_sent:
        checked = in_doubt.check(ws, user_id=mine)
        report.settled, report.doubts = checked.settled, checked.in_doubt
        report.in_doubt = sorted(checked.in_doubt)
    else:
        with ws.transaction() as s:
            report.in_doubt = list(
                s.scalars(
                    select(OutboxMessage.id)
                    .where(outbox.in_doubt(ws.clock()), *own)
                    .order_by(OutboxMessage.id)
                )
            )
    with ws.transaction() as s:
        for ident, login in s.execute(
            select(OutboxMessage.id, User.login)
            .join(User, User.id == OutboxMessage.user_id)
            .where(OutboxMessage.state == "queued", outbox.author_disabled(), *own)
            .order_by(OutboxMessage.id)
        ):
            report.held[ident] = outbox.held_reason(login)
    tried: set[int] = set()
    try:
        while limit is None or len(tried) < limit:
            with ws.transaction() as s:
                next_id = s.scalar(
                    select(OutboxMessage.id)
                    .where(
                        outbox.ready(ws.clock()),
                        outbox.not_held(),
                        OutboxMessage.id.not_in(tried or {0}),
                        *own,
                    )
                    .order_by(OutboxMessage.queued_at, OutboxMessage.id)
                    .limit(1)
                )
            if next_id is None:
                break
            tried.add(next_id)
            if transport is None:  # made for the first message (settings checked), not before
                transport = _transport(settings)
            _wait_for_rate(ws, settings, sleep, report)
            if not outbox.claim(ws, next_id):
                continue
            try:
                with ws.transaction() as s:
                    row = s.get(OutboxMessage, next_id)
                    assert row is not None
                    contact = s.get(Contact, row.contact_id) if row.contact_id else None
                    why = campaigns.unwanted(contact) if row.campaign_id and contact else None
                    if why is not None:
                        raise _Unwanted(
                            f"campaign message not sent: the contact {_SINCE[why]} since it "
                            "was queued"
                        )
                    link, by_mail = _unsubscribe_ways(ws, s, row, settings)
                    msg = build_mime(
                        row,
                        references=threads.references_for_reply(s, row.in_reply_to),
                        unsubscribe=link,
                        unsubscribe_mail=by_mail,
                    )
                    sender = parseaddr(row.sender or "")[1]
                    recipient = row.recipient
            except _Unwanted as exc:
                outbox.fail(ws, next_id, str(exc))  # claimed, not sent: nothing went
                report.failed[next_id] = str(exc)
                continue
            except (ValueError, TypeError, LookupError, email.errors.MessageError) as exc:
                reason = f"the message cannot be built: {exc}"
                outbox.fail(ws, next_id, reason)  # never left in sending: nothing went
                report.failed[next_id] = reason
                continue
            try:
                transport.send(msg, sender, [recipient])
            except (smtplib.SMTPException, OSError, Unbuildable) as exc:
                if _settle_failure(ws, next_id, exc, report):
                    break
                continue
            outbox.mark_sent(ws, next_id)
            report.sent.append(next_id)
    finally:
        if transport is not None:
            transport.close()
    return report


def _settle_failure(ws: Workspace, ident: int, exc: BaseException, report: DrainReport) -> bool:
    """Move a message whose send failed to the state :func:`outcome` says; True when
    the drain should stop (the server cannot be reached: the rest wait untouched)."""
    reason = _reason(exc)
    kind, status = outcome(exc)
    if kind == "in doubt":
        outbox.doubt(ws, ident, reason)
        report.unanswered[ident] = outbox.NO_ANSWER + reason
        report.doubts[ident] = report.unanswered[ident]
        report.in_doubt.append(ident)
    elif kind == "bounced":
        outbox.bounce(ws, ident, reason, status)
        report.bounced[ident] = reason
    elif kind == "temporary":
        if outbox.defer(ws, ident, reason) == "failed":
            with ws.transaction() as s:
                row = s.get(OutboxMessage, ident)
                report.failed[ident] = (row.reason if row is not None else None) or reason
        else:
            report.deferred[ident] = reason
        if isinstance(exc, Unreachable):
            report.stopped = f"the SMTP server cannot be reached ({reason}); the rest wait"
            return True
    else:
        outbox.fail(ws, ident, reason)
        report.failed[ident] = reason
    return False


def _unsubscribe_ways(
    ws: Workspace, s: Session, row: OutboxMessage, settings: MailSettings
) -> tuple[str | None, str | None]:
    """The contact's signed unsubscribe link and ``mailto:`` for a campaign message;
    (None, None) otherwise (one-to-one mail carries no List-Unsubscribe). The
    ``mailto:`` goes to the sender's address only when a mailbox crmbook fetches has it
    (:mod:`crm_core.mail.optout` reads those requests): else nobody would read it."""
    if row.campaign_id is None or row.contact_id is None:
        return None, None
    contact = s.get(Contact, row.contact_id)
    if contact is None:
        return None, None
    token = tokens.make(ws, contact.id, contact.email_key, s)
    address = parseaddr(row.sender or "")[1]
    fetched = address and s.scalar(
        select(Mailbox.address).where(
            Mailbox.active, func.lower(Mailbox.address) == address.lower()
        )
    )
    mailto = unsubscribe_mailto(fetched, token) if fetched else None
    return settings.unsubscribe_url + token, mailto


def _transport(settings: MailSettings) -> Transport:
    if not settings.smtp_host:
        raise ValidationError(
            [
                FieldError(
                    "mail settings",
                    "smtp_host",
                    None,
                    "is not set: ws.mail.configure(smtp_host=...) or $CRMBOOK_SMTP_HOST",
                )
            ]
        )
    return SmtpTransport(settings)
