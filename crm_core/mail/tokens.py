"""Unsubscribe links: a signed, timestamped token naming the contact and address.

Signed with itsdangerous (HMAC, URL-safe) under a secret from
``$CRMBOOK_UNSUBSCRIBE_SECRET``, else the workspace's stored one (made at random on
first use and kept in the ``settings`` table under ``mail.unsubscribe_secret``). A
token carries the contact's id and a digest of their e-mail key (a link is readable by
whoever sees it: it must not spell out the address), so it stops working when the
address changes; it expires after :data:`MAX_AGE_DAYS`. Times come from the workspace
clock.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from typing import TYPE_CHECKING, Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from itsdangerous.timed import TimestampSigner
from sqlalchemy.orm import Session

from crm_core.models import Setting

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

SECRET_ENV = "CRMBOOK_UNSUBSCRIBE_SECRET"
SECRET_KEY = "mail.unsubscribe_secret"
SALT = "crmbook.unsubscribe"
#: How long an unsubscribe link works.
MAX_AGE_DAYS = 400


class TokenError(ValueError):
    """An unsubscribe token that is tampered with, expired or for another address."""


def _secret(ws: Workspace, s: Session | None = None) -> str:
    if os.environ.get(SECRET_ENV):
        return os.environ[SECRET_ENV]
    if s is None:
        with ws.transaction() as own:
            return _secret(ws, own)
    row = s.get(Setting, SECRET_KEY)
    if row is None:
        row = Setting(key=SECRET_KEY, value=secrets.token_urlsafe(48))
        s.add(row)
        s.flush()
    return row.value


def _serializer(ws: Workspace, s: Session | None = None) -> URLSafeTimedSerializer:
    clock = ws.clock

    class Signer(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(clock().timestamp())

    return URLSafeTimedSerializer(_secret(ws, s), salt=SALT, signer=Signer)


def address_digest(email_key: str | None) -> str:
    """What a token carries of an address: enough to tell it changed, not to read it."""
    return hashlib.sha256((email_key or "").encode()).hexdigest()[:16]


def make(ws: Workspace, contact_id: int, email_key: str | None, s: Session | None = None) -> str:
    """A token that unsubscribes contact ``contact_id`` at address ``email_key`` (the
    secret read, or made, in session ``s`` when given)."""
    return _serializer(ws, s).dumps({"c": contact_id, "a": address_digest(email_key)})


def read(ws: Workspace, token: Any, s: Session | None = None) -> tuple[int, str]:
    """The (contact id, address digest) a valid token names (compare the digest with
    :func:`address_digest` of the contact's e-mail key); TokenError says why not. The
    secret is read in session ``s`` when given (a fetch's batch reads it in its own)."""
    if not isinstance(token, str) or not token:
        raise TokenError("the unsubscribe link has no token")
    try:
        data = _serializer(ws, s).loads(token, max_age=MAX_AGE_DAYS * 86400)
    except SignatureExpired:
        raise TokenError(f"the unsubscribe link is older than {MAX_AGE_DAYS} days") from None
    except BadSignature:
        raise TokenError("the unsubscribe link is not valid (altered or not ours)") from None
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise TokenError("the unsubscribe link is not valid (altered or not ours)")
    return data["c"], str(data.get("a") or "")
