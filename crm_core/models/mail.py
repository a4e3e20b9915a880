"""E-mail: mailboxes read over IMAP, the e-mail facts of interactions, bounces,
proposed contacts and the outbox mail out sends from.

A fetched message becomes an :class:`~crm_core.models.Interaction` (channel ``email``);
its e-mail facts (Message-ID, thread, addresses, attachments) live beside it in
:class:`EmailMessage`, one row per Message-ID in the workspace.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, UTCDateTime, Versioned

#: How a mailbox's IMAP connection is secured.
IMAP_SECURITY = ("tls", "starttls", "none")
#: Where a mailbox's password comes from: an environment variable, stored encrypted
#: (Fernet, key in ``$CRMBOOK_MAIL_KEY``), or nowhere (asked for on each run).
PASSWORD_SOURCES = ("env", "stored", "none")
#: The states of a message in the outbox, in the order a send goes through them.
OUTBOX_STATES = ("queued", "sending", "sent", "failed", "bounced")
#: What became of a proposed contact.
PROPOSAL_STATUSES = ("proposed", "accepted", "dismissed")
#: The longest Message-ID kept whole; a longer one is shortened with its hash.
MESSAGE_ID_LEN = 500


class Mailbox(Versioned, Base):
    """An IMAP mailbox whose messages become interactions: one user's or shared.

    ``address`` is the mailbox's own e-mail address: a message from it is outgoing.
    ``folders`` are the IMAP folders read (INBOX and the sent folder by default);
    only messages on or after ``import_since`` are read; with ``only_known`` a message
    none of whose addresses is a known contact's is skipped, otherwise its sender is
    proposed as a contact. ``lease_owner``/``lease_until`` say which process is fetching
    it now (one at a time).
    """

    __tablename__ = "mailboxes"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    address: Mapped[str] = mapped_column(String(320))
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(10), default="tls")
    login: Mapped[str] = mapped_column(String(320))
    password_source: Mapped[str] = mapped_column(String(10), default="env")
    #: The environment variable holding the password (``password_source == "env"``).
    password_env: Mapped[str | None] = mapped_column(String(200))
    folders: Mapped[list[str]] = mapped_column(JSON, default=list)
    import_since: Mapped[dt.date | None] = mapped_column(Date)
    only_known: Mapped[bool] = mapped_column(Boolean, default=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    #: When a run last finished without an error: the lag is measured from it.
    last_ok_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    #: The last run's counts (fetched, created, skipped, ...), as its report gives them.
    last_report: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    lease_owner: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class MailboxSecret(Base):
    """A mailbox's password, Fernet-encrypted: kept apart so no journal copies it."""

    __tablename__ = "mailbox_secrets"
    mailbox_id: Mapped[int] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="CASCADE"), primary_key=True
    )
    ciphertext: Mapped[str] = mapped_column(Text)


class MailboxFolder(Base):
    """Where a mailbox's folder was read up to: its UIDVALIDITY and the last UID seen."""

    __tablename__ = "mailbox_folders"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (UniqueConstraint("mailbox_id", "name"),)


class EmailMessage(Base):
    """The e-mail facts of one message, unique by Message-ID in the workspace.

    ``interaction_id`` is the interaction it became; None while it waits for its
    sender to be accepted as a contact (``proposal_id``), when ``subject`` and
    ``summary`` here are what the interaction will get. ``thread_id`` is the
    Message-ID of the thread's first message; ``references`` the References header's
    Message-IDs in order; ``attachments`` a list of ``{"name", "size", "type"}``.
    """

    __tablename__ = "email_messages"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LEN), unique=True)
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="CASCADE"), unique=True
    )
    mailbox_id: Mapped[int | None] = mapped_column(
        ForeignKey("mailboxes.id", ondelete="SET NULL"), index=True
    )
    folder: Mapped[str | None] = mapped_column(String(300))
    uid: Mapped[int | None] = mapped_column(BigInteger)
    in_reply_to: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LEN), index=True)
    references: Mapped[list[str]] = mapped_column(JSON, default=list)
    thread_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LEN), index=True)
    from_address: Mapped[str | None] = mapped_column(String(320))
    to_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    cc_addresses: Mapped[list[str]] = mapped_column(JSON, default=list)
    subject: Mapped[str | None] = mapped_column(String(300))
    summary: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    size: Mapped[int | None] = mapped_column(BigInteger)
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    proposal_id: Mapped[int | None] = mapped_column(
        ForeignKey("contact_proposals.id", ondelete="SET NULL"), index=True
    )
    fetched_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class MailSkip(Base):
    """A message a fetch did not store, and why (broken, too big, no known contact)."""

    __tablename__ = "mail_skips"
    id: Mapped[int] = mapped_column(primary_key=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    folder: Mapped[str] = mapped_column(String(300))
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LEN))
    reason: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_mail_skips_place", "mailbox_id", "folder", "uid"),)


class ContactProposal(Base):
    """A sender no contact has, proposed as a new contact by a mailbox that imports all."""

    __tablename__ = "contact_proposals"
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    email_key: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(300))
    mailbox_id: Mapped[int | None] = mapped_column(ForeignKey("mailboxes.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="proposed")
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    first_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class EmailBounce(Base):
    """A delivery failure report: the address that bounced, when, and the server's words."""

    __tablename__ = "email_bounces"
    id: Mapped[int] = mapped_column(primary_key=True)
    email_key: Mapped[str] = mapped_column(String(320), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    status: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    #: The Message-ID of the report itself (a re-read report adds no second row) and
    #: of the message that bounced, when the report names it.
    report_message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LEN))
    bounced_message_id: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LEN), index=True)
    __table_args__ = (UniqueConstraint("report_message_id", "email_key"),)


class OutboxMessage(Base):
    """A message to send over SMTP, and what became of it.

    ``state`` goes queued -> sending -> sent (or failed, retryable; or bounced when a
    report comes back). A message is rendered once when queued (``subject``,
    ``body_text``, ``body_html``) and keeps its ``message_id`` across retries, so a
    reply threads back and a retry after a crash is recognisable. ``reason`` is the
    server's words on failure; ``attempts`` counts sends tried.
    """

    __tablename__ = "mail_outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    state: Mapped[str] = mapped_column(String(10), default="queued")
    template: Mapped[str | None] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(16))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(320))
    sender: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(MESSAGE_ID_LEN), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(MESSAGE_ID_LEN))
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    sending_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    failed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    bounced_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    __table_args__ = (Index("ix_mail_outbox_state", "state", "queued_at"),)
