"""Custom fields: declared per workspace, stored in each record's ``custom`` JSON.

Removing a field removes its values from every record (each change journaled, so the
journal keeps what they were), and a field defined again starts empty: a value written
for the old definition never meets a new one of another type. Reading still never
fails on a stored value that does not fit its definition (a workspace from before this
rule, a removal interrupted half-way): it is shown as written.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core import validation as v
from crm_core.access import check_unrestricted
from crm_core.errors import FieldError, NotFoundError
from crm_core.models import Company, Contact, CustomFieldDefinition, Opportunity
from crm_core.services.base import Service, raise_if
from crm_core.services.unique import insert_unique
from crm_core.validation import Reject

ENTITIES = ("company", "contact", "opportunity")
TYPES = ("text", "number", "date", "bool", "choice")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,59}")
#: The records holding each entity's custom values.
MODELS: dict[str, Any] = {"company": Company, "contact": Contact, "opportunity": Opportunity}
#: How many records one transaction clears when a field's values are dropped.
BATCH = 500


def clean_custom_value(definition: CustomFieldDefinition, raw: Any) -> Any:
    """Validate one custom value and return its JSON-storable form.

    Numbers are stored as decimal strings (exact), dates as ISO strings.
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    kind = definition.type
    if kind == "text":
        return v.optional_text(raw, 2000, multiline=True)
    if kind == "number":
        if isinstance(raw, float):
            raw = repr(raw)
        number = v.decimal_value(raw, places=6)
        return None if number is None else format(number.normalize(), "f")
    if kind == "date":
        day = v.date_value(raw)
        return None if day is None else day.isoformat()
    if kind == "bool":
        return v.boolean(raw)
    if kind == "choice":
        return v.one_of(raw, definition.choices or [])
    raise Reject(f"has unknown type {kind}")  # pragma: no cover - guarded on define


def typed(definition_type: str, stored: Any) -> Any:
    """Turn a stored custom value back into its Python type; a value that does not
    fit the type (stored under an earlier definition) is returned as written, since
    reading a record must never fail on what it holds."""
    if stored is None:
        return None
    try:
        if definition_type == "number" and isinstance(stored, str):
            return Decimal(stored)
        if definition_type == "date" and isinstance(stored, str):
            return v.date_value(stored)
    except (InvalidOperation, Reject):
        return stored
    return stored


class CustomFields(Service):
    """Declare the extra fields a workspace tracks on companies, contacts and opportunities."""

    def define(
        self,
        entity: str,
        name: str,
        type: str,
        *,
        choices: list[str] | None = None,
        required: bool = False,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Add a custom field. No migration: values live in the record's JSON column.

        ``name`` is a lower-case identifier; ``type`` one of text, number, date, bool,
        choice (which needs ``choices``). A manager's or admin's call: a field is on
        every record of the entity, the whole team's deals included.
        """
        record = f"custom field {entity}.{name}"
        check_unrestricted(self.ws, "define", record)
        errors: list[FieldError] = []
        if not isinstance(entity, str) or entity not in ENTITIES:
            errors.append(
                FieldError(record, "entity", entity, f"must be one of {', '.join(ENTITIES)}")
            )
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            errors.append(FieldError(record, "name", name, "must be lower-case letters, digits, _"))
        if not isinstance(type, str) or type not in TYPES:
            errors.append(FieldError(record, "type", type, f"must be one of {', '.join(TYPES)}"))
        clean_choices = None
        if type == "choice":
            clean_choices = _choices(record, choices, errors)
        elif choices:
            errors.append(FieldError(record, "choices", choices, "only choice fields have choices"))
        try:
            label = v.optional_text(label, 200)
        except Reject as exc:
            errors.append(FieldError(record, "label", label, str(exc)))
        if not isinstance(required, bool):
            errors.append(FieldError(record, "required", required, "must be true or false"))
        raise_if(errors)
        with self._tx() as s:
            return self._add(s, record, entity, name, type, clean_choices, required, label)

    def define_in(self, s: Session, entity: str, name: str, label: str | None = None) -> None:
        """Add a text custom field in the caller's session (an import defining the
        fields its unknown columns become: a dry run's are rolled back with it)."""
        record = f"custom field {entity}.{name}"
        check_unrestricted(self.ws, "define", record)
        if entity not in ENTITIES or not isinstance(name, str) or not _NAME.fullmatch(name):
            raise_if([FieldError(record, "name", name, "must be lower-case letters, digits, _")])
        try:
            label = v.optional_text(label, 200)
        except Reject as exc:
            raise_if([FieldError(record, "label", label, str(exc))])
        self._add(s, record, entity, name, "text", None, False, label)

    def _add(
        self,
        s: Session,
        record: str,
        entity: str,
        name: str,
        type: str,
        choices: list[str] | None,
        required: bool,
        label: str | None,
    ) -> dict[str, Any]:
        exists = s.scalars(
            select(CustomFieldDefinition).where(
                CustomFieldDefinition.entity == entity, CustomFieldDefinition.name == name
            )
        ).first()
        if exists is not None:
            raise_if([FieldError(record, "name", name, "is already defined")])
        going_on: int | None = 0
        while going_on is not None:  # a field defined again starts empty (module doc)
            _dropped, going_on = _drop_batch(s, entity, name, going_on)
        values = {
            "entity": entity,
            "name": name,
            "type": type,
            "choices": choices,
            "required": bool(required),
            "label": label or name.replace("_", " ").capitalize(),
        }
        # Inserted unless it exists, so a second user defining the same field at the
        # same moment is told it is already defined, not given a database error.
        d, created = insert_unique(s, CustomFieldDefinition, ("entity", "name"), values)
        if not created:
            raise_if([FieldError(record, "name", name, "is already defined")])
        return _as_dict(d)

    def list(self, entity: str | None = None) -> pd.DataFrame:
        """The defined custom fields, optionally of one entity."""
        if entity is not None and (not isinstance(entity, str) or entity not in ENTITIES):
            reason = f"must be one of {', '.join(ENTITIES)}"
            raise_if([FieldError("custom field list", "entity", entity, reason)])
        query = select(CustomFieldDefinition).order_by(
            CustomFieldDefinition.entity, CustomFieldDefinition.name
        )
        if entity:
            query = query.where(CustomFieldDefinition.entity == entity)
        with self._tx() as s:
            rows = [_as_dict(d) for d in s.scalars(query)]
        return pd.DataFrame(
            rows, columns=["id", "entity", "name", "label", "type", "choices", "required"]
        )

    def remove(self, entity: str, name: str) -> int:
        """Forget a custom field and drop its values from every record, :data:`BATCH`
        records a transaction, each change journaled (the journal keeps the values).
        Returns how many records held one. A manager's or admin's call.

        The definition goes first, so no new value can be written meanwhile; values a
        removal interrupted half-way left behind go when the field is defined again.
        """
        _known_key(entity, name)
        check_unrestricted(self.ws, "remove", f"custom field {entity}.{name}")
        with self._tx() as s:
            d = s.scalars(
                select(CustomFieldDefinition).where(
                    CustomFieldDefinition.entity == entity, CustomFieldDefinition.name == name
                )
            ).first()
            if d is None:
                raise NotFoundError("custom field", f"{entity}.{name}")
            s.delete(d)
        return self._drop_values(entity, name)

    def _drop_values(self, entity: str, name: str) -> int:
        """Remove ``name`` from the custom values of every ``entity`` record holding
        it, a batch per transaction; how many records changed."""
        dropped, after = 0, 0
        while True:
            with self._tx() as s:
                batch, going_on = _drop_batch(s, entity, name, after)
            dropped += batch
            if going_on is None:
                return dropped
            after = going_on

    def definition(self, entity: str, name: str) -> CustomFieldDefinition:
        """The definition of one custom field (detached), or NotFoundError."""
        _known_key(entity, name)
        with self._tx() as s:
            d = s.scalars(
                select(CustomFieldDefinition).where(
                    CustomFieldDefinition.entity == entity, CustomFieldDefinition.name == name
                )
            ).first()
            if d is None:
                raise NotFoundError("custom field", f"{entity}.{name}")
            s.expunge(d)
            return d


def _drop_batch(s: Session, entity: str, name: str, after: int) -> tuple[int, int | None]:
    """Remove ``name`` from the custom values of up to :data:`BATCH` ``entity``
    records with an id above ``after`` that hold it (through the ORM: journaled and
    versioned); returns how many, and the last id to go on from (None: none left)."""
    model = MODELS[entity]
    found = list(
        s.scalars(
            select(model)
            .where(model.id > after, model.custom[name].as_string().is_not(None))
            .order_by(model.id)
            .limit(BATCH)
        )
    )
    for obj in found:
        obj.custom = {k: val for k, val in (obj.custom or {}).items() if k != name}
    s.flush()
    return len(found), (found[-1].id if len(found) == BATCH else None)


def _choices(record: str, choices: Any, errors: list[FieldError]) -> list[str] | None:
    """A choice field's choices: distinct non-empty texts of at most 200 characters."""
    if not isinstance(choices, list | tuple) or not choices:
        errors.append(FieldError(record, "choices", choices, "must be a non-empty list of texts"))
        return None
    out = []
    for choice in choices:
        try:
            clean = v.optional_text(choice, 200)
        except Reject as exc:
            errors.append(FieldError(record, "choices", choice, str(exc)))
            continue
        if clean:
            out.append(clean)
    if not out or len(set(out)) != len(out):
        errors.append(FieldError(record, "choices", choices, "must be distinct, non-empty"))
    return out


def _known_key(entity: Any, name: Any) -> None:
    """Refuse to look up a custom field by what cannot be its entity and name."""
    if not (isinstance(entity, str) and entity in ENTITIES and isinstance(name, str)):
        raise NotFoundError("custom field", f"{entity}.{name}")
    if not _NAME.fullmatch(name):
        raise NotFoundError("custom field", f"{entity}.{name}")


def _as_dict(d: CustomFieldDefinition) -> dict[str, Any]:
    return {
        "id": d.id,
        "entity": d.entity,
        "name": d.name,
        "label": d.label,
        "type": d.type,
        "choices": d.choices,
        "required": d.required,
    }
