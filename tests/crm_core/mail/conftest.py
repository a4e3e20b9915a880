"""A real Dovecot IMAP server on loopback for the mail tests, started per test.

Each test gets its own Dovecot: a config in a temporary folder, one passwd-file user
(``ayesha`` / ``secret-pw``) with a Maildir there, listening on 127.0.0.1 on a free port
without TLS. Where Dovecot is not installed (Debian ``dovecot-imapd``) the tests skip
with that reason, except under CI (``CI`` set), where they fail. ``$CRMBOOK_TEST_DOVECOT``
names the dovecot binary when it is not on the PATH.
"""

from __future__ import annotations

import datetime as dt
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from crm_core.models import OutboxMessage

#: The dovecot binary (``$CRMBOOK_TEST_DOVECOT`` names another).
DOVECOT = os.environ.get("CRMBOOK_TEST_DOVECOT") or shutil.which("dovecot") or "/usr/sbin/dovecot"
USER, PASSWORD = "ayesha", "secret-pw"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 1
mail_location = maildir:{root}/mail/%u
default_internal_user = dovecot
default_login_user = dovenull
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
namespace inbox {{
  inbox = yes
  mailbox Sent {{
    special_use = \\Sent
    auto = create
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


@dataclass
class Dovecot:
    """A running Dovecot: where to reach it and how to put mail in it."""

    host: str
    port: int
    user: str
    password: str
    root: Path

    def client(self) -> IMAPClient:
        client = IMAPClient(self.host, port=self.port, ssl=False, timeout=10)
        client.login(self.user, self.password)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        """Deliver one message by IMAP APPEND."""
        with self.client() as c:
            c.append(folder, raw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"Dovecot is required in CI: {reason}")
    pytest.skip(f"{reason}; install Debian's dovecot-imapd to run the mail tests")


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    """A fresh Dovecot IMAP server with one user and an empty INBOX and Sent."""
    if not Path(DOVECOT).exists():
        _missing("dovecot is not installed")
    # Dovecot's own processes run as its users: its folder must be reachable by them,
    # which pytest's private temporary folders are not.
    root = Path(tempfile.mkdtemp(prefix="crmbook-dovecot-"))
    root.chmod(0o755)
    for sub in ("run", "state", "mail", "home"):
        (root / sub).mkdir()
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = _free_port()
    conf = root / "dovecot.conf"
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:  # dovecot keeps mail only as an ordinary user
        nobody = pwd.getpwnam("nobody")
        uid, gid = nobody.pw_uid, nobody.pw_gid
        for sub in ("mail", "home"):
            os.chown(root / sub, uid, gid)
    conf.write_text(CONFIG.format(root=root, port=port, uid=uid, gid=gid))
    proc = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    log = root / "dovecot.log"
                    out += log.read_text(errors="replace") if log.exists() else ""
                    pytest.fail(f"dovecot did not start: {out[-2000:]}")
                time.sleep(0.1)
        yield Dovecot("127.0.0.1", port, USER, PASSWORD, root)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)


# -- the workspace side: a mailbox on the test server, known contacts, messages --------

OWN = "ayesha@indus.example.com"
IMRAN = "imran@karachi-traders.example.com"
PASSWORD_ENV = "CRMBOOK_TEST_IMAP_PASSWORD"


def add_box(ws, server: Dovecot, name: str = "sales", **options):
    """Add mailbox ``name`` on the test server, its password in the environment."""
    return ws.mail.add_mailbox(
        name,
        address=OWN,
        host=server.host,
        port=server.port,
        security="none",
        login=server.user,
        password_env=PASSWORD_ENV,
        **options,
    )


@pytest.fixture
def crm(ws, dovecot: Dovecot, monkeypatch: pytest.MonkeyPatch):
    """``ws`` with a company, its contact Imran, an open deal and the mailbox "sales"
    on the test server (password in an environment variable)."""
    monkeypatch.setenv(PASSWORD_ENV, dovecot.password)
    company = ws.companies.create(name="Karachi Traders", country="PK")
    imran = ws.contacts.create(name="Imran Khan", email=IMRAN, company_id=company["id"])
    deal = ws.pipeline.create(
        "Cold storage expansion",
        company=company["id"],
        contact=imran["id"],
        expected_revenue="1500000.00",
        currency="PKR",
    )
    add_box(ws, dovecot, "sales")
    return {"ws": ws, "company": company, "imran": imran, "deal": deal, "server": dovecot}


def message(
    *,
    frm: str,
    to: str,
    subject: str,
    body: str = "Hello",
    mid: str,
    date: dt.datetime,
    in_reply_to: str | None = None,
    references: str | None = None,
    html: str | None = None,
    attachments: tuple[tuple[str, bytes], ...] = (),
) -> bytes:
    """A well-formed message as a mail client writes it (UTF-8, encoded words)."""
    msg = EmailMessage()
    msg["From"] = frm
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = mid
    msg["Date"] = format_datetime(date)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    if html is not None and not body:
        msg.set_content(html, subtype="html")
    else:
        msg.set_content(body)
        if html is not None:
            msg.add_alternative(html, subtype="html")
    for name, data in attachments:
        msg.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return msg.as_bytes()


def when(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A time in May 2026 in Karachi (UTC+5), as a Date header gives it."""
    return dt.datetime(2026, 5, day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=5)))


def record_sent(ws, message_id: str, recipient: str = IMRAN) -> None:
    """An outbox message crmbook sent to ``recipient`` under ``message_id`` (as a drain
    leaves it), for a failure report about it to find."""
    with ws.transaction() as s:
        s.add(
            OutboxMessage(
                state="sent",
                recipient=recipient,
                subject="Eid offer",
                body_text="...",
                message_id=message_id,
                attempts=1,
                queued_at=dt.datetime(2026, 5, 9, tzinfo=dt.UTC),
            )
        )
