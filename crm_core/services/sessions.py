"""Logins to the staff app, kept in the workspace: ``ws.sessions``.

A login starts a session: the browser gets a random token (as a cookie; the app signs
it), the workspace keeps only its SHA-256. Every request and every open page is
checked against the session, so ending it ends that login everywhere at once:
logging out, a new password, a role change or disabling the user end every session of
that user; ``crmbook user sessions --revoke`` ends them by hand. A session also ends
after ``session_idle_minutes`` without a request or an open page, and
``session_max_hours`` after the login whatever happens (workspace settings).

The login itself (:meth:`Sessions.log_in`) does the same work for a known and an
unknown login, and slows down guessing (:mod:`crm_core.services.throttle`). This
module knows no web framework: ``widgets.auth`` wires it to the app.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, delete, or_, select, update
from sqlalchemy.orm import Session

from crm_core.access import require_admin
from crm_core.errors import NotFoundError
from crm_core.models import LoginSession, Setting, User
from crm_core.services import throttle
from crm_core.services.base import Service
from crm_core.services.unique import insert_if_missing
from crm_core.workspace import DEFAULT_SETTINGS

#: Why a session ended (``end_reason``).
END_REASONS = ("logout", "password", "role", "disabled", "revoked", "idle", "expired")
#: How stale ``last_seen_at`` may get before a request writes it again: a page that
#: makes many requests writes once a minute, not once a request.
TOUCH_EVERY = dt.timedelta(minutes=1)
#: Ended and expired sessions are kept this long (who logged in from where), then
#: deleted at the next login.
KEEP_ENDED = dt.timedelta(days=90)
#: The settings row of the secret the app signs its cookies with.
COOKIE_SECRET_KEY = "cookie_secret"
LIST_COLUMNS = [
    "id",
    "login",
    "created_at",
    "last_seen_at",
    "expires_at",
    "address",
    "user_agent",
]


def token_hash(token: str) -> str:
    """What the workspace stores of a session token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode(errors="surrogatepass")).hexdigest()


@dataclass(frozen=True)
class LoginResult:
    """What a login attempt came to: on success the session's ``token`` (for the
    cookie), the ``user`` and when the session ends at the latest (``expires_at``);
    otherwise ``wait``, the whole seconds before the next attempt will be checked (0
    when the login or password was simply wrong)."""

    token: str | None = None
    user: dict[str, Any] | None = None
    wait: int = 0
    expires_at: dt.datetime | None = None


def end_sessions(s: Session, user_id: int | None, reason: str, now: dt.datetime) -> int:
    """End every live session of ``user_id`` (None: of every user) inside the caller's
    transaction; how many."""
    live: list[ColumnElement[bool]] = [LoginSession.ended_at.is_(None)]
    if user_id is not None:
        live.append(LoginSession.user_id == user_id)
    result = s.execute(update(LoginSession).where(*live).values(ended_at=now, end_reason=reason))
    return int(getattr(result, "rowcount", 0) or 0)


class Sessions(Service):
    """Logins to the staff app: ``ws.sessions``."""

    entity = "session"

    # -- logging in ------------------------------------------------------------------
    def log_in(
        self,
        login: str,
        password: str,
        *,
        address: str | None = None,
        user_agent: str | None = None,
    ) -> LoginResult:
        """Check a login and password typed into the app; on success start a session.

        Refused unchecked while the login or the ``address`` must wait (see
        :mod:`crm_core.services.throttle`); a wrong login or password is counted. The
        check costs the same for a login that exists and one that does not. Blocks
        for the time of one password hash: call it off the event loop."""
        name = login if isinstance(login, str) else ""
        with self._tx() as s:
            waiting = throttle.wait(s, name, address, self.ws.clock())
        if waiting:
            return LoginResult(wait=waiting)
        user = self.ws.users.authenticate(login, password)
        with self._tx() as s:
            now = self.ws.clock()
            if user is None:
                return LoginResult(wait=throttle.failed(s, name, address, now))
            throttle.succeeded(s, name)
            token, expires_at = self._start(s, user["id"], now, address, user_agent)
        return LoginResult(token=token, user=user, expires_at=expires_at)

    def start(
        self, login: str, *, address: str | None = None, user_agent: str | None = None
    ) -> str:
        """Start a session for ``login`` without a password (the owner or an admin only:
        for tools and tests); returns its token."""
        require_admin(self.ws, "start a session for", f"user {login!r}")
        with self._tx() as s:
            user = s.scalars(select(User).where(User.login == login)).first()
            if user is None or not user.active:
                raise NotFoundError("user", login)
            return self._start(s, user.id, self.ws.clock(), address, user_agent)[0]

    def _start(
        self,
        s: Session,
        user_id: int,
        now: dt.datetime,
        address: str | None,
        user_agent: str | None,
    ) -> tuple[str, dt.datetime]:
        """A new session of ``user_id``: its token and absolute end."""
        token = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(hours=_limit(s, "session_max_hours"))
        s.add(
            LoginSession(
                token_hash=token_hash(token),
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
                expires_at=expires_at,
                address=_clip(address, 45),
                user_agent=_clip(user_agent, 300),
            )
        )
        # Old sessions are kept for a while (who logged in from where), not forever.
        s.execute(
            delete(LoginSession).where(
                or_(
                    LoginSession.ended_at < now - KEEP_ENDED,
                    LoginSession.expires_at < now - KEEP_ENDED,
                )
            )
        )
        return token, expires_at

    # -- checking --------------------------------------------------------------------
    def check(self, token: str | None) -> dict[str, Any] | None:
        """The user of the live session whose token is ``token`` (id, login, name, role,
        and ``session``, the token's hash), or None. A session found idle or expired is
        ended here."""
        if not isinstance(token, str) or not token:
            return None
        return self.check_hash(token_hash(token))

    def check_hash(self, hashed: str | None) -> dict[str, Any] | None:
        """:meth:`check` by the token's hash (what the app's open pages know)."""
        if not isinstance(hashed, str) or not hashed:
            return None
        with self._tx() as s:
            now = self.ws.clock()
            row = s.execute(
                select(LoginSession, User)
                .join(User, User.id == LoginSession.user_id)
                .where(LoginSession.token_hash == hashed, LoginSession.ended_at.is_(None))
            ).first()
            if row is None:
                return None
            session, user = row
            ended = _ran_out(s, session, now)
            if ended or not user.active:
                session.ended_at, session.end_reason = now, ended or "disabled"
                return None
            if now - session.last_seen_at >= TOUCH_EVERY:
                session.last_seen_at = now
            return {
                "id": user.id,
                "login": user.login,
                "name": user.name,
                "role": user.role,
                "session": hashed,
            }

    def live(self, hashes: Iterable[str]) -> set[str]:
        """Which of the sessions ``hashes`` (token hashes) are still live. Each is seen
        as in use (an open page is activity): this is what the app asks about the pages
        it holds open, every second."""
        wanted = {h for h in hashes if isinstance(h, str) and h}
        if not wanted:
            return set()
        with self._tx() as s:
            now = self.ws.clock()
            rows = s.execute(
                select(LoginSession, User.active)
                .join(User, User.id == LoginSession.user_id)
                .where(LoginSession.token_hash.in_(wanted), LoginSession.ended_at.is_(None))
            ).all()
            alive = set()
            max_hours = _limit(s, "session_max_hours")
            for session, active in rows:
                if not active:
                    session.ended_at, session.end_reason = now, "disabled"
                elif ends_at(session, max_hours) <= now:
                    session.ended_at, session.end_reason = now, "expired"
                else:
                    alive.add(session.token_hash)
                    if now - session.last_seen_at >= TOUCH_EVERY:
                        session.last_seen_at = now
            return alive

    # -- ending ----------------------------------------------------------------------
    def log_out(self, token: str | None) -> int:
        """Log out: end every session of the user whose session ``token`` is (every
        device and page of theirs). How many ended (0 for an unknown token)."""
        if not isinstance(token, str) or not token:
            return 0
        with self._tx() as s:
            user_id = s.scalar(
                select(LoginSession.user_id).where(LoginSession.token_hash == token_hash(token))
            )
            if user_id is None:
                return 0
            return end_sessions(s, user_id, "logout", self.ws.clock())

    def revoke(self, login: str | None = None) -> int:
        """End every live session of ``login`` (None: of every user); how many. The
        owner or an admin only, or a user for their own."""
        with self._tx() as s:
            now = self.ws.clock()
            if login is not None:
                user = _user(s, login)
                require_admin(self.ws, "end the sessions of", f"user {login!r}", own_id=user.id)
                return end_sessions(s, user.id, "revoked", now)
            require_admin(self.ws, "end the sessions of", "every user")
            return end_sessions(s, None, "revoked", now)

    def list(self, login: str | None = None) -> pd.DataFrame:
        """The live sessions (of ``login``, or everyone's), newest first: id, login,
        created_at, last_seen_at, expires_at, address, user_agent. A user who is not
        an admin sees their own only."""
        with self._tx() as s:
            now = self.ws.clock()
            max_hours = _limit(s, "session_max_hours")
            query = (
                select(LoginSession, User.login)
                .join(User, User.id == LoginSession.user_id)
                .where(
                    LoginSession.ended_at.is_(None),
                    LoginSession.expires_at > now,
                    LoginSession.created_at > now - dt.timedelta(hours=max_hours),
                )
                .order_by(LoginSession.created_at.desc(), LoginSession.id.desc())
            )
            if login is not None:
                user = _user(s, login)
                require_admin(self.ws, "list the sessions of", f"user {login!r}", own_id=user.id)
                query = query.where(LoginSession.user_id == user.id)
            elif self.ws.role not in (None, "admin"):
                query = query.where(LoginSession.user_id == self.ws.user_id)
            idle = dt.timedelta(minutes=_limit(s, "session_idle_minutes"))
            rows = [
                {
                    "id": session.id,
                    "login": name,
                    "created_at": session.created_at,
                    "last_seen_at": session.last_seen_at,
                    "expires_at": ends_at(session, max_hours),
                    "address": session.address,
                    "user_agent": session.user_agent,
                }
                for session, name in s.execute(query).all()
                if now - session.last_seen_at <= idle
            ]
        return pd.DataFrame(rows, columns=LIST_COLUMNS)

    # -- the cookie secret -------------------------------------------------------------
    def cookie_secret(self) -> str:
        """The secret the staff app signs its cookies with: made once per workspace and
        kept in it, so a restarted app and every process of one keep their logins.
        The owner or an admin only."""
        require_admin(self.ws, "read", "the cookie secret")
        with self._tx() as s:
            # Two processes starting at once: the first insert wins, both read it.
            made = {"key": COOKIE_SECRET_KEY, "value": secrets.token_hex(32)}
            insert_if_missing(s, Setting, "key", made)
            return str(s.scalar(select(Setting.value).where(Setting.key == COOKIE_SECRET_KEY)))


def ends_at(session: LoginSession, max_hours: int) -> dt.datetime:
    """When ``session`` ends at the latest: the end it was given at the login, or
    ``max_hours`` (``session_max_hours`` as it is set now) after the login, whichever
    comes first, so that lowering the setting ends the sessions already older than
    the new limit (raising it stretches none)."""
    return min(session.expires_at, session.created_at + dt.timedelta(hours=max_hours))


def _ran_out(s: Session, session: LoginSession, now: dt.datetime) -> str | None:
    """Why ``session`` has run out ("expired" or "idle"), or None while it has not."""
    if ends_at(session, _limit(s, "session_max_hours")) <= now:
        return "expired"
    if now - session.last_seen_at > dt.timedelta(minutes=_limit(s, "session_idle_minutes")):
        return "idle"
    return None


def _limit(s: Session, key: str) -> int:
    """A session setting read now (not the workspace's cached copy: a server running
    for weeks sees a change made from the command line)."""
    stored = s.scalar(select(Setting.value).where(Setting.key == key))
    try:
        return int(stored) if stored is not None else int(DEFAULT_SETTINGS[key])
    except ValueError:
        return int(DEFAULT_SETTINGS[key])


def _user(s: Session, login: str) -> User:
    found = (
        s.scalars(select(User).where(User.login == login)).first()
        if isinstance(login, str) and login.isprintable()
        else None
    )
    if found is None:
        raise NotFoundError("user", login)
    return found


def _clip(value: str | None, length: int) -> str | None:
    if not isinstance(value, str):
        return None
    # What a client sends is kept as printable text of the column's size.
    cleaned = "".join(ch if ch.isprintable() else "?" for ch in value)
    return cleaned[:length] or None
