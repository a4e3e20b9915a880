"""A real SMTP server on loopback for the mail-out tests: aiosmtpd, recording what it
accepts and refusing the recipients a test names (a permanent ``554 5.7.1`` refusal,
``550 5.1.1 ... User unknown`` for an address that does not exist, or the reply the test
gives).

Import the fixture into a test module: ``from tests.crm_core.mail.smtpd import smtpd_fixture``;
``serving`` runs one with a handler of the test's own.
"""

from __future__ import annotations

import email
import socket
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

#: The login the ``smtpd_auth`` server accepts.
LOGIN, PASSWORD = "ayesha", "smtp-secret"


@dataclass
class Received:
    """One message the server accepted: its envelope and its bytes."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps what was accepted; refuses ``refused`` addresses
    (554 5.7.1) and answers ``replies`` ones as given."""

    received: list[Received] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    #: The reply RCPT gets for an address, when a test chose one.
    replies: dict[str, str] = field(default_factory=dict)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address.lower() in self.replies:
            return self.replies[address.lower()]
        if address.lower() in self.refused:
            return f"554 5.7.1 <{address}>: Recipient address rejected: Access denied"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 2.0.0 Message accepted for delivery"


@dataclass
class Smtpd:
    """A running server: where it listens and what it got."""

    host: str
    port: int
    recorder: Recorder

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    def refuse(self, address: str, reply: str | None = None) -> None:
        """Refuse ``address`` at RCPT for good (``554 5.7.1 ... Access denied``: the
        message fails, a retry may send it), or with ``reply``."""
        if reply is not None:
            self.recorder.replies[address.lower()] = reply
        else:
            self.recorder.refused.add(address.lower())

    def unknown(self, address: str) -> None:
        """Refuse ``address`` at RCPT as a user that does not exist (the message bounces)."""
        self.refuse(address, f"550 5.1.1 <{address}>: Recipient address rejected: User unknown")

    def accept(self, address: str) -> None:
        self.recorder.refused.discard(address.lower())
        self.recorder.replies.pop(address.lower(), None)


def free_port() -> int:
    """A port nothing listens on (yet) on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(recorder: Recorder, **options: Any) -> Iterator[Smtpd]:
    """An SMTP server on 127.0.0.1 with ``recorder`` as its handler (``options`` go to
    aiosmtpd's ``Controller``), stopped at the end of the block."""
    port = free_port()
    controller = Controller(recorder, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield Smtpd("127.0.0.1", port, recorder)
    finally:
        controller.stop()


@pytest.fixture(name="smtpd")
def smtpd_fixture() -> Iterator[Smtpd]:
    """A fresh SMTP server on 127.0.0.1 (no TLS, no AUTH)."""
    with serving(Recorder()) as server:
        yield server


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        LOGIN.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@pytest.fixture(name="smtpd_auth")
def smtpd_auth_fixture() -> Iterator[Smtpd]:
    """A fresh SMTP server on 127.0.0.1 that wants AUTH (``LOGIN``/``PASSWORD``;
    allowed without TLS on loopback) before it takes mail."""
    with ExitStack() as stack:
        with warnings.catch_warnings():  # AUTH without TLS: wanted here, on loopback
            warnings.simplefilter("ignore")
            server = stack.enter_context(
                serving(
                    Recorder(),
                    authenticator=_authenticate,
                    auth_required=True,
                    auth_require_tls=False,
                )
            )
        yield server
