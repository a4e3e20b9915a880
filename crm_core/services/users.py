"""Staff users and the journal view."""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import select

from crm_core import validation as v
from crm_core.errors import FieldError, NotFoundError
from crm_core.models import ROLES, JournalEntry, User
from crm_core.passwords import MIN_LENGTH, hash_password, verify_password
from crm_core.services.base import Service, apply_fields, raise_if

_LOGIN_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-@")


def _login(value: Any) -> str:
    login = v.required_text(value, 200).lower()
    if not set(login) <= _LOGIN_CHARS:
        raise v.Reject("may use only a-z, 0-9 and . _ - @")
    return login


class Users(Service):
    """Staff members: ``ws.users``."""

    entity = "user"

    def add(
        self,
        name: str,
        login: str,
        *,
        email: str | None = None,
        role: str = "sales",
        team: str | None = None,
        password: str | None = None,
    ) -> dict[str, Any]:
        """Add a staff member; ``role`` is admin, manager or sales, ``team`` the sales
        team they work in (reports can be filtered by it). With a ``password``
        (at least 8 characters, stored only as a salted hash) they can log in to the app."""
        record = f"user (new) {login!r}"
        with self._tx() as s:
            user = User(active=True)
            errors: list[FieldError] = []
            apply_fields(
                user,
                {"name": name, "login": login, "email": email, "role": role, "team": team},
                {
                    "name": partial(v.required_text, max_len=200),
                    "login": _login,
                    "email": v.email,
                    "role": partial(v.one_of, choices=ROLES),
                    "team": partial(v.optional_text, max_len=100),
                },
                record,
                errors,
            )
            if user.login and s.scalars(select(User).where(User.login == user.login)).first():
                errors.append(FieldError(record, "login", login, "is already taken"))
            if password is not None:
                _set_password(user, password, record, errors)
            raise_if(errors)
            s.add(user)
            s.flush()
            return _as_dict(user)

    def set_password(self, login: str, password: str) -> None:
        """Give a user a new password (stored as a salted hash)."""
        with self._tx() as s:
            user = self._by_login(s, login)
            errors: list[FieldError] = []
            _set_password(user, password, f"user {login!r}", errors)
            raise_if(errors)

    def authenticate(self, login: str, password: str) -> dict[str, Any] | None:
        """The active user with this login and password, or None (no hint which of the
        two was wrong)."""
        if not (_askable(login) and _askable(password)):
            verify_password(None, "")  # a malformed login fails like an unknown one
            return None
        with self._tx() as s:
            user = s.scalars(select(User).where(User.login == login.strip().lower())).first()
            if user is None or not user.active:
                verify_password(None, password)  # no faster answer for unknown logins
                return None
            return _as_dict(user) if verify_password(user.password_hash, password) else None

    def _by_login(self, s: Any, login: str) -> User:
        if not _askable(login):
            raise NotFoundError("user", login)
        user = s.scalars(select(User).where(User.login == login)).first()
        if user is None:
            raise NotFoundError("user", login)
        return user

    def get(self, login: str) -> dict[str, Any]:
        """One user by login."""
        with self._tx() as s:
            return _as_dict(self._by_login(s, login))

    def list(self) -> pd.DataFrame:
        """All users."""
        with self._tx() as s:
            rows = [_as_dict(u) for u in s.scalars(select(User).order_by(User.name))]
        return pd.DataFrame(
            rows, columns=["id", "name", "login", "email", "role", "team", "active"]
        )


def _askable(value: Any) -> bool:
    """Whether ``value`` is text a database can be asked about (no NUL, no surrogate)."""
    try:
        return v.query_text(value) is not None
    except v.Reject:
        return False


def _set_password(user: User, password: Any, record: str, errors: list[FieldError]) -> None:
    if not isinstance(password, str) or len(password) < MIN_LENGTH:
        reason = f"must be at least {MIN_LENGTH} characters"
        errors.append(FieldError(record, "password", "***", reason))
        return
    if not _askable(password):
        # A lone surrogate cannot be encoded to be hashed; the value is never shown.
        reason = "contains a character that is not text"
        errors.append(FieldError(record, "password", "***", reason))
        return
    user.password_hash = hash_password(password)


def _as_dict(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "login": user.login,
        "email": user.email,
        "role": user.role,
        "team": user.team,
        "active": user.active,
    }


class JournalView(Service):
    """Read the journal: ``ws.journal``. Who changed what, when, from what to what."""

    entity = "journal"
    COLUMNS: ClassVar[list[str]] = [
        "id",
        "at",
        "user",
        "entity",
        "record_id",
        "action",
        "field",
        "old",
        "new",
    ]

    def _frame(self, query: Any) -> pd.DataFrame:
        j = JournalEntry
        base = select(
            j.id,
            j.at,
            User.login.label("user"),
            j.entity,
            j.record_id,
            j.action,
            j.field,
            j.old,
            j.new,
        ).outerjoin(User, User.id == j.user_id)
        with self._tx() as s:
            rows = s.execute(query(base).order_by(j.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=self.COLUMNS)

    def for_record(self, entity: str, record_id: int) -> pd.DataFrame:
        """Every change to one record, oldest first. ``entity`` is the table name
        (``contacts``) or the model (``Contact``)."""
        table = entity if isinstance(entity, str) else getattr(entity, "__tablename__", None)
        if not _askable(table) or not v.is_id(record_id):
            return pd.DataFrame(columns=self.COLUMNS)  # no such record: no changes
        return self._frame(
            lambda q: q.where(JournalEntry.entity == table, JournalEntry.record_id == record_id)
        )

    def since(self, entry_id: int = 0, limit: int = 10_000) -> pd.DataFrame:
        """Journal entries after ``entry_id`` (what a sync pushes from)."""
        errors = []
        if not (type(entry_id) is int and 0 <= entry_id <= 2**62):
            reason = "must be a whole number from 0"
            errors.append(FieldError("journal", "entry_id", entry_id, reason))
        if not (type(limit) is int and 0 < limit <= 1_000_000):
            reason = "must be a whole number 1..1000000"
            errors.append(FieldError("journal", "limit", limit, reason))
        raise_if(errors)
        return self._frame(lambda q: q.where(JournalEntry.id > entry_id).limit(limit))
