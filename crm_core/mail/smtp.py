"""The SMTP connection mail out sends through (smtplib).

``security`` is ``starttls`` (plain connection upgraded with STARTTLS, port 587),
``tls`` (implicit TLS, port 465) or ``none`` (loopback and test servers). One
connection is kept open for a batch and opened again when the server drops it.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from typing import Protocol

from crm_core.mail.smtp_config import MailSettings

#: Seconds to wait for the server before a send counts as failed.
TIMEOUT = 30


class Transport(Protocol):
    """Puts one message on the wire; raises smtplib's errors when refused."""

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None: ...

    def close(self) -> None: ...


class SmtpTransport:
    """A :class:`Transport` over smtplib, configured by :class:`MailSettings`."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.settings
        assert cfg.smtp_host is not None
        conn: smtplib.SMTP
        if cfg.smtp_security == "tls":
            conn = smtplib.SMTP_SSL(
                cfg.smtp_host,
                cfg.smtp_port,
                timeout=TIMEOUT,
                context=ssl.create_default_context(),
            )
        else:
            conn = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=TIMEOUT)
            if cfg.smtp_security == "starttls":
                conn.starttls(context=ssl.create_default_context())
        if cfg.smtp_login:
            conn.login(cfg.smtp_login, cfg.smtp_password or "")
        return conn

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None:
        if self._conn is None:
            self._conn = self._connect()
        else:
            try:
                self._conn.noop()
            except smtplib.SMTPServerDisconnected:
                self._conn = self._connect()
        # send_message raises SMTPRecipientsRefused when every recipient is refused;
        # with one recipient per message a partial refusal cannot happen.
        self._conn.send_message(msg, from_addr=sender, to_addrs=recipients)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None
