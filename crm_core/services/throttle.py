"""Slowing down password guessing: failed logins counted per login and per address.

After :data:`FREE_PER_LOGIN` failed logins in a row for one login name (or
:data:`FREE_PER_ADDRESS` from one client address, whatever names it tried), every
further attempt must wait: 1 s after the first of them, then 2 s, 4 s, ... up to
:data:`MAX_WAIT`. An attempt made before its wait is over is refused unchecked, and
says how long is left. A successful login clears its login's count (not its address's:
one good password must not buy an address more guesses at other logins); a count
left alone for :data:`FORGET_AFTER` starts again from zero.

The counts live in the workspace (``login_throttle``), so every server process on one
PostgreSQL counts together. A key is the
SHA-256 of what it counts, so a password typed into the login field is never stored.
These functions work inside the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from crm_core.models import LoginThrottle
from crm_core.services.unique import insert_if_missing

FREE_PER_LOGIN = 5
FREE_PER_ADDRESS = 20
FIRST_WAIT = 1.0
MAX_WAIT = 300.0
FORGET_AFTER = dt.timedelta(hours=1)


def _keys(login: str, address: str | None) -> list[tuple[str, int]]:
    """(key, free failures) for the login name and, when known, the address."""
    keys = [(_login_key(login), FREE_PER_LOGIN)]
    if address:
        keys.append((_digest("address", address), FREE_PER_ADDRESS))
    return keys


def _login_key(login: str) -> str:
    """The key counting a login name (written in any case, with stray spaces)."""
    return _digest("login", login.strip().lower())


def _digest(kind: str, value: str) -> str:
    # surrogatepass: a lone surrogate typed as a login is counted, not an error
    return hashlib.sha256(f"{kind}\0{value}".encode(errors="surrogatepass")).hexdigest()


def wait(s: Session, login: str, address: str | None, now: dt.datetime) -> int:
    """Whole seconds before ``login`` may be tried again from ``address`` (0: now)."""
    keys = [key for key, _free in _keys(login, address)]
    until = s.scalars(
        select(LoginThrottle.blocked_until).where(
            LoginThrottle.key.in_(keys), LoginThrottle.blocked_until > now
        )
    ).all()
    return max((_seconds(u - now) for u in until if u is not None), default=0)


def failed(s: Session, login: str, address: str | None, now: dt.datetime) -> int:
    """Count a failed login; the whole seconds the next attempt must wait (0: none)."""
    longest = 0.0
    for key, free in _keys(login, address):
        row = _locked_row(s, key, now)
        if row.failures and now - row.last_failure_at > FORGET_AFTER:
            row.failures = 0
        row.failures += 1
        row.last_failure_at = now
        if row.failures >= free:
            delay = min(FIRST_WAIT * 2 ** (row.failures - free), MAX_WAIT)
            row.blocked_until = now + dt.timedelta(seconds=delay)
            longest = max(longest, delay)
    s.flush()
    # Rows nobody failed with for a day are of no use: the table stays small however
    # many names are sprayed at it.
    s.execute(delete(LoginThrottle).where(LoginThrottle.last_failure_at < now - dt.timedelta(1)))
    return _seconds(dt.timedelta(seconds=longest))


def succeeded(s: Session, login: str) -> None:
    """Clear the count of ``login`` after a successful login."""
    s.execute(delete(LoginThrottle).where(LoginThrottle.key == _login_key(login)))


def forget(s: Session, login: str | None = None, address: str | None = None) -> None:
    """Clear the counts of ``login`` and ``address`` (both None: every count)."""
    if login is None and address is None:
        s.execute(delete(LoginThrottle))
        return
    keys = [_login_key(login)] if login is not None else []
    if address is not None:
        keys.append(_digest("address", address))
    s.execute(delete(LoginThrottle).where(LoginThrottle.key.in_(keys)))


def _locked_row(s: Session, key: str, now: dt.datetime) -> LoginThrottle:
    """The row of ``key``, created if missing, locked until the transaction ends
    (PostgreSQL; SQLite's single writer serialises anyway), so that two processes
    counting at once both count."""
    insert_if_missing(s, LoginThrottle, "key", {"key": key, "failures": 0, "last_failure_at": now})
    return s.scalars(select(LoginThrottle).where(LoginThrottle.key == key).with_for_update()).one()


def _seconds(delta: dt.timedelta) -> int:
    return max(0, math.ceil(delta.total_seconds()))
