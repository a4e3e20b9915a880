"""Activities and interactions from a file: what was planned and what happened.

Such rows have no e-mail or VAT to be found by: an activity is the same activity when
its subject, due date and linked records are; an interaction when its channel,
direction, time, subject and linked records are. Each row is validated by its service
(``ws.activities.prepare``, ``ws.interactions.prepare``), then looked for: an equal
one is left alone, one that differs in what the file adds (a note, a kind, who is
assigned; a summary, who logged it) is updated, and otherwise the row is added.
Linked records are named by id, by name, or (a contact) by e-mail.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm_core.errors import CrmError, FieldError, ValidationError
from crm_core.imports.batch import Job, Row
from crm_core.models import Activity, Company, Contact, Interaction, Opportunity
from crm_core.services.base import raise_if

#: What makes two rows the same record, and what an import may change on it.
IDENTITY = {
    "activity": ("subject", "due_date", "contact_id", "company_id", "opportunity_id"),
    "interaction": (
        "channel",
        "direction",
        "occurred_at",
        "subject",
        "contact_id",
        "company_id",
        "opportunity_id",
    ),
}
CHANGEABLE = {"activity": ("kind", "note", "assignee_id"), "interaction": ("summary", "user_id")}
#: Aliases a file's fields go by in the services.
_IDS = {"assignee": "assignee_id", "user": "user_id"}
#: The fields a service's refusal names by its own parameter's name, by the file's.
_FIELDS = {"at": "occurred_at"}


class HistoryJob(Job):
    """Imports activities or interactions."""

    def write(self, s: Session, rows: list[Row], marked: list[int]) -> None:
        live = [r for r in rows if r.refusal is None]
        self._refs(s, live, "company", Company)
        self._refs(s, [r for r in live if r.refusal is None], "contact", Contact)
        self._refs(s, [r for r in live if r.refusal is None], "opportunity", Opportunity)
        for r in live:
            if r.refusal is None:
                self._one(s, r, marked)

    def _one(self, s: Session, r: Row, marked: list[int]) -> None:
        model: Any = Activity if self.kind == "activity" else Interaction
        try:
            new = self._prepare(s, dict(r.raw))
        except ValidationError as exc:
            fields = [_FIELDS.get(e.field, e.field) for e in exc.errors]
            r.refuse(
                fields[0],
                exc.errors[0].value,
                "; ".join(f"{f}: {e.reason}" for f, e in zip(fields, exc.errors, strict=True)),
            )
            return
        same = select(model).where(
            *(getattr(model, c).is_not_distinct_from(getattr(new, c)) for c in IDENTITY[self.kind])
        )
        found = list(s.scalars(same.limit(2)))
        if len(found) > 1:
            r.refuse(
                None,
                None,
                f"{self.kind} records #{found[0].id} and #{found[1].id} are both this row",
            )
            return
        if not found:
            if self.mode == "update":
                r.refuse(
                    None,
                    None,
                    f"no {self.kind} is this row; mode 'update' only changes existing records",
                )
                return
            s.add(new)
            s.flush()
            self.touched.mark(new.id, r.line)
            marked.append(new.id)
            r.outcome = ("created", new.id, "")
            return
        old = found[0]
        earlier = self.touched.line(old.id)
        if earlier is not None:
            r.refuse(
                None,
                None,
                f"the same {self.kind} as line {earlier} of this file ({self.kind} #{old.id})",
            )
            return
        if self.mode == "create":
            r.refuse(
                None,
                None,
                f"{self.kind} #{old.id} exists already; mode 'create' only adds new records",
            )
            return
        self.touched.mark(old.id, r.line)
        marked.append(old.id)
        given = {_IDS.get(k, k) for k in r.raw}
        changes = {
            c: getattr(new, c)
            for c in CHANGEABLE[self.kind]
            if c in given and getattr(new, c) != getattr(old, c)
        }
        if not changes:
            r.outcome = ("unchanged", old.id, "")
            return
        try:
            self._change(s, old, changes)
        except CrmError as exc:
            s.expire(old)  # none of the row's changes stay
            r.refuse(None, None, str(exc))
            return
        r.outcome = ("updated", old.id, ", ".join(sorted(changes)))

    def _prepare(self, s: Session, values: dict[str, Any]) -> Any:
        if self.kind == "activity":
            kind = values.pop("kind", "todo")  # a file of tasks need not say so
            subject = values.pop("subject", None)
            due = values.pop("due_date", None)
            return self.ws.activities.prepare(s, kind, subject, due, values, self.keep_invalid)
        channel = values.pop("channel", None)
        direction = values.pop("direction", None)
        at = values.pop("occurred_at", None)
        if at is None:
            # Unlike logging a call now, a row of history must say when it happened.
            raise ValidationError(
                [FieldError(f"{self.kind} row", "occurred_at", None, "is required")]
            )
        return self.ws.interactions.prepare(s, channel, direction, self._aware(at), values)

    def _aware(self, at: Any) -> Any:
        """A time the file gives without an offset is the workspace's local time."""
        when = at
        if isinstance(at, str):
            try:
                when = dt.datetime.fromisoformat(at.strip())
            except ValueError:
                return at  # the service says what is wrong with it
        if isinstance(when, dt.datetime) and when.tzinfo is None:
            return when.replace(tzinfo=self.ws.timezone)
        return at

    def _change(self, s: Session, obj: Any, changes: dict[str, Any]) -> None:
        errors: list[FieldError] = []
        if self.kind == "activity":
            record = f"activity #{obj.id} {obj.subject!r}"
            self.ws.activities.write_fields(s, obj, changes, record, errors, self.keep_invalid)
            raise_if(errors)
        else:
            for name, value in changes.items():
                setattr(obj, name, value)  # values the service's prepare() validated
        s.flush()
