"""``ws.mail`` for mail out: settings, compose and preview, the outbox, sending,
unsubscribe links and campaign sends (mixed into :class:`crm_core.mail.service.Mail`).

Access: a sales user writes only to contacts they own (``contacts.owner_id``), sees and
retries only the messages they queued; campaign sends, settings and resolving a
message in doubt are for managers and admins (the whole team's contacts).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import validation as v
from crm_core.access import check_unrestricted, interaction_clauses, own_only, require_admin
from crm_core.errors import AccessDenied, FieldError, NotFoundError, ValidationError
from crm_core.mail import campaigns as camp
from crm_core.mail import in_doubt, optout, outbox, sender, smtp_config, threads, tokens
from crm_core.mail import templates as email_templates
from crm_core.mail.compose import context, new_message_id, reply_subject
from crm_core.mail.smtp import Transport
from crm_core.models import (
    OUTBOX_STATES,
    Campaign,
    CampaignMember,
    Contact,
    EmailMessage,
    Interaction,
    OutboxMessage,
    User,
)
from crm_core.models.mail import MESSAGE_ID_LEN
from crm_core.services import segments

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: A line break, tab or other control character: none may be in a header value.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NO_CONTROL = "may not contain line breaks or control characters (it is a header)"
#: One Message-ID, as ``In-Reply-To`` carries it.
_MESSAGE_ID = re.compile(r"<[^<>@\s\x00-\x1f\x7f]+@[^<>@\s\x00-\x1f\x7f]+>")

OUTBOX_COLUMNS = [
    "id", "state", "contact_id", "recipient", "subject", "template", "language",
    "campaign_id", "message_id", "attempts", "reason", "queued_at", "sending_at",
    "sent_at", "in_doubt", "held",
]  # fmt: skip


class MailOut:
    """Mail out, mixed into ``ws.mail``."""

    ws: Workspace

    # -- settings -------------------------------------------------------------------
    def configure(self, **values: Any) -> dict[str, Any]:
        """Store mail settings (admins): smtp_host, smtp_port, smtp_security, smtp_login,
        smtp_password_env, sender, rate_per_minute, language, unsubscribe_url,
        attribution_days, allowed_mail_hosts (IMAP hosts that are not public servers a
        mailbox of a user other than an admin may name anyway: :mod:`crm_core.mail.hosts`; see
        :mod:`crm_core.mail.smtp_config`; the environment overrides them). None clears one."""
        require_admin(self.ws, "change", "the mail settings")
        smtp_config.store(self.ws, values)
        return self.settings()

    def settings(self) -> dict[str, Any]:
        """The mail settings in force (the password only as whether one is set)."""
        cfg = smtp_config.load(self.ws)
        out = dict(cfg.__dict__)
        out["smtp_password"] = "***" if cfg.smtp_password else None
        return out

    def templates(self) -> dict[str, list[str]]:
        """Each e-mail template with the languages it has."""
        return {name: sorted(langs) for name, langs in email_templates.available(self.ws).items()}

    # -- one contact ------------------------------------------------------------------
    def _contact(self, s: Session, contact_id: Any, action: str) -> Contact:
        found = s.get(Contact, contact_id) if v.is_id(contact_id) else None
        if found is None:
            raise NotFoundError("contact", contact_id)
        mine = own_only(self.ws)
        if mine is not None and found.owner_id != mine:
            raise AccessDenied(self.ws.login, self.ws.role, action, f"contact #{found.id}")
        return found

    def _render(
        self,
        s: Session,
        contact: Contact,
        template: str,
        cfg: smtp_config.MailSettings,
        campaign: Campaign | None,
        extra: dict[str, Any],
    ) -> email_templates.Rendered:
        deal = extra.pop("deal", None)
        values = context(self.ws, s, contact, cfg, deal_id=deal, campaign=campaign, extra=extra)
        return email_templates.render(template, values, contact.language, cfg.language, ws=self.ws)

    def compose(self, contact_id: int, template: str, **extra: Any) -> dict[str, Any]:
        """The message ``template`` makes for the contact, not queued: recipient,
        language, subject, text and html (edit them and pass them to :meth:`send`).
        ``extra`` values reach the template; ``deal=ID`` picks the deal it names."""
        cfg = smtp_config.load(self.ws)
        with self.ws.transaction() as s:
            contact = self._contact(s, contact_id, "write to")
            done = self._render(s, contact, template, cfg, None, dict(extra))
            return {
                "contact_id": contact.id,
                "recipient": contact.email,
                "sender": self._sender(s, cfg),
                "template": done.template,
                "language": done.language,
                "subject": done.subject,
                "text": done.text,
                "html": done.html,
            }

    def _sender(self, s: Session, cfg: smtp_config.MailSettings) -> str | None:
        if cfg.sender:
            return cfg.sender
        user = s.get(User, self.ws.user_id) if self.ws.user_id else None
        return f"{user.name} <{user.email}>" if user is not None and user.email else None

    def _queue(
        self,
        s: Session,
        contact: Contact,
        cfg: smtp_config.MailSettings,
        parts: dict[str, Any],
        campaign_id: int | None = None,
        in_reply_to: str | None = None,
    ) -> OutboxMessage:
        record = f"e-mail to contact #{contact.id}"
        errors = []
        if not contact.email:
            errors.append(
                FieldError(record, "recipient", None, "the contact has no e-mail address")
            )
        if contact.email_bouncing and campaign_id is None:
            pass  # a person may still write to a bouncing address; campaigns skip it
        from_ = self._sender(s, cfg)
        if not from_:
            errors.append(
                FieldError(
                    record,
                    "sender",
                    None,
                    "set ws.mail.configure(sender=...) or $CRMBOOK_MAIL_FROM",
                )
            )
        elif _CONTROL.search(from_):
            errors.append(FieldError(record, "sender", from_, _NO_CONTROL))
        raw_subject = str(parts.get("subject") or "")
        subject = " ".join(raw_subject.split())
        if not subject:
            errors.append(FieldError(record, "subject", parts.get("subject"), "is required"))
        elif _CONTROL.search(raw_subject):
            errors.append(FieldError(record, "subject", raw_subject, _NO_CONTROL))
        if in_reply_to is not None:
            in_reply_to = str(in_reply_to).strip() or None
        if in_reply_to is not None and (
            not _MESSAGE_ID.fullmatch(in_reply_to) or len(in_reply_to) > MESSAGE_ID_LEN
        ):
            errors.append(
                FieldError(
                    record,
                    "in_reply_to",
                    in_reply_to,
                    "must be one Message-ID like <id@host>: no spaces, line breaks or"
                    f" control characters, at most {MESSAGE_ID_LEN} characters",
                )
            )
        elif in_reply_to is not None and own_only(self.ws) is not None:
            # A sales user answers only a message they may see: not one of another
            # user's deal, whose Message-ID they could only have guessed or been told.
            seen = s.scalar(
                select(EmailMessage.id)
                .join(Interaction, Interaction.id == EmailMessage.interaction_id)
                .where(EmailMessage.message_id == in_reply_to, *interaction_clauses(self.ws))
            )
            if seen is None:
                errors.append(
                    FieldError(
                        record, "in_reply_to", in_reply_to, "is no e-mail you may see to answer"
                    )
                )
        if not str(parts.get("text") or "").strip():
            errors.append(FieldError(record, "text", parts.get("text"), "is required"))
        if errors:
            raise ValidationError(errors)
        row = OutboxMessage(
            state="queued",
            template=parts.get("template"),
            language=parts.get("language"),
            contact_id=contact.id,
            recipient=contact.email,
            sender=from_,
            subject=subject[:300],
            body_text=parts["text"],
            body_html=parts.get("html"),
            message_id=new_message_id(from_),
            in_reply_to=in_reply_to,
            campaign_id=campaign_id,
            user_id=self.ws.user_id,
            attempts=0,
            queued_at=self.ws.clock(),
        )
        s.add(row)
        s.flush()
        return row

    def send(
        self,
        contact_id: int,
        template: str | None = None,
        *,
        subject: str | None = None,
        text: str | None = None,
        html: str | None = None,
        in_reply_to: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        """Queue a message to the contact: rendered from ``template`` (with ``extra``),
        any of subject/text/html replaced by the edited ones given; or written whole
        (subject and text, no template). ``in_reply_to`` threads it under a message.
        Returns the outbox row; :meth:`drain` (or ``crmbook mail drain``) sends it."""
        cfg = smtp_config.load(self.ws)
        with self.ws.transaction() as s:
            contact = self._contact(s, contact_id, "write to")
            parts: dict[str, Any] = {}
            if template is not None:
                done = self._render(s, contact, template, cfg, None, dict(extra))
                parts = {
                    k: getattr(done, k) for k in ("template", "language", "subject", "text", "html")
                }
            edits = {"subject": subject, "text": text, "html": html}
            parts.update({k: x for k, x in edits.items() if x is not None})
            return outbox.as_dict(self._queue(s, contact, cfg, parts, in_reply_to=in_reply_to))

    def reply_draft(self, interaction_id: int) -> dict[str, Any]:
        """What a reply to the e-mail interaction ``interaction_id`` (in or out) starts
        from: its contact, their address as ``recipient``, ``subject`` (``Re:`` once;
        the message's own is ``original_subject``),
        ``in_reply_to`` (the message's Message-ID) and the ``references`` the reply
        will carry. Pass ``in_reply_to`` to :meth:`send`: the reply threads in the
        customer's mail client and joins the same thread here. A sales user replies
        only to interactions they may see, of contacts they own."""
        record = f"interaction #{interaction_id}"
        with self.ws.transaction() as s:
            found = None
            if v.is_id(interaction_id):
                found = s.execute(
                    select(Interaction, EmailMessage)
                    .outerjoin(EmailMessage, EmailMessage.interaction_id == Interaction.id)
                    .where(Interaction.id == interaction_id, *interaction_clauses(self.ws))
                ).first()
            if found is None:
                raise NotFoundError("interaction", interaction_id)
            logged, facts = found
            if logged.channel != "email" or facts is None:
                raise ValidationError(
                    [
                        FieldError(
                            record,
                            "message_id",
                            None,
                            "is no e-mail crmbook sent or fetched: there is no message to reply to",
                        )
                    ]
                )
            if logged.contact_id is None:
                raise ValidationError(
                    [FieldError(record, "contact_id", None, "names no contact to reply to")]
                )
            contact = self._contact(s, logged.contact_id, "reply to")
            return {
                "interaction_id": logged.id,
                "contact_id": contact.id,
                "recipient": contact.email,
                "subject": reply_subject(facts.subject or logged.subject),
                "original_subject": facts.subject or logged.subject,
                "in_reply_to": facts.message_id,
                "references": threads.references_for_reply(s, facts.message_id),
                "direction": logged.direction,
                "occurred_at": logged.occurred_at,
            }

    # -- the outbox -----------------------------------------------------------------
    def outbox(self, state: str | None = None) -> pd.DataFrame:
        """The outbox, newest first (``state`` keeps one state); a sales user sees the
        messages they queued. A message in ``sending`` for longer than a send takes
        (``in_doubt``; :data:`~crm_core.mail.outbox.SENDING_GRACE`) is in doubt: no run
        is sending it now. :meth:`check_in_doubt` (and every drain) looks for it in the Sent
        folder; its ``reason`` says where it was not found; :meth:`resolve` settles it.
        A queued message whose author is disabled is ``held`` (why: no drain sends it
        until they are enabled again; None for every other message)."""
        query = select(OutboxMessage).order_by(OutboxMessage.id.desc())
        if state is not None:
            if state not in OUTBOX_STATES:
                raise ValidationError(
                    [
                        FieldError(
                            "outbox", "state", state, f"must be one of {', '.join(OUTBOX_STATES)}"
                        )
                    ]
                )
            query = query.where(OutboxMessage.state == state)
        mine = own_only(self.ws)
        if mine is not None:
            query = query.where(OutboxMessage.user_id == mine)
        now = self.ws.clock()
        with self.ws.transaction() as s:
            disabled: dict[int, str] = {
                ident: login
                for ident, login in s.execute(
                    select(User.id, User.login).where(User.active.is_(False))
                )
            }
            rows = []
            for r in s.scalars(query):
                row = outbox.as_dict(r, now)
                author = disabled.get(r.user_id) if r.user_id is not None else None
                held = r.state == "queued" and author is not None
                row["held"] = outbox.held_reason(author) if author and held else None
                rows.append(row)
        return pd.DataFrame(rows, columns=OUTBOX_COLUMNS)

    def retry(self, message_id: int) -> dict[str, Any]:
        """Queue a failed message again, with its Message-ID and text unchanged."""
        with self.ws.transaction() as s:
            row = s.get(OutboxMessage, message_id) if v.is_id(message_id) else None
            mine = own_only(self.ws)
            if row is not None and mine is not None and row.user_id != mine:
                raise AccessDenied(
                    self.ws.login, self.ws.role, "retry", f"outbox message #{row.id}"
                )
            return outbox.as_dict(outbox.retry(self.ws, s, message_id))

    def resolve(self, message_id: int, *, sent: bool) -> dict[str, Any]:
        """Settle a message left in ``sending`` by a crash: ``sent=True`` when it is in
        the Sent folder (recorded and logged), ``sent=False`` to queue it again."""
        check_unrestricted(self.ws, "resolve", f"outbox message #{message_id}")
        with self.ws.transaction() as s:
            return outbox.as_dict(outbox.resolve(self.ws, s, message_id, sent=sent))

    def check_in_doubt(self) -> in_doubt.DoubtReport:
        """Look for each message a crash left in ``sending`` among the messages fetched
        and, over IMAP, in the Sent folder(s) of the mailbox whose address sent it:
        found, it is settled as sent (as :meth:`resolve` with ``sent=True``); not found,
        it stays in doubt with a note of where and when it was looked for. Nothing is
        ever sent again by this. Every :meth:`drain` does this first."""
        check_unrestricted(self.ws, "check", "the messages in doubt")
        return in_doubt.check(self.ws)

    def drain(
        self,
        *,
        transport: Transport | None = None,
        sleep: Callable[[float], None] | None = None,
        limit: int | None = None,
        check_sent: bool = True,
    ) -> sender.DrainReport:
        """Send what is queued over SMTP within the rate limit; the report lists what
        was sent, what failed (with the server's words) and what is in doubt. First,
        messages a crash left in ``sending`` are looked for in the Sent folder
        (:meth:`check_in_doubt`; ``check_sent=False`` skips that): found ones are
        settled as sent, never sent twice."""
        kwargs: dict[str, Any] = {"transport": transport, "limit": limit, "check_sent": check_sent}
        if sleep is not None:
            kwargs["sleep"] = sleep
        return sender.drain(self.ws, **kwargs)

    # -- opt-out ----------------------------------------------------------------------
    def unsubscribe_link(self, contact_id: int) -> str:
        """The contact's unsubscribe link (the setting's base URL and a signed token);
        only for a contact the acting user may write to (a sales user: one they own)."""
        cfg = smtp_config.load(self.ws)
        with self.ws.transaction() as s:
            # A link opts the contact out as if they asked: made only by those who may
            # write to them (a sales user: their own contacts), as compose and send.
            contact = self._contact(s, contact_id, "make an unsubscribe link for")
            return cfg.unsubscribe_url + tokens.make(self.ws, contact.id, contact.email_key, s)

    def _read_token(self, token: Any) -> tuple[int, str]:
        try:
            return tokens.read(self.ws, token)
        except tokens.TokenError as exc:
            raise ValidationError(
                [FieldError("unsubscribe link", "token", "***", str(exc))]
            ) from None

    def _token_contact(self, s: Session, named: tuple[int, str]) -> Contact:
        try:
            return optout.contact_of(s, named)
        except tokens.TokenError as exc:
            raise ValidationError(
                [FieldError("unsubscribe link", "token", "***", str(exc))]
            ) from None

    def unsubscribe_preview(self, token: str) -> dict[str, Any]:
        """What an unsubscribe link would do, changing nothing (the page a link opens
        asks before it acts): the contact's e-mail shown masked (``s***@lee.example``),
        their language and whether they have already opted out. Raises
        ValidationError as :meth:`unsubscribe` does."""
        named = self._read_token(token)
        with self.ws.transaction() as s:
            contact = self._token_contact(s, named)
            return {
                "email": _masked(contact.email),
                "language": contact.language,
                "no_marketing": bool(contact.no_marketing),
            }

    def unsubscribe(self, token: str) -> dict[str, Any]:
        """Honour an unsubscribe link: the contact it names gets ``no_marketing`` (the
        change is journaled). Raises ValidationError when the token is altered,
        expired or for an address the contact no longer has."""
        named = self._read_token(token)
        with self.ws.transaction(origin="unsubscribe") as s:
            contact = self._token_contact(s, named)
            contact.no_marketing = True
            return {"contact_id": contact.id, "email": contact.email, "no_marketing": True}

    # -- campaigns --------------------------------------------------------------------
    def _campaign(self, s: Session, ref: Any) -> Campaign:
        found = None
        if v.is_id(ref):
            found = s.get(Campaign, ref)
        elif isinstance(ref, str):
            found = s.scalars(select(Campaign).where(Campaign.name == ref)).first()
        if found is None:
            raise NotFoundError("campaign", ref)
        return found

    def send_campaign(
        self,
        campaign: int | str,
        template: str,
        *,
        segment: int | str | None = None,
        dry_run: bool = False,
        **extra: Any,
    ) -> camp.CampaignSend:
        """Queue ``template`` to each member of the campaign and whoever its segment (or
        ``segment``, which becomes its segment) matches now, who become members;
        skipping opted-out, bouncing, address-less, archived and already-sent contacts,
        counted by reason. ``dry_run`` queues
        nothing and adds no member: the report's ``previews`` show what would go (each
        with the contact's id, name, address, language and the rendered message) and
        its ``skipped_list`` who would not, and why."""
        check_unrestricted(self.ws, "send", f"campaign {campaign!r}")
        cfg = smtp_config.load(self.ws)
        with self.ws.transaction() as s:
            found = self._campaign(s, campaign)
            cid, name = found.id, found.name
            segment = found.segment_id if segment is None else segment
        targets: list[int] = []
        if segment is not None:
            if dry_run:  # who would become members, adding none
                targets = self.ws.segments.contact_ids(segment, f"campaign {name!r}")
            else:  # every contact of the segment becomes a member (a company or deal
                # segment is refused there, before anything is written)
                self.ws.campaigns.add_contacts(cid, segment=segment)
        report = camp.CampaignSend(name, dry_run=dry_run)
        with self.ws.transaction() as s:
            found = self._campaign(s, cid)
            members = s.scalars(
                select(CampaignMember.contact_id).where(CampaignMember.campaign_id == cid)
            )
            ids = sorted(set(members).union(targets))
            for contact in self._contacts(s, ids):
                who = {"contact_id": contact.id, "name": contact.name, "recipient": contact.email}
                why = camp.skip_reason(s, contact, cid)
                if why is not None:
                    report.skipped[why] += 1
                    report.skipped_contacts[contact.id] = why
                    report.skipped_list.append({**who, "reason": why})
                    continue
                done = self._render(s, contact, template, cfg, found, dict(extra))
                parts = {
                    k: getattr(done, k) for k in ("template", "language", "subject", "text", "html")
                }
                if dry_run:
                    report.previews.append({**who, **parts})
                else:
                    report.queued.append(self._queue(s, contact, cfg, parts, campaign_id=cid).id)
        return report

    @staticmethod
    def _contacts(s: Session, ids: list[int]) -> Iterator[Contact]:
        """The contacts of ``ids`` (sorted), read a segment page at a time so that no
        query carries more ids than a database takes in one statement."""
        for start in range(0, len(ids), segments.PAGE):
            chunk = ids[start : start + segments.PAGE]
            yield from s.scalars(select(Contact).where(Contact.id.in_(chunk)).order_by(Contact.id))

    def mark_replies(self, campaign: int | str | None = None) -> int:
        """Mark campaign members who replied (by thread) as responded; how many. Then
        give each deal a reply leads to its campaign: a deal of the contact who replied
        (or the reply's own deal) opened from the campaign message's sending to
        ``attribution_days`` after it (a mail setting, 90 by default), and carrying no
        campaign yet (one is never replaced); journaled (origin ``mail:campaign-reply``)."""
        cid = None
        if campaign is not None:
            with self.ws.transaction() as s:
                cid = self._campaign(s, campaign).id
        return camp.mark_replies(self.ws, cid)


def _masked(address: str | None) -> str:
    """``sam@lee.example.com`` as ``s***@lee.example.com``."""
    local, _at, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"
