"""``ws.mail``: mailboxes, fetching them, and what fetching proposes."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import or_, select

from crm_core import validation as v
from crm_core.access import check_unrestricted, interaction_clauses, own_only, require_admin
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.mail import credentials, hosts, imap
from crm_core.mail.campaigns import mark_replies
from crm_core.mail.outgoing import MailOut
from crm_core.mail.report import FetchReport
from crm_core.mail.run import Progress, fetch_mailbox, lag
from crm_core.models import (
    IMAP_SECURITY,
    ContactProposal,
    EmailMessage,
    Interaction,
    Mailbox,
    MailboxSecret,
    MailSkip,
    User,
)
from crm_core.services.base import Cleaner, Service, apply_fields, raise_if, user_ref
from crm_core.validation import Reject

DEFAULT_FOLDERS = ("INBOX", "Sent")


def _folders(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [f for f in value.split(",")]
    if not isinstance(value, Sequence) or isinstance(value, bytes):
        raise Reject("must be a list of folder names")
    names = [v.optional_text(f, 300) for f in value]
    clean = list(dict.fromkeys(n for n in names if n))
    if not clean:
        raise Reject("name at least one folder (INBOX, Sent)")
    return clean


def _loopback(host: str) -> bool:
    """Whether ``host`` names this machine (localhost or a loopback address)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _env_name(value: Any) -> str | None:
    name = v.optional_text(value, 200)
    if name is not None and not name.replace("_", "a").isalnum():
        raise Reject("must be an environment variable's name (letters, digits, _)")
    return name


class Mail(MailOut, Service):
    """E-mail in: ``ws.mail.add_mailbox(...)``, ``ws.mail.fetch()``, ``ws.mail.status()``;
    e-mail out (:class:`~crm_core.mail.outgoing.MailOut`): ``ws.mail.compose(...)``,
    ``send``, ``drain``, ``outbox``, ``retry``, ``send_campaign``, ``unsubscribe``."""

    entity = "mailbox"

    def add_mailbox(
        self,
        name: str,
        *,
        address: str,
        host: str,
        login: str,
        port: int = 993,
        security: str = "tls",
        password_env: str | None = None,
        password: str | None = None,
        folders: Sequence[str] | str = DEFAULT_FOLDERS,
        import_since: Any = None,
        only_known: bool = True,
        owner: Any = None,
    ) -> dict[str, Any]:
        """Add an IMAP mailbox whose messages become interactions.

        ``address`` is the mailbox's own address (a message from it is outgoing);
        ``security`` is ``tls`` (port 993), ``starttls`` (143) or ``none`` (loopback
        only). The password comes from the environment variable ``password_env``
        (named by an admin only: the server reads it and logs in to ``host`` with it),
        or is stored encrypted (``password``; needs ``$CRMBOOK_MAIL_KEY``), or neither:
        then each fetch is given it. ``folders`` are read (INBOX and Sent by default), only
        from ``import_since`` (a date) on; ``only_known`` skips messages with no known
        contact, otherwise their senders are proposed as contacts. ``owner`` (a user id
        or login) makes it that user's; None makes it shared when an admin (or the
        workspace itself) adds it, and the acting user's own for anyone else: a sales
        user (or a manager) adds their own mailbox only, never a shared one or another
        user's, and only on a public server: a ``host`` that is (or resolves to) a
        loopback, private, link-local or other non-public address is refused unless an
        admin allowed it (:mod:`crm_core.mail.hosts`, the mail setting
        ``allowed_mail_hosts``).
        """
        record = f"mailbox (new) {name!r}"
        if owner is None and self.ws.role not in (None, "admin"):
            owner = self.ws.user_id  # a user's own mailbox, unless an admin says otherwise
        errors: list[FieldError] = []
        checked = self.ws.role not in (None, "admin")
        permitted = hosts.allowed(self.ws) if checked else set()
        if password_env is not None and password is not None:
            errors.append(
                FieldError(record, "password", "***", "give password or password_env, not both")
            )
        with self._tx() as s:
            box = Mailbox(active=True)
            values = {
                "name": name,
                "address": address,
                "host": host,
                "login": login,
                "port": port,
                "security": security,
                "password_env": password_env,
                "folders": folders,
                "import_since": import_since,
                "only_known": only_known,
                "owner_id": owner,
            }
            cleaners: dict[str, Cleaner] = {
                "name": partial(v.required_text, max_len=200),
                "address": _required_email,
                "host": partial(v.required_text, max_len=255),
                "login": partial(v.required_text, max_len=320),
                "port": partial(v.integer, minimum=1, maximum=65535),
                "security": partial(v.one_of, choices=IMAP_SECURITY),
                "password_env": _env_name,
                "folders": _folders,
                "import_since": v.date_value,
                "only_known": _boolean,
                "owner_id": user_ref(s),
            }
            apply_fields(box, values, cleaners, record, errors)
            # An admin adds any mailbox; a user only their own.
            require_admin(self.ws, "add", record, own_id=box.owner_id or -1)
            if password_env is not None:
                # The server reads the variable and logs in to the mailbox's host with
                # it: naming one is choosing which of the server's secrets goes where.
                require_admin(self.ws, "name an environment variable for", record)
            if box.security == "none" and box.host and not _loopback(box.host):
                errors.append(
                    FieldError(
                        record,
                        "security",
                        security,
                        f"none (no encryption) is for a server on this machine only, not"
                        f" {box.host!r}: use tls or starttls",
                    )
                )
            if checked and box.host:
                # The server connects there and says how it went: not to its own network.
                why = hosts.refusal(self.ws, box.host, permitted)
                if why is not None:
                    errors.append(FieldError(record, "host", host, why))
            if box.name and s.scalar(select(Mailbox.id).where(Mailbox.name == box.name)):
                errors.append(FieldError(record, "name", name, "is the name of another mailbox"))
            raise_if(errors)
            box.password_source = "env" if password_env else "stored" if password else "none"
            s.add(box)
            s.flush()
            if password:
                s.add(MailboxSecret(mailbox_id=box.id, ciphertext=credentials.encrypt(password)))
            return _as_dict(box)

    def _box(self, s: Any, name: Any) -> Mailbox:
        box = None
        if isinstance(name, int) and not isinstance(name, bool):
            box = s.get(Mailbox, name)
        elif isinstance(name, str):
            box = s.scalars(select(Mailbox).where(Mailbox.name == name)).first()
        if box is None:
            raise NotFoundError("mailbox", name)
        return box

    def fetch(
        self,
        mailbox: Any = None,
        *,
        password: str | None = None,
        progress: Progress | None = None,
        max_message_bytes: int = imap.MAX_MESSAGE_BYTES,
    ) -> list[FetchReport]:
        """Fetch what is new in ``mailbox`` (a name or id), or in every active mailbox
        whose owner is not disabled: one report per mailbox. A mailbox deactivated
        (:meth:`deactivate_mailbox`) or of a disabled user is not fetched: naming one is
        refused (ValidationError) saying which. A mailbox of a user other than an admin
        is not fetched from a host that is no public server (:mod:`crm_core.mail.hosts`):
        the acting user's named fetch is refused, any other's report says why. A mailbox
        another process is fetching is left to it (its report says ``busy``). Like the
        ERP sync, a fetch links mail to any deal:
        a user who sees only their own deals runs it on their own mailbox only (named,
        with its password given or stored), and it runs as the scheduler's fetch of
        that mailbox would, journaled as theirs (what it links to another rep's deal
        stays that deal's: the report counts their own mail only); every other fetch is
        a manager's or an admin's."""
        runner = self.ws
        if own_only(self.ws) is not None:
            runner = self._own_mailbox_runner(mailbox)
        with self._tx() as s:
            if mailbox is None:
                boxes = [
                    box
                    for box in s.scalars(select(Mailbox).where(Mailbox.active).order_by(Mailbox.id))
                    if paused(s, box) is None
                ]
            else:
                box = self._box(s, mailbox)
                _refuse_paused(s, box)
                boxes = [box]
        if mailbox is not None and self.ws.role not in (None, "admin"):
            why = hosts.box_refusal(self.ws, boxes[0])
            if why is not None:
                raise ValidationError(
                    [FieldError(f"mailbox {boxes[0].name!r}", "host", boxes[0].host, why)]
                )
        reports = [
            fetch_mailbox(
                runner,
                box,
                password=password,
                progress=progress,
                max_message_bytes=max_message_bytes,
            )
            for box in boxes
        ]
        mark_replies(runner)  # replies to campaign messages mark their members
        return reports

    def _own_mailbox_runner(self, mailbox: Any) -> Any:
        """For a sales user's fetch: the workspace that runs it (unrestricted as the
        scheduler's run, journaled as theirs), once ``mailbox`` is found to be their own;
        a refusal naming the whole team's rule otherwise (every mailbox, a shared one,
        another user's: whether another user's mailbox exists is not told either)."""
        mine = own_only(self.ws)
        with self._tx() as s:
            try:
                box = None if mailbox is None else self._box(s, mailbox)
            except NotFoundError:
                box = None
            if box is None or box.owner_id != mine:
                check_unrestricted(self.ws, "fetch", "mailboxes other than their own")
        return self.ws._unrestricted()

    def deactivate_mailbox(self, mailbox: Any) -> dict[str, Any]:
        """Stop fetching ``mailbox`` (a name or id): no fetch reads it (the scheduler's
        skips it, naming it is refused) until :meth:`activate_mailbox`; what it stored
        stays. Its owner, a manager or an admin. Journaled. Returns the mailbox."""
        return self._set_active(mailbox, False)

    def activate_mailbox(self, mailbox: Any) -> dict[str, Any]:
        """Fetch a deactivated ``mailbox`` again (as :meth:`deactivate_mailbox`)."""
        return self._set_active(mailbox, True)

    def _set_active(self, mailbox: Any, active: bool) -> dict[str, Any]:
        action = "activate" if active else "deactivate"
        with self._tx() as s:
            try:
                box = self._box(s, mailbox)
            except NotFoundError:
                # a sales user is not told whether another user's mailbox exists
                check_unrestricted(self.ws, action, "mailboxes other than their own")
                raise
            if box.owner_id is None or box.owner_id != self.ws.user_id:
                check_unrestricted(self.ws, action, "mailboxes other than their own")
            if box.active != active:
                box.active = active
                s.flush()
            return _as_dict(box)

    def status(self) -> pd.DataFrame:
        """Each mailbox with its last run, lag (since it was last read to the end),
        last error, whether a process is fetching it now, whether it is ``active`` and
        why a fetch leaves it alone (``paused``: ``deactivated``, ``owner 'x'
        disabled``; None when it is fetched) (a sales user: the shared ones and their
        own)."""
        now = self.ws.clock()
        mine = own_only(self.ws)
        query = select(Mailbox).order_by(Mailbox.name)
        if mine is not None:
            query = query.where(or_(Mailbox.owner_id.is_(None), Mailbox.owner_id == mine))
        with self._tx() as s:
            rows = [
                {
                    "id": b.id,
                    "name": b.name,
                    "address": b.address,
                    "owner_id": b.owner_id,
                    "folders": ", ".join(b.folders),
                    "last_run_at": b.last_run_at,
                    "lag": lag(b, now),
                    "last_error": b.last_error,
                    "fetching": b.lease_until is not None and b.lease_until > now,
                    "last_report": b.last_report,
                    "active": b.active,
                    "paused": paused(s, b),
                }
                for b in s.scalars(query)
            ]
        columns = ["id", "name", "address", "owner_id", "folders", "last_run_at", "lag"]
        columns += ["last_error", "fetching", "last_report", "active", "paused"]
        return pd.DataFrame(rows, columns=columns)

    def skipped(self, mailbox: Any) -> pd.DataFrame:
        """The messages of ``mailbox`` a fetch could not store, with the reasons (a
        sales user: of their own mailbox only)."""
        with self._tx() as s:
            box = self._box(s, mailbox)
            if box.owner_id is None or box.owner_id != self.ws.user_id:
                check_unrestricted(self.ws, "list", f"the skipped messages of {box.name!r}")
            rows = s.execute(
                select(
                    MailSkip.folder, MailSkip.uid, MailSkip.message_id, MailSkip.reason, MailSkip.at
                )
                .where(MailSkip.mailbox_id == box.id)
                .order_by(MailSkip.id)
            ).mappings()
            return pd.DataFrame(
                [dict(r) for r in rows], columns=["folder", "uid", "message_id", "reason", "at"]
            )

    def thread(self, message_id: str) -> pd.DataFrame:
        """The messages of the thread ``message_id`` is in, oldest first: each with its
        interaction, In-Reply-To and subject."""
        with self._tx() as s:
            thread = s.scalar(
                select(EmailMessage.thread_id).where(EmailMessage.message_id == message_id)
            )
            if thread is None:
                raise NotFoundError("e-mail message", message_id)
            rows = s.execute(
                select(
                    EmailMessage.message_id,
                    EmailMessage.in_reply_to,
                    EmailMessage.interaction_id,
                    Interaction.direction,
                    Interaction.occurred_at,
                    EmailMessage.subject,
                    Interaction.opportunity_id,
                )
                .outerjoin(Interaction, Interaction.id == EmailMessage.interaction_id)
                .where(EmailMessage.thread_id == thread)
                .where(*self._visible())
                .order_by(EmailMessage.sent_at, EmailMessage.id)
            ).mappings()
            columns = ["message_id", "in_reply_to", "interaction_id", "direction"]
            columns += ["occurred_at", "subject", "opportunity_id"]
            found = [dict(r) for r in rows]
            if not any(r["message_id"] == message_id for r in found):
                # a message the user may not see is not found, as an unknown one
                raise NotFoundError("e-mail message", message_id)
            return pd.DataFrame(found, columns=columns)

    def _visible(self) -> list[Any]:
        """Which e-mail facts the acting user may read: a sales user those of the
        interactions they may see (none of the messages waiting for a contact)."""
        clauses = interaction_clauses(self.ws, Interaction)
        if clauses:
            clauses.append(EmailMessage.interaction_id.is_not(None))
        return clauses

    def proposals(self) -> pd.DataFrame:
        """Senders proposed as contacts, with how many messages wait for each."""
        check_unrestricted(self.ws, "list", "proposed contacts")
        with self._tx() as s:
            rows = []
            for p in s.scalars(
                select(ContactProposal)
                .where(ContactProposal.status == "proposed")
                .order_by(ContactProposal.id)
            ):
                waiting = s.scalars(
                    select(EmailMessage.id).where(EmailMessage.proposal_id == p.id)
                ).all()
                rows.append(
                    {"id": p.id, "email": p.email, "name": p.name, "messages": len(waiting)}
                )
            return pd.DataFrame(rows, columns=["id", "email", "name", "messages"])

    def accept_proposal(self, proposal_id: int, **contact: Any) -> dict[str, Any]:
        """Make a proposed sender a contact (``contact`` fields as ``ws.contacts.create``
        takes them; name and e-mail default to the proposal's) and turn the messages
        waiting for them into interactions. Returns the contact."""
        check_unrestricted(self.ws, "accept", "proposed contacts")
        with self._tx() as s:
            found = s.get(ContactProposal, proposal_id)
            if found is None or found.status != "proposed":
                raise NotFoundError("contact proposal", proposal_id)
            defaults = {"name": found.name or found.email, "email": found.email}
        made = self.ws.contacts.create(**{**defaults, **contact})
        with self._tx() as s:
            found = s.get(ContactProposal, proposal_id)
            assert found is not None
            found.status, found.contact_id = "accepted", made["id"]
            found.decided_at = self.ws.clock()
            waiting = s.scalars(
                select(EmailMessage).where(EmailMessage.proposal_id == proposal_id)
            ).all()
            for facts in waiting:
                box = s.get(Mailbox, facts.mailbox_id) if facts.mailbox_id else None
                outgoing = box is not None and facts.from_address == box.address.lower()
                logged = self.ws.interactions.prepare(
                    s,
                    "email",
                    "out" if outgoing else "in",
                    facts.sent_at or facts.fetched_at,
                    {
                        "subject": facts.subject,
                        "summary": facts.summary,
                        "contact_id": made["id"],
                        "company_id": made.get("company_id"),
                        "user_id": box.owner_id if box and box.owner_id else self.ws.user_id,
                    },
                )
                s.add(logged)
                s.flush()
                facts.interaction_id, facts.proposal_id = logged.id, None
        return made

    def dismiss_proposal(self, proposal_id: int) -> None:
        """Decline a proposed sender: their waiting messages stay unlinked."""
        check_unrestricted(self.ws, "dismiss", "proposed contacts")
        with self._tx() as s:
            found = s.get(ContactProposal, proposal_id)
            if found is None or found.status != "proposed":
                raise NotFoundError("contact proposal", proposal_id)
            found.status, found.decided_at = "dismissed", self.ws.clock()


def paused(s: Any, box: Mailbox) -> str | None:
    """Why no fetch reads ``box`` now (deactivated, its owner disabled); None: one may."""
    if not box.active:
        return "deactivated"
    if box.owner_id is not None:
        owner = s.get(User, box.owner_id)
        if owner is not None and not owner.active:
            return f"owner {owner.login!r} disabled"
    return None


def _refuse_paused(s: Any, box: Mailbox) -> None:
    """Refuse fetching ``box`` by name when it is deactivated or its owner disabled."""
    record = f"mailbox {box.name!r}"
    if not box.active:
        raise ValidationError(
            [
                FieldError(
                    record,
                    "active",
                    False,
                    "is deactivated: it is not fetched until it is activated again"
                    " (ws.mail.activate_mailbox, crmbook mail activate-mailbox)",
                )
            ]
        )
    why = paused(s, box)
    if why is not None:
        owner = s.get(User, box.owner_id)
        raise ValidationError(
            [
                FieldError(
                    record,
                    "owner",
                    owner.login if owner is not None else box.owner_id,
                    "is disabled: a disabled user's mailbox is not fetched (it would link"
                    " mail for someone who left) until they are enabled again",
                )
            ]
        )


def _required_email(value: Any) -> str:
    address = v.email(value)
    if address is None:
        raise Reject("is required", keep=False)
    return address


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Reject("must be true or false")
    return value


def _as_dict(box: Mailbox) -> dict[str, Any]:
    out = {c.key: getattr(box, c.key) for c in box.__mapper__.column_attrs}
    out.pop("lease_owner", None)
    return out


__all__ = ["DEFAULT_FOLDERS", "Mail"]
