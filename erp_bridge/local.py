"""The local side of the sync: read crm_core records as sync values and write them back
through crm_core's own validation, inside the run's session."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from crm_core import Workspace
from crm_core.errors import FieldError, ValidationError
from crm_core.models import (
    Activity,
    Company,
    Contact,
    LostReason,
    Opportunity,
    Pipeline,
    Stage,
    StageChange,
    Tag,
    User,
)
from crm_core.models.base import MONEY_ZERO
from crm_core.services.base import mark_unvalidated
from crm_core.services.unique import insert_unique
from crm_core.text import fold

MODELS: dict[str, type] = {
    "company": Company,
    "contact": Contact,
    "opportunity": Opportunity,
    "user": User,
    "stage": Stage,
    "lost_reason": LostReason,
    "activity": Activity,
}


#: Local fields holding the id of another local record, and the entity it is of.
LINKED = {
    "stage_id": "stage",
    "owner_id": "user",
    "assignee_id": "user",
    "lost_reason_id": "lost_reason",
    "company_id": "company",
}


def shown_value(s: Session, field: str, value: Any) -> Any:
    """A synced field's value as people read it (a conflict's, in ``sync status``): a
    linked record by its name (a stage, an owner, a deal's customer), not its local
    id; a record gone since keeps the id. Other values as they are."""
    if value is None:
        return None
    if field in ("partner", "record"):
        entity, _, raw = str(value).partition(":")
    else:
        entity, raw = LINKED.get(field, ""), str(value)
    if entity not in MODELS or not raw.isdigit():
        return value
    row = s.get(MODELS[entity], int(raw))
    name = getattr(row, "name", None)
    return name if name else value


def outcome_of(opp: Opportunity) -> str:
    """One value for an opportunity's state: open, won, lost or archived."""
    if not opp.active:
        return "archived"
    return opp.status


def partner_ref(opp: Opportunity) -> str | None:
    """A deal's customer as ``contact:ID`` or ``company:ID`` (the person if known)."""
    if opp.contact_id is not None:
        return f"contact:{opp.contact_id}"
    if opp.company_id is not None:
        return f"company:{opp.company_id}"
    return None


def snapshot(obj: Any, fields: list[str]) -> dict[str, Any]:
    """The current local values of ``fields`` (tags as sorted names)."""
    out: dict[str, Any] = {}
    for name in fields:
        if name == "tags":
            out[name] = sorted(t.name for t in obj.tags)
        elif name == "outcome":
            out[name] = outcome_of(obj)
        elif name == "partner":
            out[name] = partner_ref(obj)
        elif name == "done":
            out[name] = obj.done_at is not None
        elif name == "record":
            out[name] = next(
                (
                    f"{e}:{getattr(obj, f'{e}_id')}"
                    for e in ("opportunity", "company", "contact")
                    if getattr(obj, f"{e}_id") is not None
                ),
                None,
            )
        else:
            out[name] = getattr(obj, name)
    return out


def earlier_values(obj: Any, field: str) -> list[Any]:
    """The values ``field`` of ``obj`` held before, the most recent first, where they
    are kept: a deal's stages, from its stage history. Empty for other fields."""
    s = object_session(obj)
    if field != "stage_id" or not isinstance(obj, Opportunity) or s is None:
        return []
    rows = s.scalars(
        select(StageChange.from_stage_id)
        .where(StageChange.opportunity_id == obj.id)
        .order_by(StageChange.id.desc())
    )
    return [r for r in rows if r is not None]


def snapshot_many(s: Session, entity: str, ids: list[int], fields: list[str]) -> dict[int, Any]:
    """:func:`snapshot` of many companies or contacts at once, in two queries: id ->
    values."""
    model: Any = MODELS[entity]
    columns = [f for f in fields if f != "tags"]
    out: dict[int, dict[str, Any]] = {}
    query = select(model.id, *(getattr(model, c) for c in columns)).where(model.id.in_(ids))
    for rid, *row in s.execute(query):
        out[rid] = dict(zip(columns, row, strict=True))
    if "tags" in fields:
        table = model.tags.property.secondary
        owner = table.c[f"{entity}_id"]
        tags: dict[int, list[str]] = {rid: [] for rid in out}
        for rid, name in s.execute(
            select(owner, Tag.name).join(Tag, Tag.id == table.c.tag_id).where(owner.in_(ids))
        ):
            tags[rid].append(name)
        for rid, values in out.items():
            values["tags"] = sorted(tags[rid])
    return out


class LocalWriter:
    """Applies sync values to crm_core records.

    What the ERP holds is never dropped: a text value crm_core would refuse from a
    keyboard (a phone that is no valid number, an e-mail with a reserved domain) is
    kept as the ERP wrote it and marked as not validated (``unvalidated``). A value
    that cannot be kept at all (not text, a link to an unknown record) is reported
    and left out; the rest of the record is still written.
    """

    def __init__(self, ws: Workspace):
        self.ws = ws
        #: What the writes since the caller last took them kept marked as not
        #: validated instead of taking the ERP's value (an amount too large to keep),
        #: each said in words: not failures (nothing is retried), listed by ``crmbook
        #: quality``. The caller takes them once its transaction is committed.
        self.kept: list[str] = []

    def apply(
        self, s: Session, entity: str, obj: Any | None, values: Mapping[str, Any]
    ) -> tuple[Any | None, list[FieldError]]:
        """Create (``obj`` None) or update a record; returns it and the refusals."""
        if entity in ("company", "contact"):
            return self._party(s, entity, obj, dict(values))
        if entity == "opportunity":
            return self._opportunity(s, obj, dict(values))
        if entity == "activity":
            return self._activity(s, obj, dict(values))
        raise ValueError(f"no local writer for {entity}")

    def _party(
        self, s: Session, entity: str, obj: Any | None, values: dict[str, Any]
    ) -> tuple[Any | None, list[FieldError]]:
        service = self.ws.companies if entity == "company" else self.ws.contacts
        creating = obj is None
        if obj is None:
            obj = MODELS[entity](active=True, custom={})
        active = values.pop("active", None)
        errors: list[FieldError] = []
        try:
            service.write_fields(s, obj, values, creating, keep_invalid=True)
        except ValidationError as exc:
            errors = exc.errors
            refused = {e.field for e in errors}
            if creating and "name" in refused:
                return None, errors
            service.write_fields(
                s,
                obj,
                {k: v for k, v in values.items() if k not in refused},
                creating,
                keep_invalid=True,
            )
        if active is not None:
            obj.active = bool(active)
        if creating:
            s.add(obj)
        s.flush()
        return obj, errors

    def _opportunity(
        self, s: Session, opp: Opportunity | None, values: dict[str, Any]
    ) -> tuple[Any | None, list[FieldError]]:
        pipeline = s.scalars(select(Pipeline).order_by(Pipeline.id)).first()
        assert pipeline is not None, "the workspace has no pipeline"
        stage_id = values.pop("stage_id", None)
        outcome = values.pop("outcome", None)
        lost_reason_id = values.pop("lost_reason_id", None)
        # When the ERP says the deal closed (set after the outcome, which stamps now).
        closed_at = values.pop("closed_at", None)
        if "partner" in values:
            values.update(self._partner_fields(s, values.pop("partner")))
        creating = opp is None
        if values.get("currency", "") is None:  # the ERP did not say: keep the deal's
            values.pop("currency")
        target = s.get(Stage, stage_id) if stage_id else None
        if opp is None:
            first = target or pipeline.stages[0]
            opp = Opportunity(
                pipeline_id=first.pipeline_id,
                stage_id=first.id,
                status="open",
                active=True,
                custom={},
                type="opportunity",
                probability=first.probability,
                # The ERP's amounts are in its currency (values["currency"]); the
                # workspace's only when the ERP did not say.
                currency=values.pop("currency", None) or self.ws.setting("currency"),
            )
        elif target is not None and target.id != opp.stage_id:
            self.ws.pipeline.move_in_session(s, opp, target)
        errors: list[FieldError] = []
        kept_amount = opp.expected_revenue
        # The ERP's amounts are rounded to the deal's currency, never refused for it.
        self.ws.pipeline.write_fields(
            s, opp, values, errors, creating, keep_invalid=True, rounded=True
        )
        if creating and any(e.field == "name" for e in errors):
            return None, errors
        marked = []
        for error in [e for e in errors if e.field == "expected_revenue"]:
            # Kept marked, not refused: said by the run, listed by `crmbook quality`.
            marked.append(_amount_not_kept(opp, kept_amount, error))
            errors.remove(error)
        if outcome is not None:
            self._set_outcome(opp, outcome, lost_reason_id)
        if closed_at is not None and opp.status in ("won", "lost"):
            opp.closed_at = closed_at
        if creating:
            self.ws.pipeline.add_in_session(s, opp)
        s.flush()
        self.kept += [f"opportunity #{opp.id} {opp.name!r}: {why}" for why in marked]
        return opp, errors

    def _activity(
        self, s: Session, act: Activity | None, values: dict[str, Any]
    ) -> tuple[Any | None, list[FieldError]]:
        label = f"activity {values.get('subject')!r}"
        errors: list[FieldError] = []
        if "record" in values:
            ref = values.pop("record")
            if ref is None:
                return None, [FieldError(label, "record", ref, "is on a record that is not synced")]
            entity, _, raw = str(ref).partition(":")
            values.update({f"{e}_id": None for e in ("opportunity", "company", "contact")})
            values[f"{entity}_id"] = int(raw)
        done = values.pop("done", None)
        if act is None:
            act = Activity()
        if done is not None and bool(done) != (act.done_at is not None):
            act.done_at = self.ws.clock() if done else None
        self.ws.activities.write_fields(s, act, values, label, errors, keep_invalid=True)
        if act.id is None:
            if errors:
                return None, errors
            s.add(act)
        s.flush()
        return act, errors

    def _partner_fields(self, s: Session, ref: str | None) -> dict[str, Any]:
        if not ref:
            return {"company_id": None, "contact_id": None}
        entity, _, raw = ref.partition(":")
        if entity == "company":
            return {"company_id": int(raw), "contact_id": None}
        contact = s.get(Contact, int(raw))
        return {"contact_id": int(raw), "company_id": contact.company_id if contact else None}

    def _set_outcome(self, opp: Opportunity, outcome: str, lost_reason_id: int | None) -> None:
        now = self.ws.clock()
        opp.active = outcome != "archived"
        if outcome in ("won", "lost"):
            if opp.status != outcome:
                opp.closed_at = now
            opp.status = outcome
        elif outcome == "open":
            opp.status, opp.closed_at = "open", None
        opp.lost_reason_id = lost_reason_id if outcome == "lost" else None


def _amount_not_kept(opp: Opportunity, kept: Decimal | None, error: FieldError) -> str:
    """An ERP amount no amount column holds exactly (too large): the deal keeps the
    amount it had (a new one 0.00), marked as not validated with the ERP's value and
    why, so ``crmbook quality`` lists it and the run's error is not the only trace.
    Never pushed back: the amount here is the synced one until someone changes it."""
    amount = kept if kept is not None else MONEY_ZERO
    opp.expected_revenue = amount
    reason = (
        f"the ERP's amount {error.value} is not kept here ({error.reason}); "
        f"{amount} until it is changed"
    )
    mark_unvalidated(opp, (), {"expected_revenue": reason})
    return f"expected_revenue: {reason}; kept marked as not validated (`crmbook quality`)"


def find_or_create_user(
    s: Session, login: str, name: str, email: str | None, active: bool = True
) -> User:
    """The local user with this login or e-mail, created (role sales) if none: inactive
    when the ERP's is (its OdooBot, its default user template), so it is never offered
    as an owner or assignee. A user found here keeps its own state."""
    user = s.scalars(select(User).where(User.login == login)).first()
    if user is None and email:
        user = s.scalars(select(User).where(User.email == email)).first()
    if user is None:  # one row even when two syncs meet it at once
        user, _ = insert_unique(
            s,
            User,
            "login",
            {
                "login": login,
                "name": name or login,
                "email": email,
                "role": "sales",
                "active": active,
                "version": 1,
            },
        )
    return user


def find_or_create_stage(s: Session, name: str, sequence: int, is_won: bool) -> Stage:
    """The stage of the main pipeline with this name (any case), created if none."""
    pipeline = s.scalars(select(Pipeline).order_by(Pipeline.id)).first()
    assert pipeline is not None
    for stage in pipeline.stages:
        if fold(stage.name) == fold(name):
            return stage
    stage, _ = insert_unique(
        s,
        Stage,
        ("pipeline_id", "name"),
        {
            "pipeline_id": pipeline.id,
            "name": name,
            "sequence": sequence * 10,
            "probability": 100 if is_won else 0,
            "is_won": is_won,
            "is_lost": False,
            "version": 1,
        },
    )
    return stage


def find_or_create_lost_reason(s: Session, name: str) -> LostReason:
    """The lost reason with this name (any case), created if none."""
    for reason in s.scalars(select(LostReason)):
        if fold(reason.name) == fold(name):
            return reason
    reason, _ = insert_unique(s, LostReason, "name", {"name": name, "active": True, "version": 1})
    return reason


def reference_values(s: Session, entity: str, local_id: int) -> dict[str, Any] | None:
    """A local stage or lost reason in the terms a catalogue's reference values use
    (see :class:`erp_bridge.catalogue.Reference`), for creating it in the ERP: a stage's
    ``name``, ``sequence`` (the ERP's step: :func:`find_or_create_stage` keeps ten
    times it), ``is_won`` and ``is_lost``; a lost reason's ``name``. None when the row
    is gone or the entity is none of these."""
    if entity == "stage":
        stage = s.get(Stage, local_id)
        if stage is None:
            return None
        return {
            "name": stage.name,
            "sequence": max(1, stage.sequence // 10),
            "is_won": bool(stage.is_won),
            "is_lost": bool(stage.is_lost),
        }
    if entity == "lost_reason":
        reason = s.get(LostReason, local_id)
        return None if reason is None else {"name": reason.name}
    return None
