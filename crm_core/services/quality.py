"""Data quality: the values kept as their source wrote them, not validated.

A sync or an import keeps what a person could not have typed (a phone that is no
valid number, an e-mail with a reserved domain, a name too long) instead of dropping
it, and marks the field in the record's ``unvalidated`` map with the reason. This
view lists those fields, so that someone can look at them and fix them: writing a
valid value clears the mark.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select, true

from crm_core.access import activity_clauses, deal_clauses
from crm_core.errors import FieldError
from crm_core.models import Activity, Company, Contact, Opportunity
from crm_core.services.base import Service, raise_if

#: The entities that can hold unvalidated values, with their model and the column
#: that names a record (an activity's subject).
ENTITIES: dict[str, tuple[Any, str]] = {
    "company": (Company, "name"),
    "contact": (Contact, "name"),
    "opportunity": (Opportunity, "name"),
    "activity": (Activity, "subject"),
}
ISSUE_COLUMNS = ["entity", "id", "name", "field", "value", "reason"]
COUNT_COLUMNS = ["entity", "field", "count"]


class Quality(Service):
    """Values kept as written but not validated: ``ws.quality``.

    A sales user sees those of every company and contact and of their own deals and
    activities (crm_core.access), as everywhere else.
    """

    entity = "quality"

    def issues(self, entity: str | None = None) -> pd.DataFrame:
        """One row per kept value: entity, id, name, field, value (as stored) and reason,
        by entity, then id, then field. ``entity`` (company, contact, opportunity,
        activity) narrows it to one."""
        rows: list[dict[str, Any]] = []
        with self._tx() as s:
            for name in self._entities(entity):
                model, title = ENTITIES[name]
                query = select(model).where(model.unvalidated.is_not(None))
                query = self._visible(name, model, query).order_by(model.id)
                for obj in s.scalars(query):
                    for field, reason in sorted((obj.unvalidated or {}).items()):
                        rows.append(
                            {
                                "entity": name,
                                "id": obj.id,
                                "name": getattr(obj, title),
                                "field": field,
                                "value": getattr(obj, field, None),
                                "reason": reason,
                            }
                        )
        return pd.DataFrame(rows, columns=ISSUE_COLUMNS)

    def count(self, entity: str | None = None) -> pd.DataFrame:
        """How many kept values there are per entity and field, counted in SQL."""
        rows: list[dict[str, Any]] = []
        with self._tx() as s:
            for name in self._entities(entity):
                model, _ = ENTITIES[name]
                keys = _json_keys(s.get_bind().dialect.name, model)
                query = (
                    select(keys.c.key.label("field"), func.count().label("count"))
                    .select_from(model)
                    .join(keys, true())
                    .where(model.unvalidated.is_not(None))
                    .group_by(keys.c.key)
                    .order_by(keys.c.key)
                )
                query = self._visible(name, model, query)
                rows += [
                    {"entity": name, "field": field, "count": int(n)}
                    for field, n in s.execute(query)
                ]
        return pd.DataFrame(rows, columns=COUNT_COLUMNS)

    def _entities(self, entity: Any) -> list[str]:
        if entity is None:
            return list(ENTITIES)
        if not isinstance(entity, str) or entity not in ENTITIES:
            reason = f"must be one of {', '.join(ENTITIES)}"
            raise_if([FieldError("data quality", "entity", entity, reason)])
        return [entity]

    def _visible(self, name: str, model: Any, query: Any) -> Any:
        """``query`` narrowed to the records the acting user may see."""
        if name == "opportunity":
            return query.where(*deal_clauses(self.ws, model))
        if name == "activity":
            return query.where(*activity_clauses(self.ws, model))
        return query


def _json_keys(dialect: str, model: Any) -> Any:
    """The keys of each row's ``unvalidated`` map as a table-valued function with a
    ``key`` column, correlated to ``model`` (SQLite's json_each, PostgreSQL's
    json_object_keys)."""
    column = model.unvalidated
    if dialect == "postgresql":
        return func.json_object_keys(column).table_valued("key").render_derived().lateral()
    return func.json_each(column).table_valued("key")
