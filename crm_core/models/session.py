"""Login sessions of the staff app and the counters that slow down password guessing.

Neither table is journaled (they are not :class:`~crm_core.models.base.Versioned`):
they record who logged in from where, not changes to the CRM's records.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm_core.models.base import Base, UTCDateTime


class LoginSession(Base):
    """One login: live until it is ended (logout, a password or role change, the user
    disabled, revoked) or runs out (idle for too long, or past its absolute end).

    The browser holds a random token; only its SHA-256 is stored, so a copy of the
    database opens no session.
    """

    __tablename__ = "login_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The last request or open page seen (refreshed at most once a minute).
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The absolute end, fixed at login.
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    #: The client's address as the server saw it (the proxy's, unless trusted).
    address: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: logout, password, role, disabled, revoked, idle or expired.
    end_reason: Mapped[str | None] = mapped_column(String(40))


class LoginThrottle(Base):
    """Failed logins counted per login name and per client address (each a row whose
    key is a SHA-256, so a password typed into the login field is never stored)."""

    __tablename__ = "login_throttle"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), index=True)
    #: No attempt is checked before this time (None: no wait).
    blocked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
