"""One fetch of one mailbox: take its lease, plan every folder, read and write in
batches, and record the run on the mailbox.

Each batch is one transaction that also moves the folder's last UID and renews the
lease: a run killed at any point keeps what it wrote and the next run goes on from
there, neither duplicating nor losing a message. A message that cannot be parsed or
stored is skipped with its reason; a server or connection error ends the run with the
error recorded, never an exception out of :func:`fetch_mailbox`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from crm_core.errors import CrmError
from crm_core.mail import credentials, hosts, imap, lease
from crm_core.mail.parse import Unreadable, parse
from crm_core.mail.report import FetchReport
from crm_core.mail.store import Incoming, write_batch
from crm_core.models import Mailbox, MailboxFolder, MailboxSecret

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: ``progress(report, done, total)``: called after each batch.
Progress = Callable[[FetchReport, int, int], None]


def password_of(ws: Workspace, box: Mailbox, given: str | None) -> str:
    """The password to log in with: ``given``, else the mailbox's source."""
    if given:
        return given
    if box.password_source == "env" and box.password_env:
        return credentials.from_environment(box.password_env, box.name)
    if box.password_source == "stored":
        with ws.transaction() as s:
            secret = s.get(MailboxSecret, box.id)
        if secret is not None:
            return credentials.decrypt(secret.ciphertext, box.name)
    raise credentials.MailPasswordError(
        f"mailbox {box.name!r} keeps no password: give one (crmbook mail fetch --password)"
    )


def _folder_state(ws: Workspace, box_id: int, name: str) -> tuple[int | None, int]:
    with ws.transaction() as s:
        row = s.scalars(
            select(MailboxFolder).where(
                MailboxFolder.mailbox_id == box_id, MailboxFolder.name == name
            )
        ).first()
        return (row.uidvalidity, row.last_uid) if row else (None, 0)


def _save_folder(s: Any, box_id: int, name: str, uidvalidity: int, last_uid: int, now: Any) -> None:
    row = s.scalars(
        select(MailboxFolder).where(MailboxFolder.mailbox_id == box_id, MailboxFolder.name == name)
    ).first()
    if row is None:
        row = MailboxFolder(mailbox_id=box_id, name=name, last_uid=0)
        s.add(row)
    if row.uidvalidity != uidvalidity:
        row.uidvalidity, row.last_uid = uidvalidity, 0
    row.last_uid = max(row.last_uid or 0, last_uid)
    row.last_run_at = now


def _read(raw: imap.RawMessage, folder: str, uidvalidity: int) -> Incoming:
    item = Incoming(folder, uidvalidity, raw.uid, raw.size, raw.received, None)
    try:
        item.mail = parse(raw.raw, complete=raw.complete)
    except Unreadable as exc:
        item.problem = str(exc)
    except Exception as exc:  # a parser failure on one message must not end the run
        item.problem = f"could not be parsed ({type(exc).__name__}: {exc})"
    return item


def fetch_mailbox(
    ws: Workspace,
    box: Mailbox,
    *,
    password: str | None = None,
    progress: Progress | None = None,
    max_message_bytes: int = imap.MAX_MESSAGE_BYTES,
    batch: int = imap.BATCH,
    connect: Callable[..., Any] = imap.connect,
) -> FetchReport:
    """Fetch what is new in ``box`` (a detached :class:`Mailbox`) into ``ws``."""
    report = FetchReport(box.name, ws.clock())
    owner = lease.holder()
    with ws.transaction() as s:
        taken = lease.take(s, box.id, owner, ws.clock())
        if not taken:
            report.busy_until = s.scalar(select(Mailbox.lease_until).where(Mailbox.id == box.id))
    if not taken:
        report.busy = True
        report.finished_at = ws.clock()
        return report
    client = None
    try:
        refused = hosts.box_refusal(ws, box)  # resolved now, just before connecting
        if refused is not None:
            raise CrmError(refused)
        client = connect(
            box.host, box.port, box.security, box.login, password_of(ws, box, password)
        )
        plans: list[imap.FolderPlan] = []
        for wanted in box.folders:
            name = imap.server_folder(client, wanted)
            if name is None:
                raise CrmError(f"the server has no folder {wanted!r}")
            uidvalidity, last_uid = _folder_state(ws, box.id, name)
            plans.append(imap.plan(client, name, uidvalidity, last_uid, box.import_since))
        report.planned = sum(len(p.uids) for p in plans)
        report.renumbered = [p.name for p in plans if p.renumbered]
        done = 0
        if progress is not None:
            progress(report, 0, report.planned)
        for folder in plans:
            client.select_folder(folder.name, readonly=True)
            if not folder.uids:
                with ws.transaction(origin=f"mail:{box.name}") as s:
                    lease.renew(s, box.id, owner, ws.clock())
                    _save_folder(s, box.id, folder.name, folder.uidvalidity, 0, ws.clock())
            for start in range(0, len(folder.uids), batch):
                uids = folder.uids[start : start + batch]
                items = [
                    _read(raw, folder.name, folder.uidvalidity)
                    for raw in imap.fetch(client, uids, max_message_bytes)
                ]
                report.fetched += len(items)
                _write(ws, box, owner, folder, uids[-1], items, report)
                done += len(uids)
                if progress is not None:
                    progress(report, done, report.planned)
    except lease.LeaseLost as exc:
        report.error = str(exc)
    except (CrmError, OSError) as exc:
        report.error = str(exc) or type(exc).__name__
    except Exception as exc:  # imaplib's and imapclient's errors: the server's words
        report.error = f"{type(exc).__name__}: {exc}"
    finally:
        if client is not None:
            with contextlib.suppress(Exception):
                client.logout()
        report.finished_at = ws.clock()
        _finish(ws, box, owner, report)
    return report


def _write(
    ws: Workspace,
    box: Mailbox,
    owner: str,
    folder: imap.FolderPlan,
    last_uid: int,
    items: list[Incoming],
    report: FetchReport,
) -> None:
    """One batch in one transaction, retried once when another mailbox's fetch stored
    one of its Message-IDs meanwhile (the retry finds it stored)."""
    for attempt in (1, 2):
        counts = FetchReport(report.mailbox, report.started_at)
        try:
            with ws.transaction(origin=f"mail:{box.name}") as s:
                lease.renew(s, box.id, owner, ws.clock())
                write_batch(ws, s, box, items, counts)
                _save_folder(s, box.id, folder.name, folder.uidvalidity, last_uid, ws.clock())
        except IntegrityError:
            if attempt == 2:
                raise
            continue
        break
    for name in ("created", "known", "proposed", "new_proposals", "unknown", "bounces"):
        setattr(report, name, getattr(report, name) + getattr(counts, name))
    report.bouncing += counts.bouncing
    report.headers_only += counts.headers_only
    report.bounces_not_ours += counts.bounces_not_ours
    report.skipped += counts.skipped
    report.unsubscribed += counts.unsubscribed
    report.unsubscribe_ignored += counts.unsubscribe_ignored


def _finish(ws: Workspace, box: Mailbox, owner: str, report: FetchReport) -> None:
    values: dict[str, Any] = {"last_run_at": report.started_at, "last_report": report.counts()}
    if report.ok:
        values.update(last_ok_at=report.finished_at, last_error=None)
    elif report.error:
        values["last_error"] = report.error
    with ws.transaction() as s:
        if not report.busy:
            s.execute(
                update(Mailbox)
                .where(Mailbox.id == box.id)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        lease.give_back(s, box.id, owner)


def lag(box: Mailbox, now: dt.datetime) -> dt.timedelta | None:
    """How long ago the mailbox was last read to the end (None: never)."""
    return None if box.last_ok_at is None else now - box.last_ok_at
