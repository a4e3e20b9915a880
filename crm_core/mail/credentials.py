"""A mailbox's password: from an environment variable, or stored Fernet-encrypted.

The key of stored passwords is ``$CRMBOOK_MAIL_KEY`` (make one with
``python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"``);
without it no password is stored or read back. A password is never journaled, logged
or printed.
"""

from __future__ import annotations

import os

from cryptography.fernet import Fernet, InvalidToken

from crm_core.errors import CrmError

KEY_VARIABLE = "CRMBOOK_MAIL_KEY"


class MailPasswordError(CrmError):
    """A mailbox's password cannot be had: the message says what to set."""


def _fernet() -> Fernet:
    key = os.environ.get(KEY_VARIABLE)
    if not key:
        raise MailPasswordError(
            f"${KEY_VARIABLE} is not set: stored mailbox passwords are encrypted with it "
            "(or give the password in an environment variable instead)"
        )
    try:
        return Fernet(key.encode())
    except ValueError as exc:
        raise MailPasswordError(f"${KEY_VARIABLE} is not a Fernet key ({exc})") from None


def encrypt(password: str) -> str:
    """``password`` encrypted with the workspace's mail key."""
    return _fernet().encrypt(password.encode("utf-8")).decode("ascii")


def decrypt(ciphertext: str, mailbox: str) -> str:
    """A stored password; a wrong key names the mailbox."""
    try:
        return _fernet().decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise MailPasswordError(
            f"mailbox {mailbox!r}: its stored password does not open with ${KEY_VARIABLE} "
            "(another key?); set the password again"
        ) from None


def from_environment(variable: str, mailbox: str) -> str:
    """The password in ``$variable``; its absence names the variable and the mailbox."""
    value = os.environ.get(variable)
    if not value:
        raise MailPasswordError(f"mailbox {mailbox!r}: set its password in ${variable}")
    return value
