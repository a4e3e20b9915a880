"""Password hashes for staff logins: Argon2id (argon2-cffi), salted per user.

New hashes are Argon2id at OWASP's recommended cost (19 MiB of memory, 2 passes, one
lane), stored in the standard PHC form ``$argon2id$v=19$m=19456,t=2,p=1$salt$hash``,
which names its own cost: raising :data:`TIME_COST` or :data:`MEMORY_KIB` later keeps
every stored hash valid. Hashes written by older crmbook (``scrypt$n$r$p$salt$hash``)
are still verified; :func:`needs_rehash` says when a stored hash should be replaced
with a new one, which the login does on the next success.

Every check costs the same whatever is stored: no hash, a malformed one or a missing
user is checked against a dummy hash of the current cost, so the time an answer takes
does not tell whether a login exists.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

#: Argon2id cost: OWASP Password Storage Cheat Sheet's recommended configuration
#: (m=19 MiB, t=2, p=1); about 20 ms per check on a small server.
TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
MIN_LENGTH = 8

_ARGON2 = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)


def hash_password(password: str) -> str:
    """A new salted Argon2id hash of ``password``."""
    return _ARGON2.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches ``stored`` (False for no or a malformed hash,
    after the same work as a real check)."""
    if stored and stored.startswith("$argon2"):
        try:
            return _ARGON2.verify(stored, password)
        except (VerifyMismatchError, VerificationError):
            return False
        except InvalidHashError:
            pass  # a damaged hash: fail like a missing one, at the same cost
    elif stored and stored.startswith("scrypt$"):
        return _verify_scrypt(stored, password)
    dummy_check(password)
    return False


def needs_rehash(stored: str | None) -> bool:
    """Whether ``stored`` should be replaced by :func:`hash_password`'s hash of the same
    password: an scrypt hash of an older crmbook, or Argon2id at another cost."""
    if not stored or not stored.startswith("$argon2"):
        return True
    try:
        return _ARGON2.check_needs_rehash(stored)
    except InvalidHashError:
        return True


def dummy_check(password: str) -> None:
    """The work of one real check, for an answer that must not be faster (an unknown
    login, a login too malformed to look up)."""
    with contextlib.suppress(VerifyMismatchError, VerificationError, InvalidHashError):
        _ARGON2.verify(_dummy_hash(), password)


@cache
def _dummy_hash() -> str:
    # Made on first use (not at import), of a password nobody knows, at the current cost.
    return _ARGON2.hash(secrets.token_urlsafe(24))


def _verify_scrypt(stored: str, password: str) -> bool:
    """Check a hash of crmbook before Argon2id: ``scrypt$n$r$p$salt$hash`` (base64)."""
    try:
        _scheme, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        dummy_check(password)
        return False
    return hmac.compare_digest(got, expected)
