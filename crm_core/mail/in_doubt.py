"""Messages in doubt, checked against the Sent folder.

A message a crash left in ``sending`` (claimed, perhaps accepted by the SMTP server,
never marked ``sent``), or that a send left there when no answer came after the whole
message went (its reason starts with :data:`crm_core.mail.outbox.NO_ANSWER`, kept),
is looked for by its Message-ID, which it was given when queued:

1. among the messages already fetched (:class:`EmailMessage` rows a mailbox fetch
   stored, e.g. from its Sent folder);
2. over IMAP, in the Sent folder(s) of each active mailbox whose address is the
   message's sender (``SEARCH HEADER Message-ID <id>``).

Only a shared mailbox (no owner) or one of the user who queued the message is believed
(:func:`trusted`): another user's own mailbox is on a server that user may run.

Found: it is settled as sent, exactly as ``ws.mail.resolve(id, sent=True)`` does
(recorded and logged as an outbound interaction, linked to the one a fetch made of
it). Not found: it stays in doubt, with a note saying where it was looked for and
when. It is never sent again automatically: many SMTP servers file no copy in Sent,
so "not found" does not mean "not sent"; a person decides (``resolve``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parseaddr
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from crm_core.errors import CrmError
from crm_core.mail import hosts, imap, outbox
from crm_core.mail.run import password_of
from crm_core.models import EmailMessage, Mailbox, OutboxMessage

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Seconds to wait for an IMAP server while checking (a drain must not hang on one).
IMAP_TIMEOUT = 20.0
#: Folder names (the last part, lowercase) taken for sent mail besides the folder the
#: server flags ``\\Sent``.
SENT_NAMES = ("sent", "sent items", "sent mail", "sent messages", "gesendet", "отправленные")


@dataclass
class DoubtReport:
    """What a check found: ids settled as sent (with where each was found) and ids
    still in doubt (with where they were looked for, or why they could not be)."""

    settled: dict[int, str] = field(default_factory=dict)
    in_doubt: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        found, left = len(self.settled), len(self.in_doubt)
        return f"{found} found in a Sent folder (now sent), {left} still in doubt"


def _when(ws: Workspace) -> str:
    return ws.clock().strftime("%Y-%m-%d %H:%M UTC")


def sent_folders(client: Any) -> list[str]:
    """The folders of the logged-in ``client`` that hold sent mail: the one flagged
    ``\\Sent`` (RFC 6154) and those named like it (Sent, Sent Items, INBOX.Sent ...)."""
    found: list[str] = []
    for flags, delimiter, name in client.list_folders():
        if not isinstance(name, str):
            continue
        sep = delimiter.decode() if isinstance(delimiter, bytes) else (delimiter or "/")
        last = name.rsplit(sep, 1)[-1].strip().lower() if sep else name.lower()
        if b"\\Sent" in flags or last in SENT_NAMES:
            found.append(name)
    return list(dict.fromkeys(found))


def search_sent(client: Any, folders: list[str], message_id: str) -> str | None:
    """The first of ``folders`` holding a message whose Message-ID header is
    ``message_id``, or None."""
    for folder in folders:
        client.select_folder(folder, readonly=True)
        if client.search(["HEADER", "Message-ID", message_id]):
            return folder
    return None


def _settle(ws: Workspace, message_id: int) -> bool:
    """Settle one message as sent if it is still in ``sending`` (another process may
    have settled or sent it meanwhile); True when this call did."""
    with ws.transaction(origin="mail:sent-folder") as s:
        row = s.get(OutboxMessage, message_id, with_for_update=True)
        if row is None or row.state != "sending":
            return False
        outbox.resolve(ws, s, message_id, sent=True)
        return True


def _note(ws: Workspace, message_id: int, note: str) -> None:
    with ws.transaction() as s:
        row = s.get(OutboxMessage, message_id)
        if row is not None and row.state == "sending":
            # a send with no final answer keeps its cause before the notes
            cause = outbox.doubt_cause(row.reason)
            row.reason = (f"{cause}{outbox.NOTE_SEPARATOR}{note}" if cause else note)[:4000]


def check(
    ws: Workspace,
    *,
    connect: Callable[..., Any] = imap.connect,
    timeout: float = IMAP_TIMEOUT,
    user_id: int | None = None,
) -> DoubtReport:
    """Check every message in doubt (in ``sending`` for longer than a send takes: one
    claimed a moment ago may be on the wire now) against the Sent folders (module doc);
    with ``user_id``, only the messages that user queued. Access is the caller's: this
    settles only what the Sent folder proves."""
    report = DoubtReport()
    query = select(OutboxMessage).where(outbox.in_doubt(ws.clock())).order_by(OutboxMessage.id)
    if user_id is not None:
        query = query.where(OutboxMessage.user_id == user_id)
    with ws.transaction() as s:
        rows = list(s.scalars(query))
        doubted = [(r.id, r.message_id, parseaddr(r.sender or "")[1].lower()) for r in rows]
        if not doubted:
            return report
        queued_by = {r.id: r.user_id for r in rows}
        fetched = {
            mid: (box, folder, owner)
            for mid, box, folder, owner in s.execute(
                select(EmailMessage.message_id, Mailbox.name, EmailMessage.folder, Mailbox.owner_id)
                .join(Mailbox, Mailbox.id == EmailMessage.mailbox_id)
                .where(EmailMessage.message_id.in_([d[1] for d in doubted]))
            ).all()
        }
        senders = {d[2] for d in doubted if d[2]}
        boxes: dict[str, list[Mailbox]] = {}
        for box in s.scalars(
            select(Mailbox)
            .where(Mailbox.active, func.lower(Mailbox.address).in_(senders or {""}))
            .order_by(Mailbox.id)
        ):
            s.expunge(box)
            boxes.setdefault(box.address.lower(), []).append(box)

    left: list[tuple[int, str, str]] = []
    for ident, mid, sender in doubted:
        if mid in fetched and trusted(fetched[mid][2], queued_by.get(ident)):
            box_name, folder, _owner = fetched[mid]
            if _settle(ws, ident):
                report.settled[ident] = (
                    f"fetched from {folder or 'a folder'} of mailbox {box_name!r}"
                )
        else:
            left.append((ident, mid, sender))

    notes: dict[int, list[str]] = {ident: [] for ident, _mid, _sender in left}
    for address, mailboxes in boxes.items():
        ours = [(ident, mid) for ident, mid, sender in left if sender == address]
        for box in mailboxes:
            mine = [
                (i, m)
                for i, m in ours
                if i not in report.settled and trusted(box.owner_id, queued_by.get(i))
            ]
            if mine:
                _search_box(ws, box, mine, connect, timeout, report, notes)
    for ident, _mid, sender in left:
        if ident in report.settled:
            continue
        said = notes[ident] or [
            f"no mailbox with the sender's address {sender or '(none)'} to look in: "
            "check its Sent folder, then resolve it"
        ]
        note = "; ".join(said)
        report.in_doubt[ident] = note
        _note(ws, ident, note)
    return report


def trusted(box_owner: int | None, queued_by: int | None) -> bool:
    """Whether a mailbox's word settles a message: a shared mailbox's (no owner), or
    that of the user who queued it. Another user's own mailbox is theirs to fill: its
    Sent folder could hold any Message-ID, and a message settled as sent is never sent."""
    return box_owner is None or box_owner == queued_by


def _search_box(
    ws: Workspace,
    box: Mailbox,
    wanted: list[tuple[int, str]],
    connect: Callable[..., Any],
    timeout: float,
    report: DoubtReport,
    notes: dict[int, list[str]],
) -> None:
    """Look for ``wanted`` (outbox id, Message-ID) in ``box``'s Sent folders."""
    client = None
    try:
        refused = hosts.box_refusal(ws, box)
        if refused is not None:
            raise CrmError(refused)
        password = password_of(ws, box, None)
        client = connect(box.host, box.port, box.security, box.login, password, timeout=timeout)
        folders = sent_folders(client)
        if not folders:
            for ident, _mid in wanted:
                notes[ident].append(f"mailbox {box.name!r} has no Sent folder")
            return
        for ident, mid in wanted:
            found = search_sent(client, folders, mid)
            if found is not None:
                if _settle(ws, ident):
                    report.settled[ident] = (
                        f"found in Sent folder {found!r} of mailbox {box.name!r}"
                    )
                continue
            names = ", ".join(repr(f) for f in folders)
            notes[ident].append(
                f"not found in Sent folder {names} of mailbox {box.name!r} at {_when(ws)}"
            )
    except (CrmError, OSError) as exc:
        _could_not(ws, box, wanted, str(exc) or type(exc).__name__, notes)
    except Exception as exc:  # imaplib's and imapclient's errors: the server's words
        _could_not(ws, box, wanted, f"{type(exc).__name__}: {exc}", notes)
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()


def _could_not(
    ws: Workspace,
    box: Mailbox,
    wanted: list[tuple[int, str]],
    why: str,
    notes: dict[int, list[str]],
) -> None:
    for ident, _mid in wanted:
        notes[ident].append(
            f"could not look in the Sent folder of mailbox {box.name!r} at {_when(ws)}: {why}"
        )
