"""Staff users and the journal view.

Managing users (adding them, their passwords, roles, disabling them) is for the
workspace's owner and admins; a user may change their own password. A new password, a
role change or disabling a user ends every login session of theirs at once (see
:mod:`crm_core.services.sessions`).
"""

from __future__ import annotations

from functools import partial
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import select

from crm_core import validation as v
from crm_core.access import journal_clauses, require_admin
from crm_core.errors import AccessDenied, ConflictError, FieldError, NotFoundError
from crm_core.languages import NOT_A_LANGUAGE, choices, ui_language
from crm_core.models import ROLES, JournalEntry, User
from crm_core.passwords import (
    MIN_LENGTH,
    dummy_check,
    hash_password,
    needs_rehash,
    verify_password,
)
from crm_core.services.base import Service, apply_fields, raise_if
from crm_core.services.sessions import end_sessions

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
        (at least 8 characters, stored only as a salted hash) they can log in to the app.
        The owner or an admin only."""
        record = f"user (new) {login!r}"
        require_admin(self.ws, "add", f"user {login!r}")
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

    def set_password(self, login: str, password: str) -> int:
        """Give a user a new password (stored as a salted hash) and end every login
        session of theirs; returns how many ended. The owner or an admin, or the user
        themselves."""
        with self._tx() as s:
            user = self._by_login(s, login)
            require_admin(self.ws, "set the password of", f"user {login!r}", own_id=user.id)
            errors: list[FieldError] = []
            _set_password(user, password, f"user {login!r}", errors)
            raise_if(errors)
            return end_sessions(s, user.id, "password", self.ws.clock())

    def set_role(self, login: str, role: str) -> int:
        """Give a user another role (admin, manager or sales) and end every login
        session of theirs, so no open page keeps the old role; returns how many ended.
        The owner or an admin only."""
        with self._tx() as s:
            user = self._by_login(s, login)
            require_admin(self.ws, "change the role of", f"user {login!r}")
            errors: list[FieldError] = []
            new_role = user.role
            try:
                new_role = v.one_of(role, ROLES)
            except v.Reject as exc:
                errors.append(FieldError(f"user {login!r}", "role", role, str(exc)))
            raise_if(errors)
            if new_role == user.role:
                return 0
            user.role = new_role
            return end_sessions(s, user.id, "role", self.ws.clock())

    def set_language(self, login: str, code: str | None) -> str | None:
        """Set the language the staff app speaks to a user: one of the codes in
        ``crm_core/languages.toml`` (``ur``, ``bn``, ...), or None for the workspace's
        default. Returns the code stored. The owner or an admin, or the user themselves.
        Open pages keep their language until reloaded."""
        with self._tx() as s:
            user = self._by_login(s, login)
            require_admin(self.ws, "set the language of", f"user {login!r}", own_id=user.id)
            language = None
            if code is not None and str(code).strip():
                try:
                    language = ui_language(code)
                except ValueError:
                    reason = NOT_A_LANGUAGE.format(choices=choices())
                    raise_if([FieldError(f"user {login!r}", "language", code, reason)])
            user.language = language
            return language

    def disable(self, login: str) -> int:
        """Disable a user: they can no longer log in, and every login session of theirs
        ends at once; returns how many ended. Their records stay theirs. The owner or
        an admin only."""
        with self._tx() as s:
            user = self._by_login(s, login)
            require_admin(self.ws, "disable", f"user {login!r}")
            user.active = False
            return end_sessions(s, user.id, "disabled", self.ws.clock())

    def enable(self, login: str) -> None:
        """Let a disabled user log in again. The owner or an admin only."""
        with self._tx() as s:
            user = self._by_login(s, login)
            require_admin(self.ws, "enable", f"user {login!r}")
            user.active = True

    def authenticate(self, login: str, password: str) -> dict[str, Any] | None:
        """The active user with this login and password, or None (no hint which of the
        two was wrong). Costs one password hash whatever the answer, so an unknown
        login takes as long as a known one; a hash of an older crmbook (scrypt) or
        cost is replaced on success.

        The login form's question, asked of the workspace itself (or by an admin): a
        workspace acting for a user other than an admin may not test anyone's password
        (:class:`~crm_core.access.NotAnAdmin`), its own included, before any work."""
        require_admin(self.ws, "check the password of", f"user {login!r}")
        if not (_askable(login) and _askable(password)):
            # A malformed login fails like an unknown one, after the same work.
            dummy_check(password if _askable(password) else "")
            return None
        with self._tx() as s:
            user = s.scalars(select(User).where(User.login == login.strip().lower())).first()
            # Unknown, disabled and password-less users cost one hash like the rest.
            ok = verify_password(user.password_hash if user else None, password)
            if user is None or not user.active or not ok:
                return None
            found = _as_dict(user)
            stale = needs_rehash(user.password_hash)
        if stale:
            self._rehash(found["id"], password)
        return found

    def _rehash(self, user_id: int, password: str) -> None:
        """Store a hash of the current scheme and cost, journaled as the user's own."""
        try:
            with self.ws.as_user(user_id).transaction() as s:
                user = s.get(User, user_id)
                if user is not None and needs_rehash(user.password_hash):
                    user.password_hash = hash_password(password)
        except (ConflictError, AccessDenied):
            # Another login of theirs rehashed it at the same moment, or a workspace
            # acting for someone else checked this password: the next login rehashes.
            pass

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
        "language": user.language,
    }


class JournalView(Service):
    """Read the journal: ``ws.journal``. Who changed what, when, from what to what.

    A sales user reads the rows about the records they may see, closed by default
    (crm_core.access.journal_clauses): rows about other reps' deals (their stage moves
    included), the activities and interactions that go with them, activities assigned
    to others, others' private mailboxes and the messages others queued are left out,
    by the query itself, and so is every table a sales user does not read (proposed
    contacts, bounces, the sync's links and conflicts); rows about companies, contacts
    and the other tables every role reads are everyone's.
    """

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
        # Narrowed before the caller's own conditions and limit: a page of ``since``
        # is a page of what the user may see, not a filtered page of everything.
        base = base.where(*journal_clauses(self.ws, j))
        with self._tx() as s:
            rows = s.execute(query(base).order_by(j.id)).mappings().all()
        return pd.DataFrame([dict(r) for r in rows], columns=self.COLUMNS)

    def for_record(self, entity: str, record_id: int) -> pd.DataFrame:
        """Every change to one record, oldest first. ``entity`` is the table name
        (``contacts``) or the model (``Contact``). Empty for a record that does not
        exist, or that the acting user may not see."""
        table = entity if isinstance(entity, str) else getattr(entity, "__tablename__", None)
        if not _askable(table) or not v.is_id(record_id):
            return pd.DataFrame(columns=self.COLUMNS)  # no such record: no changes
        return self._frame(
            lambda q: q.where(JournalEntry.entity == table, JournalEntry.record_id == record_id)
        )

    def since(self, entry_id: int = 0, limit: int = 10_000) -> pd.DataFrame:
        """Journal entries after ``entry_id`` (what a sync pushes from), at most
        ``limit``; a sales user's are those about records they may see."""
        errors = []
        if not (type(entry_id) is int and 0 <= entry_id <= 2**62):
            reason = "must be a whole number from 0"
            errors.append(FieldError("journal", "entry_id", entry_id, reason))
        if not (type(limit) is int and 0 < limit <= 1_000_000):
            reason = "must be a whole number 1..1000000"
            errors.append(FieldError("journal", "limit", limit, reason))
        raise_if(errors)
        return self._frame(lambda q: q.where(JournalEntry.id > entry_id).limit(limit))
