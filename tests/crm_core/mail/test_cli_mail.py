"""``crmbook mail`` as a user runs it, against a real Dovecot; and stored passwords."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

import crm_core
from crm_core.models import JournalEntry, MailboxSecret
from tests.crm_core.mail.conftest import IMRAN, OWN, message, when
from tests.crm_core.test_cli import crmbook


def test_add_fetch_and_status_from_the_command_line(tmp_path, dovecot, monkeypatch):
    assert crmbook("init", "shop.sqlite", cwd=tmp_path).returncode == 0
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        ws.contacts.create(name="Imran Khan", email=IMRAN)
    dovecot.append(
        message(frm=IMRAN, to=OWN, subject="سلام", mid="<c1@k.example.com>", date=when(10, 9))
    )
    added = crmbook(
        "mail",
        "add-mailbox",
        "sales",
        "--address",
        OWN,
        "--host",
        dovecot.host,
        "--port",
        str(dovecot.port),
        "--security",
        "none",
        "--login",
        dovecot.user,
        "--password-env",
        "SALES_IMAP_PASSWORD",
        "-w",
        "shop.sqlite",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert "mailbox 'sales' added" in added.stdout

    missing = crmbook("mail", "fetch", "sales", "--no-progress", "-w", "shop.sqlite", cwd=tmp_path)
    assert missing.returncode == 1
    assert "stopped: mailbox 'sales': set its password in $SALES_IMAP_PASSWORD" in missing.stdout

    monkeypatch.setenv("SALES_IMAP_PASSWORD", dovecot.password)
    fetched = crmbook("mail", "fetch", "-w", "shop.sqlite", cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr
    assert "sales: 1 message(s) read, 1 new interaction(s), 0 already stored" in fetched.stdout
    assert "1/1" in fetched.stderr  # the progress bar

    status = crmbook("mail", "status", "-w", "shop.sqlite", cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if "sales" in line)
    assert "INBOX, Sent" in row and "0h 00m" in row and "False" in row
    with crm_core.open(tmp_path / "shop.sqlite") as ws:
        assert ws.interactions.timeline(contact_id=1)["subject"].tolist() == ["سلام"]


def test_a_stored_password_is_encrypted_and_never_journaled(crm, monkeypatch):
    ws, server = crm["ws"], crm["server"]
    monkeypatch.delenv("CRMBOOK_MAIL_KEY", raising=False)
    with pytest.raises(crm_core.errors.CrmError, match=r"\$CRMBOOK_MAIL_KEY is not set"):
        ws.mail.add_mailbox(
            "kept",
            address=OWN,
            host=server.host,
            port=server.port,
            security="none",
            login=server.user,
            password=server.password,
        )
    monkeypatch.setenv("CRMBOOK_MAIL_KEY", Fernet.generate_key().decode())
    ws.mail.add_mailbox(
        "kept",
        address=OWN,
        host=server.host,
        port=server.port,
        security="none",
        login=server.user,
        password=server.password,
    )
    server.append(
        message(frm=IMRAN, to=OWN, subject="Hi", mid="<k@k.example.com>", date=when(10, 9))
    )
    [report] = ws.mail.fetch("kept")
    assert (report.error, report.created) == (None, 1)
    with ws.transaction() as s:
        secret = s.scalars(select(MailboxSecret.ciphertext)).one()
        journal = " ".join(str(v) for v in s.scalars(select(JournalEntry.new)))
    assert server.password not in secret and server.password not in journal
    monkeypatch.setenv("CRMBOOK_MAIL_KEY", Fernet.generate_key().decode())  # another key
    [wrong] = ws.mail.fetch("kept")
    assert wrong.error == (
        "mailbox 'kept': its stored password does not open with $CRMBOOK_MAIL_KEY "
        "(another key?); set the password again"
    )
    assert ws.mail.status().set_index("name").loc["kept", "last_error"] == wrong.error
