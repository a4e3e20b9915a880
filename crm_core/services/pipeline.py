"""Pipelines and opportunities: stages, moves, wins and losses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session, aliased

from crm_core import validation as v
from crm_core.access import check_deal, check_unrestricted, deal_clauses
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
from crm_core.money import Rates
from crm_core.services.base import (
    Cleaner,
    Service,
    apply_fields,
    check_version,
    custom_values,
    fit_amount,
    get_or_404,
    id_filter,
    keepable,
    label,
    raise_if,
    record_ref,
    retried_when_blind,
    tags_for,
    user_ref,
)
from crm_core.services.figures import weighted_pipeline
from crm_core.services.unique import insert_unique
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
#: What a search's ``status`` may be: a deal's status, or "closed" (won or lost).
SEARCH_STATUSES = (*STATUSES, "closed")

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
        """Create a pipeline with ordered stages ``(name, probability, is_won, is_lost)``
        (a manager's or admin's call)."""
        record = f"pipeline {name!r}"
        check_unrestricted(self.ws, "create", "a pipeline")
        errors: list[FieldError] = []
        try:
            name = v.required_text(name, 200)
        except Reject as exc:
            errors.append(FieldError(record, "name", name, str(exc)))
        clean_stages = _stages(record, stages, errors)
        raise_if(errors)
        with self._tx() as s:
            pipeline, created = self._add_pipeline(s, name, clean_stages)
            if not created:
                raise_if([FieldError(record, "name", name, "already exists")])
            return int(pipeline.id)

    def _add_pipeline(
        self, s: Session, name: str, stages: Sequence[tuple[str, Decimal, bool, bool]]
    ) -> tuple[Pipeline, bool]:
        """The pipeline named ``name`` and whether this call created it (with its stages);
        two callers creating it at once get the one pipeline."""
        pipeline, created = insert_unique(s, Pipeline, "name", {"name": name})
        if created:
            for seq, (stage_name, prob, won, lost) in enumerate(stages, start=1):
                s.add(
                    Stage(
                        pipeline_id=pipeline.id,
                        name=stage_name,
                        sequence=seq * 10,
                        probability=prob,
                        is_won=won,
                        is_lost=lost,
                    )
                )
            s.flush()
        return pipeline, created

    def ensure_default(self) -> None:
        """Create the default "Sales" pipeline and lost reasons in an empty workspace.

        Safe when two processes open a new workspace at once: both end with one
        pipeline and one set of lost reasons.
        """
        with self._tx() as s:
            has_pipeline = s.scalar(select(func.count()).select_from(Pipeline))
            has_reasons = s.scalar(select(func.count()).select_from(LostReason))
            if not has_reasons:
                for reason in DEFAULT_LOST_REASONS:
                    insert_unique(s, LostReason, "name", {"name": reason, "active": True})
            if not has_pipeline:
                errors: list[FieldError] = []
                stages = _stages("pipeline 'Sales'", DEFAULT_STAGES, errors)
                self._add_pipeline(s, "Sales", stages)

    def stages(self, pipeline: int | str | None = None) -> pd.DataFrame:
        """The stages of a pipeline (default: the first) in order."""
        with self._tx() as s:
            p = self.get_pipeline(s, pipeline)
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

    def lost_reason_names(self) -> dict[int, str]:
        """Every lost reason's name by id, archived ones too (a deal's history may
        name a reason no longer offered)."""
        with self._tx() as s:
            return {i: name for i, name in s.execute(select(LostReason.id, LostReason.name))}

    def get_pipeline(self, s: Session, ref: int | str | None) -> Pipeline:
        """The pipeline ``ref`` (id or name; None: the first) in session ``s``;
        :class:`~crm_core.errors.NotFoundError` when there is none."""
        found: Pipeline | None = None
        if ref is None:
            found = s.scalars(select(Pipeline).order_by(Pipeline.id)).first()
        elif v.is_id(ref):
            found = s.get(Pipeline, ref)
        elif isinstance(ref, str) and _askable(ref):
            found = s.scalars(select(Pipeline).where(Pipeline.name == ref)).first()
        if found is None:
            raise NotFoundError("pipeline", ref)
        return found

    def _stage(self, s: Session, pipeline: Pipeline, ref: Any) -> Stage:
        for stage in pipeline.stages:
            # Compared by type first: a Decimal('sNaN') raises on ==.
            if (v.is_id(ref) and stage.id == ref) or (
                isinstance(ref, str) and fold(stage.name) == fold(ref)
            ):
                return stage
        raise Reject(f"is not a stage of pipeline {pipeline.name!r}")

    # -- opportunities ------------------------------------------------------------
    def _deal(self, s: Session, opportunity_id: Any, action: str) -> Opportunity:
        """The deal, if the acting user may ``action`` it (crm_core.access)."""
        opp: Opportunity = get_or_404(s, Opportunity, opportunity_id, "opportunity")
        check_deal(self.ws, opp, action)
        return opp

    #: Text fields whose value from an ERP or a file is kept as written when refused
    #: (``write_fields(..., keep_invalid=True)``).
    keep_fields: ClassVar[tuple[str, ...]] = ("name", "source", "description")

    def keepable(self) -> dict[str, int | None]:
        """The fields whose refused text may be kept as written, each with the most
        characters its column holds (None: no limit)."""
        return keepable(Opportunity, self.keep_fields)

    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            "name": partial(v.required_text, max_len=300),
            "type": partial(v.one_of, choices=OPPORTUNITY_TYPES),
            "company_id": record_ref(s, Company, "company"),
            "contact_id": record_ref(s, Contact, "contact"),
            "owner_id": user_ref(s),
            "expected_revenue": _revenue,
            "currency": v.currency,
            "probability": _probability,
            "expected_close": v.date_value,
            "priority": partial(v.integer, minimum=0, maximum=3),
            "source": partial(v.optional_text, max_len=100),
            "campaign_id": lambda x: x if x is None else _campaign(s, x),
            "description": partial(v.optional_text, max_len=100_000, multiline=True),
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
            p = self.get_pipeline(s, pipeline)
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
            self.add_in_session(s, opp)
            return self._as_dict(opp)

    def write_fields(
        self,
        s: Session,
        opp: Opportunity,
        values: Mapping[str, Any],
        errors: list[FieldError],
        creating: bool,
        keep_invalid: bool = False,
        rounded: bool = False,
    ) -> None:
        """Validate ``values`` and set them on ``opp`` in the caller's session.

        Refusals are appended to ``errors`` (the valid fields are set all the same);
        stage, status, active and lost reason are refused here: they change through
        move, win, lose and archive. ``keep_invalid`` keeps a name, source or
        description from an ERP or a file as written when a person could not have
        typed it (too long, control characters), marked in ``opp.unvalidated`` as
        ``Contacts.write_fields`` does. The expected revenue keeps its currency's minor
        units: an amount with more decimals is refused, or with ``rounded`` (amounts an
        ERP sent) rounded to them (:func:`crm_core.validation.currency_amount`).

        The own-records rule holds here too, since callers with their own session
        (the ERP sync, imports) write through it: a sales user may change only their
        own deal, and may not give it (or create it for) someone else
        (:class:`~crm_core.errors.AccessDenied`).
        """
        if not creating:
            check_deal(self.ws, opp, "change")
        if not isinstance(values, Mapping):
            record = label("opportunity", None if creating else opp)
            errors.append(
                FieldError(record, "values", values, "must be a mapping of field to value")
            )
            return
        values = dict(values)
        for alias in ("company", "contact", "owner", "campaign"):
            if alias in values:
                values[f"{alias}_id"] = values.pop(alias)
        # A deal is named as it is stored; a new one by the name it is given.
        name = values.get("name") if creating else opp.name
        record = label(
            "opportunity", None if creating else opp, name if isinstance(name, str) else None
        )
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
        keep = self.keepable() if keep_invalid else None
        cleaned = apply_fields(opp, values, self._cleaners(s), record, errors, keep)
        if creating or {"expected_revenue", "currency"} & cleaned.keys():
            fit_amount(opp, "expected_revenue", opp.currency, record, errors, rounded=rounded)
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
        # Checked on the result: an owner given (or defaulted) must leave the deal theirs.
        check_deal(
            self.ws, opp, "create a deal owned by someone else:" if creating else "give away"
        )

    @retried_when_blind
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
            if changes is not None and not isinstance(changes, Mapping):
                reason = "must be a mapping of field to value"
                errors.append(FieldError(label("opportunity", opp), "changes", changes, reason))
                changes = None
            self.write_fields(s, opp, {**(changes or {}), **more}, errors, creating=False)
            raise_if(errors)
            s.flush()
            return self._as_dict(opp)

    @retried_when_blind
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
            if target.is_won:
                if self._closing(opp, "won", record):
                    self._move(s, opp, target)
                    self._close(opp, "won")
                s.flush()
                return self._as_dict(opp)
            self._move(s, opp, target)
            if opp.status != "open":
                self._reopen(opp)
            s.flush()
            return self._as_dict(opp)

    def add_in_session(self, s: Session, opp: Opportunity) -> None:
        """Insert a new deal in the caller's session with its first stage-history row
        (a sales user only one they own)."""
        check_deal(self.ws, opp, "create a deal owned by someone else:")
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
        """Move ``opp`` to ``target`` inside the caller's session, recording history
        (a sales user only their own deal)."""
        check_deal(self.ws, opp, "move")
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

    @staticmethod
    def _closing(opp: Opportunity, status: str, record: str) -> bool:
        """Whether ``opp`` is to be closed as ``status`` (won, lost) now: False when it
        already is, so a second win changes nothing (its closed_at stays); refused when
        it is closed the other way, since a won deal becomes lost (or a lost one won)
        only through :meth:`reopen`. Asked on the deal read in the write's own
        transaction, whose version guards the write: of two users closing one deal at
        once, one closes it and the other is told (see ``retried_when_blind``)."""
        if opp.status == status:
            return False
        if opp.status != "open":
            reason = f"is already {opp.status}: reopen it first"
            raise ValidationError([FieldError(record, "status", opp.status, reason)])
        return True

    def _close(self, opp: Opportunity, status: str) -> None:
        opp.status = status
        opp.closed_at = self.ws.clock()
        opp.probability = HUNDRED if status == "won" else Decimal(0)

    def _reopen(self, opp: Opportunity) -> None:
        opp.status = "open"
        opp.closed_at = None
        opp.lost_reason_id = None
        opp.lost_note = None

    @retried_when_blind
    def win(self, opportunity_id: int, *, expected_version: int | None = None) -> dict[str, Any]:
        """Mark a deal won: it moves to the pipeline's won stage. A deal already won is
        left as it is (its closed_at stays); a lost one is refused (reopen it first)."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "win")
            record = label("opportunity", opp)
            check_version(opp, record, expected_version)
            if not self._closing(opp, "won", record):
                return self._as_dict(opp)
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            self._move(s, opp, next(st for st in p.stages if st.is_won))
            opp.lost_reason_id = None
            self._close(opp, "won")
            s.flush()
            return self._as_dict(opp)

    @retried_when_blind
    def lose(
        self,
        opportunity_id: int,
        reason: str,
        *,
        note: str | None = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Mark a deal lost with a reason (a known lost reason, or a new one). A deal
        already lost keeps when it was lost and takes the new reason and note; a won
        one is refused (reopen it first)."""
        with self._tx() as s:
            opp = self._deal(s, opportunity_id, "lose")
            record = label("opportunity", opp)
            check_version(opp, record, expected_version)
            closing = self._closing(opp, "lost", record)
            errors: list[FieldError] = []
            reason_text = clean_note = None
            try:
                reason_text = v.required_text(reason, 200)
            except Reject as exc:
                errors.append(FieldError(record, "reason", reason, str(exc)))
            try:
                clean_note = v.optional_text(note, 10_000, multiline=True)
            except Reject as exc:
                errors.append(FieldError(record, "note", note, str(exc)))
            raise_if(errors)
            assert reason_text is not None
            opp.lost_reason_id = self._lost_reason(s, reason_text).id
            opp.lost_note = clean_note
            if closing:
                p = s.get(Pipeline, opp.pipeline_id)
                assert p is not None
                lost_stage = next((st for st in p.stages if st.is_lost), None)
                if lost_stage is not None:
                    self._move(s, opp, lost_stage)
                self._close(opp, "lost")
            s.flush()
            return self._as_dict(opp)

    def _lost_reason(self, s: Session, reason_text: str) -> LostReason:
        """The lost reason named ``reason_text`` (any case), made when there is none."""
        found = s.scalars(select(LostReason)).all()
        lost_reason = next((r for r in found if fold(r.name) == fold(reason_text)), None)
        if lost_reason is None:
            # Two users losing deals for the same new reason at once share one row.
            lost_reason, _ = insert_unique(
                s, LostReason, "name", {"name": reason_text, "active": True}
            )
        return lost_reason

    def _close_in_session(
        self,
        s: Session,
        opp: Opportunity,
        status: str,
        closed_at: dt.datetime,
        reason: str | None = None,
    ) -> None:
        """Close ``opp`` as ``status`` (won, lost) inside the caller's session, as
        :meth:`win` and :meth:`lose` do (the won or lost stage, its history, status,
        probability, lost reason; journaled), on ``closed_at`` (an aware instant, when
        it was closed: an import bringing a business's closed deals). A deal already
        closed that way takes the new instant and reason; one closed the other way is
        refused (reopen it first); a sales user may close only their own deal. For the
        file import (crm_core.imports.records), which writes in its own session."""
        assert status in ("won", "lost"), status
        check_deal(self.ws, opp, "win" if status == "won" else "lose")
        record = label("opportunity", opp)
        closing = self._closing(opp, status, record)
        if status == "lost":
            try:
                opp.lost_reason_id = self._lost_reason(s, v.required_text(reason, 200)).id
            except Reject as exc:
                raise ValidationError([FieldError(record, "reason", reason, str(exc))]) from None
        else:
            opp.lost_reason_id = None
        if closing:
            p = s.get(Pipeline, opp.pipeline_id)
            assert p is not None
            wanted = next(
                (st for st in p.stages if (st.is_won if status == "won" else st.is_lost)), None
            )
            if wanted is not None:
                self._move(s, opp, wanted)
            self._close(opp, status)
        opp.closed_at = closed_at
        s.flush()

    @retried_when_blind
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

    @retried_when_blind
    def archive(
        self, opportunity_id: int, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Hide a deal from the pipeline without deleting it."""
        return self._set_active(opportunity_id, False, expected_version)

    @retried_when_blind
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
        by_stage: bool = False,
    ) -> list[Any]:
        """WHERE clauses for the deal filters; every bad filter value is reported.

        ``by_stage``: name the pipeline by its stages (``stage_id IN ...``), not by
        ``pipeline_id``: the same deals, and the index ``ix_opportunities_by_stage``
        then covers a per-stage aggregate.
        """
        o = Opportunity
        record = "opportunity search"
        errors: list[FieldError] = []
        for name, given in (("q", q), ("tag", tag)):
            try:
                v.query_text(given)
            except Reject as exc:
                errors.append(FieldError(record, name, given, str(exc)))
        if status is not None and (not isinstance(status, str) or status not in SEARCH_STATUSES):
            reason = f"must be one of {', '.join(SEARCH_STATUSES)}"
            errors.append(FieldError(record, "status", status, reason))
            status = None
        if type not in (None, "") and (not isinstance(type, str) or type not in OPPORTUNITY_TYPES):
            reason = f"must be one of {', '.join(OPPORTUNITY_TYPES)}"
            errors.append(FieldError(record, "type", type, reason))
            type = None
        for name, ref in (("company_id", company_id), ("contact_id", contact_id)):
            if ref is not None:
                try:
                    id_filter(ref, f"a {name.removesuffix('_id')}")
                except Reject as exc:
                    errors.append(FieldError(record, name, ref, str(exc)))
        raise_if(errors)
        p = self.get_pipeline(s, pipeline)
        # A sales user's searches, counts and segments cover only their own deals.
        in_pipeline = (
            o.stage_id.in_(select(Stage.id).where(Stage.pipeline_id == p.id))
            if by_stage
            else o.pipeline_id == p.id
        )
        clauses: list[Any] = [in_pipeline, *deal_clauses(self.ws, o)]
        if not include_archived:
            clauses.append(o.active.is_(True))
        if stage is not None:
            try:
                clauses.append(o.stage_id == self._stage(s, p, stage).id)
            except Reject as exc:
                errors.append(FieldError(record, "stage", stage, str(exc)))
        if status == "closed":
            clauses.append(o.status.in_(("won", "lost")))
        elif status is not None:
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

    def _checked_clauses(
        self, s: Session, q: str | None, filters: dict[str, Any], by_stage: bool = False
    ) -> list[Any]:
        unknown = sorted(set(filters) - set(DEAL_FILTERS))
        if unknown:
            raise ValidationError(
                [
                    FieldError("opportunity search", name, filters[name], "is not a search filter")
                    for name in unknown
                ]
            )
        return self._clauses(s, q, **filters, by_stage=by_stage)

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
        status (open|won|lost, or closed: won or lost), owner, tag, type, company_id,
        contact_id, close_from/close_to (expected close date range), include_archived,
        pipeline. ``order_by``: expected_close, name, revenue, created, id, or closed
        (most recently closed first).
        """
        o = Opportunity
        orders = {
            "expected_close": o.expected_close,
            "name": o.sort_key,  # alphabetical in every script (crm_core.collation)
            "revenue": o.expected_revenue,
            "created": o.created_at,
            "id": o.id,
            "closed": o.closed_at.desc(),
        }
        _check_page(order_by, orders, limit, offset)
        with self._tx() as s:
            # The page's ids first, then their names: SQLite would otherwise join the
            # company, contact and owner of every matching deal before sorting.
            page = (
                select(o.id)
                .where(*self._checked_clauses(s, q, filters))
                .order_by(orders[order_by], o.id)
                .limit(limit)
                .offset(offset)
            )
            query = self._listing().where(o.id.in_(page)).order_by(orders[order_by], o.id)
            rows = [dict(r) for r in s.execute(query).mappings()]
        return pd.DataFrame(rows, columns=OPP_COLUMNS)

    def matching(self, s: Session, q: str | None = None, **filters: Any) -> Select[Any]:
        """The ids of the deals :meth:`search` would find with the same filters (a
        segment's, say), as a query for the caller's session ``s``: its
        ``whereclause`` restricts another query of this table to them (how a workbook
        exports a segment). Filters are checked as search checks them."""
        return select(Opportunity.id).where(*self._checked_clauses(s, q, dict(filters)))

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
        self,
        pipeline: int | str | None = None,
        *,
        owner: Any = None,
        include_closed: bool = True,
        reporting: str | None = None,
    ) -> pd.DataFrame:
        """Pipeline by stage, aggregated in SQL: one row per stage and currency.

        Columns: stage_id, stage, sequence, currency, count, value (sum of expected
        revenue) and weighted (sum of revenue x probability / 100), from
        :func:`crm_core.services.figures.weighted_pipeline`. Stages without deals
        appear once, with currency None and zeros. With ``reporting`` (a currency
        code), also value_converted and weighted_converted as :meth:`stage_totals`
        gives them, and ``attrs["missing_rates"]``.
        """
        o = Opportunity
        with self._tx() as s:
            p = self.get_pipeline(s, pipeline)
            where: list[Any] = [o.pipeline_id == p.id, o.active.is_(True)]
            if owner is not None:
                try:
                    where.append(o.owner_id == user_ref(s)(owner))
                except Reject as exc:
                    raise ValidationError(
                        [FieldError("pipeline by stage", "owner", owner, str(exc))]
                    ) from None
            where += deal_clauses(self.ws, o)
            if not include_closed:
                where.append(o.status == "open")
            rates = Rates.load(s, reporting) if reporting is not None else None
            totals = weighted_pipeline(s, where, rates=rates, today=self.ws.today())
            stages = [(st.id, st.name, st.sequence) for st in p.stages]
        found: dict[int, list[dict[str, Any]]] = {}
        for row in totals.to_dict("records"):
            found.setdefault(int(row["stage_id"]), []).append(row)
        zero = Decimal("0.00")
        empty = [
            {"currency": None, "count": 0, "value": zero, "weighted": zero}
            | ({"value_converted": zero, "weighted_converted": zero} if rates else {})
        ]
        rows = [
            {"stage_id": stage_id, "stage": name, "sequence": sequence, **figures}
            for stage_id, name, sequence in sorted(stages, key=lambda st: (st[2], st[0]))
            for figures in found.get(stage_id, empty)
        ]
        columns = ["stage_id", "stage", "sequence", "currency", "count", "value", "weighted"]
        if rates is None:
            return pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=columns)
        columns += ["value_converted", "weighted_converted"]
        frame = pd.DataFrame([{c: r[c] for c in columns} for r in rows], columns=columns)
        for name in columns[-2:]:
            frame[name] = frame[name].astype(object)
        frame.attrs["reporting_currency"] = rates.reporting
        frame.attrs["missing_rates"] = rates.missing_text()
        return frame

    def stage_totals(
        self, q: str | None = None, *, reporting: str | None = None, **filters: Any
    ) -> pd.DataFrame:
        """Count, value and weighted value of the deals :meth:`search` would find with the
        same filters, aggregated in SQL: one row per stage and currency that has deals
        (:func:`crm_core.services.figures.weighted_pipeline`).

        Columns: stage_id, currency, count, value, weighted (Decimals to the cent). With
        ``reporting`` (a currency code), also ``value_converted`` and
        ``weighted_converted`` in that currency (each deal on its expected close date,
        today without one; None where a rate is missing) and ``attrs["missing_rates"]``
        (:meth:`crm_core.money.Rates.missing_text`, '' when none is).
        """
        with self._tx() as s:
            clauses = self._checked_clauses(s, q, filters, by_stage=True)
            if reporting is None:
                return weighted_pipeline(s, clauses)
            rates = Rates.load(s, reporting)
            frame = weighted_pipeline(s, clauses, rates=rates, today=self.ws.today())
        frame.attrs["reporting_currency"] = rates.reporting
        frame.attrs["missing_rates"] = rates.missing_text()
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


def _askable(value: str) -> bool:
    """Whether a database can be asked about ``value`` (no NUL, no lone surrogate)."""
    try:
        v.query_text(value)
    except Reject:
        return False
    return True


def _revenue(value: Any) -> Decimal:
    """Expected revenue: a non-negative amount of money (empty is 0.00); put in its
    currency's minor units by ``write_fields``."""
    amount = v.money(value)
    return Decimal("0.00") if amount is None else amount


def _probability(value: Any) -> Decimal:
    """A deal's probability: a percentage 0..100 with at most 2 places. Required: a
    deal always has one (it starts as its stage's)."""
    number = v.decimal_value(value, 2, Decimal(0), HUNDRED)
    if number is None:
        raise Reject("is required: a percentage from 0 to 100", keep=False)
    return number


def _campaign(s: Session, value: Any) -> int:
    from crm_core.models import Campaign

    if not v.is_id(value) or s.get(Campaign, value) is None:
        raise Reject("is not the id of an existing campaign")
    return int(value)


def _stages(
    record: str, stages: Any, errors: list[FieldError]
) -> list[tuple[str, Decimal, bool, bool]]:
    """The stages of a new pipeline, checked: ``(name, probability, is_won, is_lost)``
    each, distinct names, exactly one won stage and at most one lost stage."""
    out: list[tuple[str, Decimal, bool, bool]] = []
    shape = "must be a list of (name, probability, is_won, is_lost)"
    if not isinstance(stages, list | tuple) or not stages:
        errors.append(FieldError(record, "stages", stages, shape))
        return out
    seen: set[str] = set()
    for stage in stages:
        if not isinstance(stage, list | tuple) or len(stage) != 4:
            errors.append(FieldError(record, "stages", stage, shape))
            continue
        field = f"stage {stage[0]!r}"
        try:
            name = v.required_text(stage[0], 200)
            probability = v.decimal_value(stage[1], 2, Decimal(0), HUNDRED)
            if probability is None:
                raise Reject("probability must be 0..100")
            won, lost = v.boolean(stage[2]), v.boolean(stage[3])
        except Reject as exc:
            reason = str(exc)
            if "at least" in reason or "at most" in reason:
                reason = "probability must be 0..100"
            errors.append(FieldError(record, field, stage, reason))
            continue
        if fold(name) in seen:
            errors.append(FieldError(record, field, stage, "is given twice"))
        if won and lost:
            errors.append(FieldError(record, field, stage, "cannot be both won and lost"))
        seen.add(fold(name))
        out.append((name, probability, won, lost))
    if len(out) == len(stages) and (
        sum(1 for s in out if s[2]) != 1 or sum(1 for s in out if s[3]) > 1
    ):
        errors.append(
            FieldError(
                record, "stages", stages, "need exactly one won stage and at most one lost stage"
            )
        )
    return out


def _check_page(order_by: Any, orders: Mapping[str, Any], limit: Any, offset: Any) -> None:
    """Refuse a sort key that is not one of ``orders`` and a page out of bounds."""
    record = "opportunity search"
    errors = []
    if not isinstance(order_by, str) or order_by not in orders:
        reason = f"must be one of {', '.join(orders)}"
        errors.append(FieldError(record, "order_by", order_by, reason))
    if not (type(limit) is int and 0 < limit <= v.MAX_ID):
        errors.append(FieldError(record, "limit", limit, "must be a whole number from 1"))
    if not (type(offset) is int and 0 <= offset <= v.MAX_ID):
        errors.append(FieldError(record, "offset", offset, "must be a whole number from 0"))
    raise_if(errors)
