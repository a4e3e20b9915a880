"""Pipelines and opportunities: stages, moves, wins and losses."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any

import pandas as pd
from sqlalchemy import Numeric, cast, func, select
from sqlalchemy.orm import Session, aliased

from crm_core import validation as v
from crm_core.access import check_deal, own_only
from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.models import (
    OPPORTUNITY_TYPES,
    STATUSES,
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
from crm_core.models.pipeline import opportunity_tags
from crm_core.services.base import (
    Cleaner,
    Service,
    apply_fields,
    check_version,
    custom_values,
    get_or_404,
    label,
    raise_if,
    record_ref,
    tags_for,
    user_ref,
)
from crm_core.text import fold
from crm_core.validation import Reject

DEFAULT_STAGES: tuple[tuple[str, int, bool, bool], ...] = (
    ("New", 10, False, False),
    ("Qualified", 30, False, False),
    ("Proposition", 60, False, False),
    ("Negotiation", 80, False, False),
    ("Won", 100, True, False),
    ("Lost", 0, False, True),
)
DEFAULT_LOST_REASONS = (
    "Too expensive",
    "Chose a competitor",
    "No budget",
    "Not responsive",
    "Requirements not met",
)
HUNDRED = Decimal(100)
DEAL_FILTERS = (
    "stage",
    "status",
    "owner",
    "tag",
    "type",
    "company_id",
    "contact_id",
    "close_from",
    "close_to",
    "include_archived",
    "pipeline",
)
OPP_COLUMNS = [
    "id",
    "name",
    "type",
    "company",
    "contact",
    "owner",
    "pipeline",
    "stage",
    "expected_revenue",
    "currency",
    "probability",
    "expected_close",
    "priority",
    "status",
    "lost_reason",
    "source",
    "active",
    "version",
]


class PipelineService(Service):
    """Deals through a pipeline: ``ws.pipeline``."""

    entity = "opportunity"

    # -- pipelines and stages ---------------------------------------------------
    def create_pipeline(
        self, name: str, stages: Sequence[tuple[str, int, bool, bool]] = DEFAULT_STAGES
    ) -> int:
        """Create a pipeline with ordered stages ``(name, probability, is_won, is_lost)``."""
        record = f"pipeline {name!r}"
        errors: list[FieldError] = []
        try:
            name = v.required_text(name, 200)
        except Reject as exc:
            errors.append(FieldError(record, "name", name, str(exc)))
        if sum(1 for s in stages if s[2]) != 1 or sum(1 for s in stages if s[3]) > 1:
            errors.append(
                FieldError(
                    record,
                    "stages",
                    stages,
                    "need exactly one won stage and at most one lost stage",
                )
            )
        for stage in stages:
            if not 0 <= stage[1] <= 100:
                errors.append(
                    FieldError(
                        record, f"stage {stage[0]!r}", stage[1], "probability must be 0..100"
                    )
                )
        raise_if(errors)
        with self._tx() as s:
            if s.scalars(select(Pipeline).where(Pipeline.name == name)).first():
                raise_if([FieldError(record, "name", name, "already exists")])
            pipeline = Pipeline(name=name)
            s.add(pipeline)
            s.flush()
            for seq, (stage_name, prob, won, lost) in enumerate(stages, start=1):
                s.add(
                    Stage(
                        pipeline_id=pipeline.id,
                        name=stage_name,
                        sequence=seq * 10,
                        probability=Decimal(prob),
                        is_won=won,
                        is_lost=lost,
                    )
                )
            return pipeline.id

    def ensure_default(self) -> None:
        """Create the default "Sales" pipeline and lost reasons in an empty workspace."""
        with self._tx() as s:
            has_pipeline = s.scalar(select(func.count()).select_from(Pipeline))
            has_reasons = s.scalar(select(func.count()).select_from(LostReason))
            if not has_reasons:
                s.add_all(LostReason(name=n) for n in DEFAULT_LOST_REASONS)
        if not has_pipeline:
            self.create_pipeline("Sales")

    def stages(self, pipeline: int | str | None = None) -> pd.DataFrame:
        """The stages of a pipeline (default: the first) in order."""
        with self._tx() as s:
            p = self._pipeline(s, pipeline)
            rows = [
                {
                    "id": st.id,
                    "name": st.name,
                    "sequence": st.sequence,
                    "probability": st.probability,
                    "is_won": st.is_won,
                    "is_lost": st.is_lost,
                }
                for st in p.stages
            ]
        return pd.DataFrame(
            rows, columns=["id", "name", "sequence", "probability", "is_won", "is_lost"]
        )

    def lost_reasons(self) -> list[str]:
        """Names of the active lost reasons."""
        with self._tx() as s:
            return list(
                s.scalars(
                    select(LostReason.name)
                    .where(LostReason.active.is_(True))
                    .order_by(LostReason.name)
                )
            )

    def _pipeline(self, s: Session, ref: int | str | None) -> Pipeline:
        if ref is None:
            found = s.scalars(select(Pipeline).order_by(Pipeline.id)).first()
        elif isinstance(ref, int):
            found = s.get(Pipeline, ref)
        else:
            found = s.scalars(select(Pipeline).where(Pipeline.name == ref)).first()
        if found is None:
            raise NotFoundError("pipeline", ref)
        return found

    def _stage(self, s: Session, pipeline: Pipeline, ref: Any) -> Stage:
        for stage in pipeline.stages:
            if stage.id == ref or (isinstance(ref, str) and fold(stage.name) == fold(ref)):
                return stage
        raise Reject(f"is not a stage of pipeline {pipeline.name!r}")

    # -- opportunities ------------------------------------------------------------
    def _deal(self, s: Session, opportunity_id: Any, action: str) -> Opportunity:
        """The deal, if the acting user may ``action`` it (crm_core.access)."""
        opp: Opportunity = get_or_404(s, Opportunity, opportunity_id, "opportunity")
        check_deal(self.ws, opp, action)
        return opp

    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            "name": partial(v.required_text, max_len=300),
            "type": partial(v.one_of, choices=OPPORTUNITY_TYPES),
            "company_id": record_ref(s, Company, "company"),
            "contact_id": record_ref(s, Contact, "contact"),
            "owner_id": user_ref(s),
            "expected_revenue": _revenue,
            "currency": v.currency,
            "probability": lambda x: v.decimal_value(x, 2, Decimal(0), HUNDRED),
            "expected_close": v.date_value,
            "priority": partial(v.integer, minimum=0, maximum=3),
            "source": partial(v.optional_text, max_len=100),
            "campaign_id": lambda x: x if x is None else _campaign(s, x),
            "description": partial(v.optional_text, max_len=100_000),
        }

    def create(
        self, name: str, *, stage: Any = None, pipeline: int | str | None = None, **values: Any
    ) -> dict[str, Any]:
        """Create a lead or opportunity; it starts in ``stage`` (default: the first).

        Fields: type (lead|opportunity), company, contact, owner, expected_revenue
        (Decimal), currency (default: the workspace's), probability (default: the
        stage's), expected_close, priority 0-3, tags, source, campaign_id,
        description, custom.
        """
        with self._tx() as s:
            p = self._pipeline(s, pipeline)
            opp = Opportunity(
                pipeline_id=p.id,
                active=True,
                status="open",
                custom={},
                currency=self.ws.setting("currency"),
                type="opportunity",
            )
            values = {"name": name, **values}
            if "owner" not in values and "owner_id" not in values and self.ws.user_id:
                values["owner_id"] = self.ws.user_id
            errors: list[FieldError] = []
            record = label("opportunity", None, name)
            try:
                first = self._stage(s, p, stage) if stage is not None else p.stages[0]
            except Reject as exc:
                errors.append(FieldError(record, "stage", stage, str(exc)))
                first = p.stages[0]
            opp.stage_id = first.id
            opp.probability = first.probability
            self.write_fields(s, opp, values, errors, creating=True)
            if first.is_won or first.is_lost:
                errors.append(
                    FieldError(
                        record,
                        "stage",
                        stage,
                        "a deal cannot start won or lost; create then close it",
                    )
                )
            raise_if(errors)
            check_deal(self.ws, opp, "create a deal owned by someone else:")
            self.add_in_session(s, opp)
            return self._as_dict(opp)

    def write_fields(
        self,
        s: Session,
        opp: Opportunity,
        values: Mapping[str, Any],
        errors: list[FieldError],
        creating: bool,
    ) -> None:
        """Validate ``values`` and set them on ``opp`` in the caller's session.

        Refusals are appended to ``errors`` (the valid fields are set all the same);
        stage, status, active and lost reason are refused here: they change through
        move, win, lose and archive.
        """
        values = dict(values)
        for alias in ("company", "contact", "owner", "campaign"):
            if alias in values:
                values[f"{alias}_id"] = values.pop(alias)
        record = label("opportunity", None if creating else opp, values.get("name"))
        for blocked, use in (
            ("stage", "move()"),
            ("stage_id", "move()"),
            ("status", "win()/lose()"),
            ("active", "archive()/restore()"),
            ("lost_reason", "lose()"),
        ):
            if blocked in values:
                errors.append(FieldError(record, blocked, values.pop(blocked), f"use {use}"))
        tags = values.pop("tags", None)
        custom = values.pop("custom", None)
        apply_fields(opp, values, self._cleaners(s), record, errors)
        opp.name_key = fold(opp.name)[:300]
        if tags is not None:
            try:
                opp.tags = tags_for(s, tags)
            except Reject as exc:
                errors.append(FieldError(record, "tags", tags, str(exc)))
        if custom is not None or creating:
            opp.custom = custom_values(
                s, "opportunity", opp.custom, custom, record, errors, creating
            )

    def update(
        self,
        opportunity_id: int,
        changes: Mapping[str, Any] | None = None,
        *,
        expected_version: int | None = None,
        **more: Any,
    ) -> dict[str, Any]:
        """Change fields of a deal (not its stage or outcome: see move, win, lose)."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "change")
            check_version(opp, label("opportunity", opp), expected_version)
            errors: list[FieldError] = []
            self.write_fields(s, opp, {**(changes or {}), **more}, errors, creating=False)
            raise_if(errors)
            check_deal(self.ws, opp, "give away")
            s.flush()
            return self._as_dict(opp)

    def move(
        self, opportunity_id: int, stage: Any, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Move a deal to ``stage`` (id or name) and record it in the stage history.

        The probability becomes the stage's default. Moving to the won stage wins the
        deal; to the lost stage needs :meth:`lose` (a reason is required).
        """
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "move")
            record = label("opportunity", opp)
            check_version(opp, record, expected_version)
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            try:
                target = self._stage(s, p, stage)
            except Reject as exc:
                raise ValidationError([FieldError(record, "stage", stage, str(exc))]) from None
            if target.is_lost:
                raise ValidationError(
                    [FieldError(record, "stage", stage, "use lose() with a reason")]
                )
            self._move(s, opp, target)
            if target.is_won:
                self._close(opp, "won")
            elif opp.status != "open":
                self._reopen(opp)
            s.flush()
            return self._as_dict(opp)

    def add_in_session(self, s: Session, opp: Opportunity) -> None:
        """Insert a new deal in the caller's session with its first stage-history row."""
        s.add(opp)
        s.flush()
        s.add(
            StageChange(
                opportunity_id=opp.id,
                from_stage_id=None,
                to_stage_id=opp.stage_id,
                changed_at=self.ws.clock(),
                changed_by_id=self.ws.user_id,
            )
        )
        s.flush()

    def move_in_session(self, s: Session, opp: Opportunity, target: Stage) -> None:
        """Move ``opp`` to ``target`` inside the caller's session, recording history."""
        self._move(s, opp, target)

    def _move(self, s: Session, opp: Opportunity, target: Stage) -> None:
        if opp.stage_id == target.id:
            return
        s.add(
            StageChange(
                opportunity_id=opp.id,
                from_stage_id=opp.stage_id,
                to_stage_id=target.id,
                changed_at=self.ws.clock(),
                changed_by_id=self.ws.user_id,
            )
        )
        opp.stage_id = target.id
        opp.probability = target.probability

    def _close(self, opp: Opportunity, status: str) -> None:
        opp.status = status
        opp.closed_at = self.ws.clock()
        opp.probability = HUNDRED if status == "won" else Decimal(0)

    def _reopen(self, opp: Opportunity) -> None:
        opp.status = "open"
        opp.closed_at = None
        opp.lost_reason_id = None
        opp.lost_note = None

    def win(self, opportunity_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Mark a deal won: it moves to the pipeline's won stage."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "win")
            check_version(opp, label("opportunity", opp), expected_version)
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            self._move(s, opp, next(st for st in p.stages if st.is_won))
            opp.lost_reason_id = None
            self._close(opp, "won")
            s.flush()
            return self._as_dict(opp)

    def lose(
        self,
        opportunity_id: int,
        reason: str,
        *,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Mark a deal lost with a reason (a known lost reason, or a new one)."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "lose")
            record = label("opportunity", opp)
            check_version(opp, record, expected_version)
            errors: list[FieldError] = []
            try:
                reason_text = v.required_text(reason, 200)
                clean_note = v.optional_text(note, 10_000)
            except Reject as exc:
                errors.append(FieldError(record, "reason", reason, str(exc)))
            raise_if(errors)
            found = s.scalars(select(LostReason)).all()
            lost_reason = next((r for r in found if fold(r.name) == fold(reason_text)), None)
            if lost_reason is None:
                lost_reason = LostReason(name=reason_text)
                s.add(lost_reason)
                s.flush()
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            lost_stage = next((st for st in p.stages if st.is_lost), None)
            if lost_stage is not None:
                self._move(s, opp, lost_stage)
            opp.lost_reason_id = lost_reason.id
            opp.lost_note = clean_note
            self._close(opp, "lost")
            s.flush()
            return self._as_dict(opp)

    def reopen(
        self, opportunity_id: int, stage: Any = None, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Reopen a won or lost deal, in ``stage`` (default: the first stage)."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "reopen")
            record = label("opportunity", opp)
            check_version(opp, record, expected_version)
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            try:
                target = self._stage(s, p, stage) if stage is not None else p.stages[0]
            except Reject as exc:
                raise ValidationError([FieldError(record, "stage", stage, str(exc))]) from None
            if target.is_won or target.is_lost:
                raise ValidationError([FieldError(record, "stage", stage, "must be an open stage")])
            self._move(s, opp, target)
            self._reopen(opp)
            s.flush()
            return self._as_dict(opp)

    def archive(
        self, opportunity_id: int, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Hide a deal from the pipeline without deleting it."""
        return self._set_active(opportunity_id, False, expected_version)

    def restore(
        self, opportunity_id: int, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Bring back an archived deal."""
        return self._set_active(opportunity_id, True, expected_version)

    def _set_active(
        self, opportunity_id: int, active: bool, expected: int | None
    ) -> dict[str, Any]:
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "archive or restore")
            check_version(opp, label("opportunity", opp), expected)
            opp.active = active
            s.flush()
            return self._as_dict(opp)

    def get(self, opportunity_id: int) -> dict[str, Any]:
        """One deal as a dict, with its stage name and tags."""
        with self._tx() as s:
            return self._as_dict(self._deal(s, opportunity_id, "see"))

    def _as_dict(self, opp: Opportunity) -> dict[str, Any]:
        out = {
            c.key: getattr(opp, c.key) for c in opp.__mapper__.column_attrs if c.key != "name_key"
        }
        out["stage"] = opp.stage.name
        out["lost_reason"] = opp.lost_reason.name if opp.lost_reason else None
        out["tags"] = [t.name for t in opp.tags]
        return out

    # -- queries --------------------------------------------------------------------
    def _clauses(
        self,
        s: Session,
        q: str | None = None,
        *,
        stage: Any = None,
        status: str | None = None,
        owner: Any = None,
        tag: str | None = None,
        type: str | None = None,
        company_id: int | None = None,
        contact_id: int | None = None,
        close_from: Any = None,
        close_to: Any = None,
        include_archived: bool = False,
        pipeline: int | str | None = None,
    ) -> list[Any]:
        """WHERE clauses for the deal filters; every bad filter value is reported."""
        o = Opportunity
        record = "opportunity search"
        errors: list[FieldError] = []
        p = self._pipeline(s, pipeline)
        clauses: list[Any] = [o.pipeline_id == p.id]
        mine = own_only(self.ws)
        if mine is not None:
            clauses.append(o.owner_id == mine)
        if not include_archived:
            clauses.append(o.active.is_(True))
        if stage is not None:
            try:
                clauses.append(o.stage_id == self._stage(s, p, stage).id)
            except Reject as exc:
                errors.append(FieldError(record, "stage", stage, str(exc)))
        if status is not None:
            if status not in STATUSES:
                reason = f"must be one of {', '.join(STATUSES)}"
                errors.append(FieldError(record, "status", status, reason))
            clauses.append(o.status == status)
        if owner is not None:
            try:
                clauses.append(o.owner_id == user_ref(s)(owner))
            except Reject as exc:
                errors.append(FieldError(record, "owner", owner, str(exc)))
        if tag:
            tagged = (
                select(opportunity_tags.c.opportunity_id)
                .join(Tag, Tag.id == opportunity_tags.c.tag_id)
                .where(Tag.name_key == fold(tag))
            )
            clauses.append(o.id.in_(tagged))
        if type:
            clauses.append(o.type == type)
        if company_id is not None:
            clauses.append(o.company_id == company_id)
        if contact_id is not None:
            clauses.append(o.contact_id == contact_id)
        for name, bound in (("close_from", close_from), ("close_to", close_to)):
            try:
                day = v.date_value(bound)
            except Reject as exc:
                errors.append(FieldError(record, name, bound, str(exc)))
                continue
            if day is not None:
                after = name == "close_from"
                clauses.append(o.expected_close >= day if after else o.expected_close <= day)
        if q:
            clauses.append(o.name_key.contains(fold(q), autoescape=True))
        raise_if(errors)
        return clauses

    def _checked_clauses(self, s: Session, q: str | None, filters: dict[str, Any]) -> list[Any]:
        unknown = sorted(set(filters) - set(DEAL_FILTERS))
        if unknown:
            raise ValidationError(
                [
                    FieldError("opportunity search", name, filters[name], "is not a search filter")
                    for name in unknown
                ]
            )
        return self._clauses(s, q, **filters)

    def search(
        self,
        q: str | None = None,
        *,
        limit: int = 100,
        offset: int = 0,
        order_by: str = "expected_close",
        **filters: Any,
    ) -> pd.DataFrame:
        """Deals matching every filter given, one page as a DataFrame.

        ``q`` is a piece of the deal name (any script, any case). Filters: stage,
        status (open|won|lost), owner, tag, type, company_id, contact_id,
        close_from/close_to (expected close date range), include_archived, pipeline.
        ``order_by``: expected_close, name, revenue, created or id.
        """
        o = Opportunity
        orders = {
            "expected_close": o.expected_close,
            "name": o.name_key,
            "revenue": o.expected_revenue,
            "created": o.created_at,
            "id": o.id,
        }
        if order_by not in orders:
            reason = f"must be one of {', '.join(orders)}"
            raise ValidationError([FieldError("opportunity search", "order_by", order_by, reason)])
        with self._tx() as s:
            query = self._listing().where(*self._checked_clauses(s, q, filters))
            query = query.order_by(orders[order_by], o.id).limit(limit).offset(offset)
            rows = [dict(r) for r in s.execute(query).mappings()]
        return pd.DataFrame(rows, columns=OPP_COLUMNS)

    def count(self, q: str | None = None, **filters: Any) -> int:
        """How many deals :meth:`search` would find with the same filters (all pages)."""
        with self._tx() as s:
            clauses = self._checked_clauses(s, q, filters)
            return int(s.scalar(select(func.count(Opportunity.id)).where(*clauses)) or 0)

    def _listing(self) -> Any:
        o = Opportunity
        owner = aliased(User)
        return (
            select(
                o.id,
                o.name,
                o.type,
                Company.name.label("company"),
                Contact.name.label("contact"),
                owner.name.label("owner"),
                Pipeline.name.label("pipeline"),
                Stage.name.label("stage"),
                o.expected_revenue,
                o.currency,
                o.probability,
                o.expected_close,
                o.priority,
                o.status,
                LostReason.name.label("lost_reason"),
                o.source,
                o.active,
                o.version,
            )
            .join(Stage, Stage.id == o.stage_id)
            .join(Pipeline, Pipeline.id == o.pipeline_id)
            .outerjoin(Company, Company.id == o.company_id)
            .outerjoin(Contact, Contact.id == o.contact_id)
            .outerjoin(owner, owner.id == o.owner_id)
            .outerjoin(LostReason, LostReason.id == o.lost_reason_id)
        )

    def by_stage(
        self, pipeline: int | str | None = None, *, owner: Any = None, include_closed: bool = True
    ) -> pd.DataFrame:
        """Pipeline by stage, aggregated in SQL: one row per stage and currency.

        Columns: stage_id, stage, sequence, currency, count, value (sum of expected
        revenue) and weighted (sum of revenue x probability / 100). Stages without
        deals appear with zero counts.
        """
        o = Opportunity
        money = Numeric(18, 2)
        with self._tx() as s:
            p = self._pipeline(s, pipeline)
            join_on = (o.stage_id == Stage.id) & o.active.is_(True)
            if owner is not None:
                try:
                    join_on = join_on & (o.owner_id == user_ref(s)(owner))
                except Reject as exc:
                    raise ValidationError(
                        [FieldError("pipeline by stage", "owner", owner, str(exc))]
                    ) from None
            mine = own_only(self.ws)
            if mine is not None:
                join_on = join_on & (o.owner_id == mine)
            if not include_closed:
                join_on = join_on & (o.status == "open")
            query = (
                select(
                    Stage.id.label("stage_id"),
                    Stage.name.label("stage"),
                    Stage.sequence,
                    o.currency,
                    func.count(o.id).label("count"),
                    cast(func.coalesce(func.sum(o.expected_revenue), 0), money).label("value"),
                    cast(
                        func.coalesce(func.sum(o.expected_revenue * o.probability / 100), 0), money
                    ).label("weighted"),
                )
                .select_from(Stage)
                .outerjoin(o, join_on)
                .where(Stage.pipeline_id == p.id)
                .group_by(Stage.id, Stage.name, Stage.sequence, o.currency)
                .order_by(Stage.sequence, o.currency)
            )
            rows = [dict(r) for r in s.execute(query).mappings()]
        frame = pd.DataFrame(
            rows,
            columns=["stage_id", "stage", "sequence", "currency", "count", "value", "weighted"],
        )
        for col in ("value", "weighted"):
            frame[col] = [Decimal(str(x)).quantize(Decimal("0.01")) for x in frame[col]]
        return frame

    def history(self, opportunity_id: int) -> pd.DataFrame:
        """The stage history of one deal, oldest first."""
        frm, to = aliased(Stage), aliased(Stage)
        with self._tx() as s:
            self._deal(s, opportunity_id, "see the history of")
            rows = (
                s.execute(
                    select(
                        StageChange.changed_at,
                        frm.name.label("from_stage"),
                        to.name.label("to_stage"),
                        User.name.label("by"),
                    )
                    .outerjoin(frm, frm.id == StageChange.from_stage_id)
                    .join(to, to.id == StageChange.to_stage_id)
                    .outerjoin(User, User.id == StageChange.changed_by_id)
                    .where(StageChange.opportunity_id == opportunity_id)
                    .order_by(StageChange.changed_at, StageChange.id)
                )
                .mappings()
                .all()
            )
        return pd.DataFrame(
            [dict(r) for r in rows], columns=["changed_at", "from_stage", "to_stage", "by"]
        )


def _revenue(value: Any) -> Decimal:
    """Expected revenue: a non-negative amount with two places (empty is 0.00)."""
    amount = v.decimal_value(value, 2, minimum=Decimal(0))
    return Decimal("0.00") if amount is None else amount


def _campaign(s: Session, value: Any) -> int:
    from crm_core.models import Campaign

    if isinstance(value, bool) or not isinstance(value, int) or s.get(Campaign, value) is None:
        raise Reject("is not the id of an existing campaign")
    return value
