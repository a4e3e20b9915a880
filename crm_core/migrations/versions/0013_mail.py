"""mail: mailboxes read over IMAP, e-mail facts of interactions, bounces, the outbox

``mailboxes`` (IMAP host, login, where the password comes from, folders, import-since,
only-known-contacts, last run/error and the fetch lease), ``mailbox_secrets`` (a
Fernet-encrypted password, apart so the journal never copies it), ``mailbox_folders``
(per folder UIDVALIDITY and last UID), ``email_messages`` (one row per Message-ID:
the thread, addresses, attachments of an e-mail interaction), ``mail_skips``
(messages not stored, with the reason), ``contact_proposals`` (unknown senders),
``email_bounces`` (delivery failure reports), ``mail_outbox`` (what mail out sends)
and two contact flags: ``no_marketing`` and ``email_bouncing``.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 03:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)
_MID = sa.String(500)


def _versioned() -> list[sa.Column]:
    return [
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _TS, server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("updated_at", _TS, server_default=sa.func.current_timestamp(), nullable=False),
    ]


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(
            sa.Column("no_marketing", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(
            sa.Column("email_bouncing", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "mailboxes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("security", sa.String(10), nullable=False),
        sa.Column("login", sa.String(320), nullable=False),
        sa.Column("password_source", sa.String(10), nullable=False),
        sa.Column("password_env", sa.String(200), nullable=True),
        sa.Column("folders", sa.JSON(), nullable=False),
        sa.Column("import_since", sa.Date(), nullable=True),
        sa.Column("only_known", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.Column("last_ok_at", _TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_report", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("lease_owner", sa.String(200), nullable=True),
        sa.Column("lease_until", _TS, nullable=True),
        *_versioned(),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_mailboxes_owner_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailboxes")),
        sa.UniqueConstraint("name", name=op.f("uq_mailboxes_name")),
    )
    op.create_index(op.f("ix_mailboxes_owner_id"), "mailboxes", ["owner_id"])
    op.create_table(
        "mailbox_secrets",
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_mailbox_secrets_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("mailbox_id", name=op.f("pk_mailbox_secrets")),
    )
    op.create_table(
        "mailbox_folders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("last_run_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_mailbox_folders_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mailbox_folders")),
        sa.UniqueConstraint("mailbox_id", "name", name=op.f("uq_mailbox_folders_mailbox_id_name")),
    )
    op.create_table(
        "contact_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("name", sa.String(300), nullable=True),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", _TS, nullable=False),
        sa.Column("decided_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_contact_proposals_mailbox_id_mailboxes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_contact_proposals_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_proposals")),
        sa.UniqueConstraint("email_key", name=op.f("uq_contact_proposals_email_key")),
    )
    op.create_table(
        "email_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", _MID, nullable=False),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("mailbox_id", sa.Integer(), nullable=True),
        sa.Column("folder", sa.String(300), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("in_reply_to", _MID, nullable=True),
        sa.Column("references", sa.JSON(), nullable=False),
        sa.Column("thread_id", _MID, nullable=False),
        sa.Column("from_address", sa.String(320), nullable=True),
        sa.Column("to_addresses", sa.JSON(), nullable=False),
        sa.Column("cc_addresses", sa.JSON(), nullable=False),
        sa.Column("subject", sa.String(300), nullable=True),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("attachments", sa.JSON(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("fetched_at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_email_messages_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_email_messages_mailbox_id_mailboxes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["contact_proposals.id"],
            name=op.f("fk_email_messages_proposal_id_contact_proposals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_messages")),
        sa.UniqueConstraint("message_id", name=op.f("uq_email_messages_message_id")),
        sa.UniqueConstraint("interaction_id", name=op.f("uq_email_messages_interaction_id")),
    )
    op.create_index(op.f("ix_email_messages_mailbox_id"), "email_messages", ["mailbox_id"])
    op.create_index(op.f("ix_email_messages_in_reply_to"), "email_messages", ["in_reply_to"])
    op.create_index(op.f("ix_email_messages_thread_id"), "email_messages", ["thread_id"])
    op.create_index(op.f("ix_email_messages_proposal_id"), "email_messages", ["proposal_id"])
    op.create_table(
        "mail_skips",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_id", sa.Integer(), nullable=False),
        sa.Column("folder", sa.String(300), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", _MID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", _TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["mailbox_id"],
            ["mailboxes.id"],
            name=op.f("fk_mail_skips_mailbox_id_mailboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_skips")),
    )
    op.create_index("ix_mail_skips_place", "mail_skips", ["mailbox_id", "folder", "uid"])
    op.create_table(
        "email_bounces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email_key", sa.String(320), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("at", _TS, nullable=False),
        sa.Column("status", sa.String(20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("report_message_id", _MID, nullable=False),
        sa.Column("bounced_message_id", _MID, nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_email_bounces_contact_id_contacts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_bounces")),
        sa.UniqueConstraint(
            "report_message_id",
            "email_key",
            name=op.f("uq_email_bounces_report_message_id_email_key"),
        ),
    )
    op.create_index(op.f("ix_email_bounces_email_key"), "email_bounces", ["email_key"])
    op.create_index(op.f("ix_email_bounces_contact_id"), "email_bounces", ["contact_id"])
    op.create_index(
        op.f("ix_email_bounces_bounced_message_id"), "email_bounces", ["bounced_message_id"]
    )
    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("template", sa.String(200), nullable=True),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("sender", sa.String(320), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=True),
        sa.Column("message_id", _MID, nullable=False),
        sa.Column("in_reply_to", _MID, nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("interaction_id", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("queued_at", _TS, nullable=False),
        sa.Column("sending_at", _TS, nullable=True),
        sa.Column("sent_at", _TS, nullable=True),
        sa.Column("failed_at", _TS, nullable=True),
        sa.Column("bounced_at", _TS, nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contacts.id"], name=op.f("fk_mail_outbox_contact_id_contacts")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_mail_outbox_campaign_id_campaigns"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_mail_outbox_user_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_mail_outbox_interaction_id_interactions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_mail_outbox_message_id")),
    )
    op.create_index(op.f("ix_mail_outbox_contact_id"), "mail_outbox", ["contact_id"])
    op.create_index(op.f("ix_mail_outbox_campaign_id"), "mail_outbox", ["campaign_id"])
    op.create_index("ix_mail_outbox_state", "mail_outbox", ["state", "queued_at"])


def downgrade() -> None:
    for table in (
        "mail_outbox",
        "email_bounces",
        "mail_skips",
        "email_messages",
        "contact_proposals",
        "mailbox_folders",
        "mailbox_secrets",
        "mailboxes",
    ):
        op.drop_table(table)
    with op.batch_alter_table("contacts") as batch:
        batch.drop_column("email_bouncing")
        batch.drop_column("no_marketing")
