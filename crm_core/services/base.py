"""What every service shares: transactions, lookups, validation and record dicts."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import text
from crm_core.errors import ConflictError, FieldError, NotFoundError, ValidationError
from crm_core.models import CustomFieldDefinition, Tag, User
from crm_core.validation import Reject

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Cleaner = Callable[[Any], Any]


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
    if isinstance(record_id, bool) or not isinstance(record_id, int):
        raise NotFoundError(entity, record_id)
    obj = session.get(model, record_id)
    if obj is None:
        raise NotFoundError(entity, record_id)
    return obj


def check_version(obj: Any, label: str, expected: int | None) -> None:
    """Refuse a write based on a stale read: ``expected`` is the version the caller saw."""
    if expected is not None and expected != obj.version:
        raise ConflictError(label, expected, obj.version)


def label(entity: str, obj: Any = None, name: str | None = None) -> str:
    """How errors name a record: ``contact #12 'Imran Khan'`` or ``new contact 'X'``."""
    shown = name if name is not None else getattr(obj, "name", None)
    ident = f"#{obj.id}" if obj is not None and getattr(obj, "id", None) else "(new)"
    return f"{entity} {ident}" + (f" {shown!r}" if shown else "")


def apply_fields(
    obj: Any,
    values: Mapping[str, Any],
    cleaners: Mapping[str, Cleaner],
    record: str,
    errors: list[FieldError],
) -> dict[str, Any]:
    """Clean each value with its field's cleaner and set it on ``obj``.

    Unknown fields and refused values are appended to ``errors`` (nothing raises
    here, so one call reports every problem). Returns the cleaned values.
    """
    cleaned: dict[str, Any] = {}
    for field, raw in values.items():
        cleaner = cleaners.get(field)
        if cleaner is None:
            errors.append(FieldError(record, field, raw, "is not a field you can set here"))
            continue
        try:
            value = cleaner(raw)
        except Reject as exc:
            errors.append(FieldError(record, field, raw, str(exc)))
            continue
        cleaned[field] = value
        setattr(obj, field, value)
    return cleaned


def raise_if(errors: list[FieldError]) -> None:
    """Raise one :class:`ValidationError` carrying every collected error."""
    if errors:
        raise ValidationError(errors)


def user_ref(session: Session) -> Cleaner:
    """A cleaner resolving a user given by id, login or e-mail to the user's id."""

    def clean(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            user = session.get(User, value)
        else:
            key = str(value).strip()
            user = session.scalars(
                select(User).where((User.login == key) | (User.email == key))
            ).first()
        if user is None:
            raise Reject("is not a known user")
        return user.id

    return clean


def record_ref(session: Session, model: type, entity: str) -> Cleaner:
    """A cleaner accepting the id of an existing ``model`` row (or None)."""

    def clean(value: Any) -> int | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or session.get(model, value) is None
        ):
            raise Reject(f"is not the id of an existing {entity}")
        return value

    return clean


def tags_for(session: Session, names: Any) -> list[Tag]:
    """Tags by name, created on first use; names compare case-insensitively."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out: dict[str, Tag] = {}
    for raw in names:
        name = text.clean(raw if isinstance(raw, str) else getattr(raw, "name", None))
        if not name:
            raise Reject("contains an empty tag name")
        if len(name) > 100:
            raise Reject(f"tag {name!r} is longer than 100 characters")
        key = text.fold(name)
        tag = session.scalars(select(Tag).where(Tag.name_key == key)).first()
        if tag is None:
            tag = Tag(name=name, name_key=key)
            session.add(tag)
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
