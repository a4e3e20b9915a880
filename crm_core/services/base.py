"""What every service shares: transactions, lookups, validation and record dicts."""

from __future__ import annotations

import functools
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import text
from crm_core import validation as v
from crm_core.errors import ConflictError, FieldError, NotFoundError, ValidationError
from crm_core.models import CustomFieldDefinition, Tag, User
from crm_core.services.unique import insert_unique
from crm_core.validation import Reject

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Cleaner = Callable[[Any], Any]
Write = TypeVar("Write", bound=Callable[..., Any])

#: How many times a write given no ``expected_version`` is tried again when another
#: process changed the record between this write's read and its UPDATE.
BLIND_RETRIES = 2


class Service:
    """Base of the workspace services; ``self.ws`` is the owning :class:`Workspace`."""

    entity: str = ""

    def __init__(self, ws: Workspace):
        self.ws = ws

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.ws.transaction() as session:
            yield session


def get_or_404(session: Session, model: type, record_id: Any, entity: str) -> Any:
    """Load ``model`` by primary key or raise :class:`NotFoundError` naming ``entity``."""
    if not v.is_id(record_id):  # not an int, or beyond what an id column holds
        raise NotFoundError(entity, record_id)
    obj = session.get(model, record_id)
    if obj is None:
        raise NotFoundError(entity, record_id)
    return obj


def check_version(obj: Any, label: str, expected: int | None) -> None:
    """Refuse a write based on a stale read: ``expected`` is the version the caller saw."""
    if expected is None:
        return
    # Any whole number (numpy's from a DataFrame too), but never a bool or a Decimal
    # NaN, which compare unexpectedly or not at all.
    if isinstance(expected, bool) or not isinstance(expected, numbers.Integral):
        reason = "must be the whole number of the version you read"
        raise ValidationError([FieldError(label, "expected_version", expected, reason)])
    expected = int(expected)
    if expected != obj.version:
        raise ConflictError(label, expected, obj.version)


def retried_when_blind(write: Write) -> Write:
    """Run a service write that takes ``expected_version``; when the caller gave none
    (a blind write: "set this field, whatever the rest holds now") a version clash only
    means another process wrote the record between this write's read and its UPDATE,
    so the write is run again on a fresh read, up to :data:`BLIND_RETRIES` times (each
    run its own transaction: a clash rolled back the whole run). The last clash is
    raised as a blind :class:`ConflictError`, which does not claim the caller edited a
    version. A write given a version never retries: the clash is the point."""

    @functools.wraps(write)
    def run(*args: Any, expected_version: int | None = None, **kwargs: Any) -> Any:
        for attempt in range(BLIND_RETRIES + 1):
            try:
                return write(*args, expected_version=expected_version, **kwargs)
            except ConflictError as exc:
                if expected_version is not None:
                    raise
                if attempt == BLIND_RETRIES:
                    raise ConflictError(exc.record, exc.expected, exc.actual, blind=True) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    return run  # type: ignore[return-value]


def label(entity: str, obj: Any = None, name: str | None = None) -> str:
    """How errors name a record: ``contact #12 'Imran Khan'`` or ``new contact 'X'``."""
    shown = name if name is not None else getattr(obj, "name", None)
    ident = f"#{obj.id}" if obj is not None and getattr(obj, "id", None) else "(new)"
    return f"{entity} {ident}" + (f" {shown!r}" if shown else "")


#: Fields whose refused text may be kept as written, with the most characters their
#: column holds (None: no limit). See :func:`clean_fields`.
Keepable = Mapping[str, int | None]


def keepable(model: Any, fields: Iterable[str]) -> dict[str, int | None]:
    """The :data:`Keepable` map of ``fields`` of ``model``: each with its column's limit."""
    table = model.__table__
    return {f: getattr(table.c[f].type, "length", None) for f in fields}


def clean_fields(
    values: Mapping[str, Any],
    cleaners: Mapping[str, Cleaner],
    record: str,
    errors: list[FieldError],
    keep: Keepable | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean each value with its field's cleaner: (cleaned values, kept values' reasons).

    Unknown fields and refused values are appended to ``errors`` (nothing raises here,
    so one call reports every problem). With ``keep``, a text value of one of its fields
    that the cleaner refuses for what it says (not for being missing) is kept as
    written instead, changed only where no database could store it (see
    :func:`crm_core.validation.storable`); the second dict gives each such field the
    reason it was refused, which is what ``unvalidated`` records.
    """
    cleaned: dict[str, Any] = {}
    kept: dict[str, str] = {}
    for field, raw in values.items():
        cleaner = cleaners.get(field) if isinstance(field, str) else None
        if cleaner is None:
            errors.append(FieldError(record, field, raw, "is not a field you can set here"))
            continue
        try:
            cleaned[field] = cleaner(raw)
        except Reject as exc:
            if keep is not None and field in keep and exc.keep and isinstance(raw, str):
                written = _as_written(raw, str(exc), keep[field], cleaner)
                if written is not None:
                    cleaned[field], reason = written
                    if reason:
                        kept[field] = reason
                    continue
            errors.append(FieldError(record, field, raw, str(exc)))
    return cleaned, kept


def _as_written(
    raw: str, reason: str, limit: int | None, cleaner: Cleaner
) -> tuple[Any, str | None] | None:
    """``raw`` to keep as written, and why it is not validated; None if it cannot be kept
    (longer than its column holds, or nothing left of it where a value is required)."""
    value, changed = v.storable(raw)
    if text.clean(value) is None:
        # Only characters no database stores: there is no value to keep.
        try:
            return cleaner(None), None
        except Reject:
            return None
    if limit is not None and len(value) > limit:
        return None
    return value, reason + (f"; kept as written with {changed}" if changed else "")


def mark_unvalidated(obj: Any, written: Iterable[str], kept: Mapping[str, str]) -> None:
    """Record on ``obj.unvalidated`` the ``kept`` fields' reasons, and clear the marks of
    the other ``written`` fields (a valid value replaced what was kept)."""
    before = getattr(obj, "unvalidated", None)
    marks = {k: r for k, r in (before or {}).items() if k not in written}
    marks.update(kept)
    after = marks or None
    if after != before:
        # A new dict, never the old one changed in place: SQLAlchemy sees a new value.
        obj.unvalidated = after


def apply_fields(
    obj: Any,
    values: Mapping[str, Any],
    cleaners: Mapping[str, Cleaner],
    record: str,
    errors: list[FieldError],
    keep: Keepable | None = None,
) -> dict[str, Any]:
    """Clean each value with its field's cleaner and set it on ``obj``.

    Unknown fields and refused values are appended to ``errors`` (nothing raises
    here, so one call reports every problem). Returns the cleaned values. ``keep``
    is as in :func:`clean_fields`; a record with an ``unvalidated`` column gets the
    kept fields' reasons there, and the marks of fields now set to valid values go.
    """
    cleaned, kept = clean_fields(values, cleaners, record, errors, keep)
    for field, value in cleaned.items():
        setattr(obj, field, value)
    if hasattr(type(obj), "unvalidated"):
        mark_unvalidated(obj, cleaned, kept)
    return cleaned


def fit_amount(
    obj: Any,
    field: str,
    currency: str,
    record: str,
    errors: list[FieldError],
    *,
    rounded: bool = False,
) -> None:
    """Put the amount in ``obj.<field>`` into ``currency``'s minor units, or append why
    it cannot be (see :func:`crm_core.validation.currency_amount`; ``rounded`` for
    amounts an ERP sent)."""
    amount = getattr(obj, field)
    if amount is None:
        return
    try:
        setattr(obj, field, v.currency_amount(amount, currency, rounded=rounded))
    except Reject as exc:
        errors.append(FieldError(record, field, amount, str(exc)))


def raise_if(errors: list[FieldError]) -> None:
    """Raise one :class:`ValidationError` carrying every collected error."""
    if errors:
        raise ValidationError(errors)


def user_ref(session: Session) -> Cleaner:
    """A cleaner resolving a user given by id, login, e-mail or name (as exports and
    the app write an owner; refused when several users bear it) to the user's id."""

    def clean(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            user = session.get(User, value) if v.is_id(value) else None
        elif isinstance(value, str):
            key = v.query_text(value) or ""
            key = key.strip()
            user = session.scalars(
                select(User).where((User.login == key) | (User.email == key))
            ).first()
            if user is None and key:
                named = session.scalars(select(User).where(User.name == key).limit(2)).all()
                if len(named) > 1:
                    raise Reject("names several users: give the login")
                user = named[0] if named else None
        else:
            user = None
        if user is None:
            raise Reject("is not a known user")
        return user.id

    return clean


def record_ref(session: Session, model: type, entity: str) -> Cleaner:
    """A cleaner accepting the id of an existing ``model`` row (or None)."""

    def clean(value: Any) -> int | None:
        if value is None:
            return None
        if not v.is_id(value) or session.get(model, value) is None:
            raise Reject(f"is not the id of an existing {entity}")
        return int(value)

    return clean


def id_filter(value: Any, what: str) -> int:
    """A search filter's record id; refuses what cannot be an id (``what`` names it)."""
    if not v.is_id(value):
        raise Reject(f"is not the id of {what}")
    return int(value)


def tags_for(session: Session, names: Any) -> list[Tag]:
    """Tags by name, created on first use; names compare case-insensitively.

    ``names`` is a list of names or one text of names (:func:`crm_core.text.tag_names`:
    commas or semicolons, Latin or Arabic, between them). Names differing only in
    case (or Unicode form) are one tag, created once even when two sessions add it at
    the same moment (see :func:`crm_core.services.unique.insert_unique`).
    """
    if names is None:
        return []
    if isinstance(names, str):
        parts: list[Any] = text.tag_names(names)
    elif isinstance(names, list | tuple | set | frozenset):
        parts = list(names)
    else:
        raise Reject("must be a list of tag names or a comma-separated text")
    wanted: dict[str, str] = {}  # folded key -> name, every name checked before any is made
    for raw in parts:
        given = raw if isinstance(raw, str) else getattr(raw, "name", None)
        if not isinstance(given, str):
            raise Reject(f"contains {raw!r}, which is not a tag name")
        try:
            name = v.optional_text(given, 100)
        except Reject as exc:
            raise Reject(f"tag {given!r} {exc}") from None
        if not name:
            raise Reject("contains an empty tag name")
        key = text.fold(name)
        if len(key) > 100:
            raise Reject(f"tag {name!r} is longer than 100 characters once case-folded")
        wanted.setdefault(key, name)
    out: dict[str, Tag] = {}
    for key, name in wanted.items():
        tag = session.scalars(select(Tag).where(Tag.name_key == key)).first()
        if tag is None:
            tag, _ = insert_unique(session, Tag, "name_key", {"name": name, "name_key": key})
        out[key] = tag
    return list(out.values())


def custom_values(
    session: Session,
    entity: str,
    current: Mapping[str, Any] | None,
    incoming: Any,
    record: str,
    errors: list[FieldError],
    creating: bool,
) -> dict[str, Any]:
    """Merge ``incoming`` custom values into ``current`` after validating each one.

    Values are checked against the workspace's :class:`CustomFieldDefinition` rows
    for ``entity``; ``None`` removes a value. Required fields must have a value on
    create and cannot be cleared later.
    """
    from crm_core.services.custom_fields import clean_custom_value

    defs = {
        d.name: d
        for d in session.scalars(
            select(CustomFieldDefinition).where(CustomFieldDefinition.entity == entity)
        )
    }
    merged = dict(current or {})
    if incoming is not None and not isinstance(incoming, Mapping):
        errors.append(FieldError(record, "custom", incoming, "must be a mapping of name to value"))
        return merged
    for name, raw in (incoming or {}).items():
        definition = defs.get(name)
        if definition is None:
            errors.append(
                FieldError(record, f"custom.{name}", raw, f"is not a custom field of {entity}")
            )
            continue
        try:
            value = clean_custom_value(definition, raw)
        except Reject as exc:
            errors.append(FieldError(record, f"custom.{name}", raw, str(exc)))
            continue
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    for name, definition in defs.items():
        if (
            definition.required
            and merged.get(name) is None
            and (creating or name in (incoming or {}))
        ):
            errors.append(FieldError(record, f"custom.{name}", None, "is required"))
    return merged
