"""The SMTP connection mail out sends through (smtplib).

``security`` is ``starttls`` (plain connection upgraded with STARTTLS, port 587),
``tls`` (implicit TLS, port 465) or ``none`` (loopback and test servers). One
connection is kept open for a batch and opened again when the server drops it.

A message goes out step by step (EHLO/STARTTLS/LOGIN, MAIL, RCPT, DATA, the message
and its closing dot, the final reply) so that a failure says where it happened:

- before the closing dot was sent (the server cannot be reached, refuses the sender
  or the recipient, times out before the message went): the server does not have the
  message, and it may be sent again (:class:`Unreachable` when no connection could be
  made, else smtplib's own errors);
- after it (a timeout, a disconnect or a reset while waiting for the final reply):
  the server may have it, and nobody knows (:class:`InDoubtError`). Such a message
  must not be sent again on its own.
"""

from __future__ import annotations

import io
import smtplib
import ssl
from email.generator import BytesGenerator
from email.message import EmailMessage
from typing import Protocol

from crm_core.mail.smtp_config import MailSettings

#: Seconds to wait for the server before a send counts as failed.
TIMEOUT = 30


class Transport(Protocol):
    """Puts one message on the wire; raises smtplib's errors when refused,
    :class:`Unreachable` when no connection could be made, :class:`InDoubtError`
    when the server may have it and :class:`Unbuildable` when the message cannot be
    written out at all."""

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None: ...

    def close(self) -> None: ...


class Unbuildable(ValueError):
    """The message cannot be put in bytes (a header the e-mail library refuses): no
    server was told anything."""


class Unreachable(smtplib.SMTPException):
    """No connection to the server (refused, reset, timed out, dropped before it
    greeted us or finished STARTTLS/AUTH): nothing was sent; try again later."""

    def __init__(self, cause: BaseException):
        self.cause = cause
        super().__init__(f"{type(cause).__name__}: {cause}")


class InDoubtError(smtplib.SMTPException):
    """The whole message went to the server, then no answer came (timeout, disconnect,
    reset): the server may have taken it. Never send it again automatically."""

    def __init__(self, cause: BaseException):
        self.cause = cause
        super().__init__(f"{type(cause).__name__}: {cause}")


def flatten(msg: EmailMessage, international: bool) -> bytes:
    """The message's bytes as they go on the wire (CRLF line ends), as smtplib's
    ``send_message`` writes them; raises :class:`Unbuildable` when it cannot be."""
    try:
        with io.BytesIO() as out:
            policy = msg.policy.clone(utf8=True) if international else msg.policy  # type: ignore[call-arg]
            BytesGenerator(out, policy=policy).flatten(msg, linesep="\r\n")
            return out.getvalue()
    except (ValueError, TypeError, LookupError) as exc:
        raise Unbuildable(f"the message cannot be written out: {exc}") from exc


class SmtpTransport:
    """A :class:`Transport` over smtplib, configured by :class:`MailSettings`."""

    def __init__(self, settings: MailSettings):
        self.settings = settings
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        cfg = self.settings
        assert cfg.smtp_host is not None
        conn: smtplib.SMTP
        try:
            if cfg.smtp_security == "tls":
                conn = smtplib.SMTP_SSL(
                    cfg.smtp_host,
                    cfg.smtp_port,
                    timeout=TIMEOUT,
                    context=ssl.create_default_context(),
                )
            else:
                conn = smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=TIMEOUT)
            try:
                conn.ehlo_or_helo_if_needed()
                if cfg.smtp_security == "starttls":
                    conn.starttls(context=ssl.create_default_context())
                    conn.ehlo()
                if cfg.smtp_login:
                    conn.login(cfg.smtp_login, cfg.smtp_password or "")
            except BaseException:
                conn.close()
                raise
        except smtplib.SMTPResponseException:
            raise  # the server answered: its code says what kind of failure it is
        except (smtplib.SMTPException, OSError) as exc:
            raise Unreachable(exc) from exc
        return conn

    def _ready(self) -> smtplib.SMTP:
        if self._conn is not None:
            try:
                code = self._conn.noop()[0]
            except (smtplib.SMTPException, OSError):
                code = 0
            if code == 250:
                return self._conn
            self._drop()
        self._conn = self._connect()
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _reset(self, conn: smtplib.SMTP, code: int) -> None:
        """After a refusal: RSET for the next message, or drop the connection."""
        if code == 421:
            self._drop()
            return
        try:
            conn.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()

    def send(self, msg: EmailMessage, sender: str, recipients: list[str]) -> None:
        international = any(not a.isascii() for a in (sender, *recipients))
        data = flatten(msg, international)
        conn = self._ready()
        try:
            self._envelope(conn, data, sender, recipients, international)
            conn.putcmd("data")
            code, words = conn.getreply()
            if code != 354:
                self._reset(conn, code)
                raise smtplib.SMTPDataError(code, words)
            # The message, then the closing dot. Until the dot has gone, the server
            # cannot have taken the message.
            body = smtplib._quote_periods(data)  # type: ignore[attr-defined]
            if body[-2:] != b"\r\n":
                body += b"\r\n"
            conn.send(body)
        except (
            smtplib.SMTPResponseException,
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPNotSupportedError,
        ):
            raise  # an answer: the connection was reset for the next message (or dropped)
        except (smtplib.SMTPException, OSError):
            self._drop()  # no answer: the session is in no known state
            raise
        try:
            conn.send(b".\r\n")
            code, words = conn.getreply()
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            raise InDoubtError(exc) from exc
        if code != 250:
            self._reset(conn, code)
            raise smtplib.SMTPDataError(code, words)

    def _envelope(
        self,
        conn: smtplib.SMTP,
        data: bytes,
        sender: str,
        recipients: list[str],
        international: bool,
    ) -> None:
        options: list[str] = []
        if conn.does_esmtp:
            if conn.has_extn("size"):
                options.append(f"size={len(data)}")
            if international:
                if not conn.has_extn("smtputf8"):
                    raise smtplib.SMTPNotSupportedError(
                        "an address is not ASCII and the server does not support SMTPUTF8"
                    )
                options += ["SMTPUTF8", "BODY=8BITMIME"]
        code, words = conn.mail(sender, options)
        if code != 250:
            self._reset(conn, code)
            raise smtplib.SMTPSenderRefused(code, words, sender)
        refused: dict[str, tuple[int, bytes]] = {}
        for each in recipients:
            code, words = conn.rcpt(each)
            if code not in (250, 251):
                refused[each] = (code, words)
            if code == 421:
                self._drop()
                raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]
        if refused:  # one recipient a message: a partial refusal refuses the message
            self._reset(conn, max(c for c, _w in refused.values()))
            raise smtplib.SMTPRecipientsRefused(refused)  # type: ignore[arg-type]

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (smtplib.SMTPException, OSError):
                self._conn.close()
            self._conn = None
