"""Errors raised by crm_core services.

Every error names what was wrong so that a user can fix it without reading code:
the record, the field, the offending value and the reason.
"""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    """Base class of every error crm_core raises on purpose."""


class ValidationError(CrmError, ValueError):
    """A value was refused. Carries one or more :class:`FieldError`."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class FieldError:
    """One refused value: which record, which field, which value and why."""

    def __init__(self, record: str, field: str, value: Any, reason: str):
        self.record = record
        self.field = field
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        size = len(self.value) if isinstance(self.value, str | bytes) else None
        value = _cut(repr(self.value), size)
        return f"{_cut(self.record)}: field {self.field!r} value {value}: {self.reason}"

    def __repr__(self) -> str:
        return f"FieldError({self})"


#: How much of a refused value (or a record's label) a message shows.
SHOWN = 120


def _cut(text: str, size: int | None = None) -> str:
    """``text`` as a message shows it: a long one cut, saying how long it was (``size``:
    the length of the value ``text`` shows, when it is not ``text``'s own)."""
    if len(text) <= SHOWN:
        return text
    return f"{text[: SHOWN - 20]}… ({size if size is not None else len(text):,} characters)"


class NotFoundError(CrmError, LookupError):
    """A record asked for by id or name does not exist."""

    def __init__(self, entity: str, key: Any):
        self.entity = entity
        self.key = key
        super().__init__(f"{entity} {key!r} does not exist")


class AccessDenied(CrmError, PermissionError):
    """The acting user's role does not allow this (see :mod:`crm_core.access`)."""

    def __init__(self, login: str | None, role: str | None, action: str, record: str):
        self.login = login
        self.role = role
        self.action = action
        self.record = record
        super().__init__(
            f"user {login!r} ({role}) may not {action} {record}: "
            "a sales user works only on their own deals and activities"
        )


class ConflictError(CrmError):
    """A write was based on a stale version of a record; nothing was written.

    Reload the record, re-apply the change and try again.
    """

    def __init__(
        self, record: str, expected: int | None, actual: int | None, *, blind: bool = False
    ):
        self.record = record
        self.expected = expected
        self.actual = actual
        #: True when the caller gave no version: ``expected`` is the version this
        #: change read, and the change was already tried again after re-reading.
        self.blind = blind
        now = f"it is now version {actual}" if actual is not None else "it has been deleted"
        if blind:
            super().__init__(
                f"{record} kept being changed by someone else while this change was "
                f"written (it was version {expected} when last read, {now}); nothing was "
                "written. Try again in a moment."
            )
            return
        super().__init__(
            f"{record} was changed by someone else (you edited version {expected}, "
            f"{now}); nothing was written. Reload it and try again."
        )


class WorkspaceBusy(CrmError):
    """Another writer held the workspace (a SQLite file) for longer than we waited.

    Nothing was written; the operation can simply be tried again.
    """

    def __init__(self, detail: str):
        self.detail = detail
        super().__init__(
            f"the workspace is busy: another process is writing to it ({detail}); "
            "nothing was written, try again in a moment"
        )


class WorkspaceUnreachable(CrmError):
    """The workspace's database could not be reached: a PostgreSQL server that is not
    running or refuses the login, a database that does not exist, a SQLite file in a
    folder that cannot be opened. Nothing was read or written."""

    def __init__(self, location: str, detail: str):
        self.location = location
        self.detail = detail
        super().__init__(f"cannot open the workspace at {location}: {detail}")


class SchemaError(CrmError):
    """The workspace's schema is not the one this crmbook works with: made by a newer
    crmbook, older and not to be upgraded silently (``crmbook migrate``), or absent.

    ``command`` is the command that fixes it, when one does.
    """

    def __init__(self, message: str, command: str | None = None):
        self.command = command
        super().__init__(message)


class ImportRefused(CrmError):
    """An import cannot start or go on: a bad option, a file that is not rows, a bad
    mapping (rows it refuses go to its rejects file instead)."""
