"""Activities (to-dos, calls, meetings, e-mails to send) and interactions (history)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import partial
from typing import Any, ClassVar

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from crm_core import validation as v
from crm_core.access import (
    activity_clauses,
    check_activity,
    check_activity_written,
    check_interaction_written,
    interaction_clauses,
    own_only,
)
from crm_core.errors import AccessDenied, FieldError, ValidationError
from crm_core.models import (
    ACTIVITY_KINDS,
    CHANNELS,
    DIRECTIONS,
    Activity,
    Company,
    Contact,
    Interaction,
    Opportunity,
    User,
)
from crm_core.services.base import (
    Cleaner,
    Service,
    apply_fields,
    check_version,
    get_or_404,
    id_filter,
    keepable,
    raise_if,
    record_ref,
    retried_when_blind,
    user_ref,
)
from crm_core.validation import Reject

LINKS = ("contact_id", "company_id", "opportunity_id")
ACTIVITY_COLUMNS = [
    "id",
    "kind",
    "subject",
    "due_date",
    "assignee",
    "done_at",
    "contact_id",
    "contact",
    "company_id",
    "company",
    "opportunity_id",
    "opportunity",
    "note",
    "version",
]


def _links(s: Session) -> dict[str, Cleaner]:
    return {
        "contact_id": record_ref(s, Contact, "contact"),
        "company_id": record_ref(s, Company, "company"),
        "opportunity_id": record_ref(s, Opportunity, "opportunity"),
    }


def _aliases(values: dict[str, Any]) -> dict[str, Any]:
    for alias in ("contact", "company", "opportunity", "assignee", "user"):
        if alias in values and f"{alias}_id" not in values:
            values[f"{alias}_id"] = values.pop(alias)
    return values


class Activities(Service):
    """Planned work for staff: ``ws.activities``."""

    entity = "activity"

    def schedule(self, kind: str, subject: str, due: Any, **values: Any) -> dict[str, Any]:
        """Plan an activity (call, meeting, email, todo) due on a date.

        Link it to at least one of contact, company, opportunity; ``assignee`` is a
        user id or login (default: the acting user). A sales user schedules only on
        their own deals, and for a colleague only what that colleague may see
        (crm_core.access).
        """
        with self._tx() as s:
            return _as_dict(self._schedule_in(s, kind, subject, due, values))

    def _schedule_in(
        self, s: Session, kind: str, subject: str, due: Any, values: dict[str, Any]
    ) -> Activity:
        act = self.prepare(s, kind, subject, due, values)
        s.add(act)
        s.flush()
        return act

    def prepare(
        self,
        s: Session,
        kind: str,
        subject: str,
        due: Any,
        values: dict[str, Any],
        keep_invalid: bool = False,
    ) -> Activity:
        """A new activity, validated like :meth:`schedule` in the caller's session but
        not added to it: for callers that first look for an equal one (an import).
        Raises :class:`ValidationError` naming every refused field."""
        values = _aliases({"kind": kind, "subject": subject, "due_date": due, **values})
        values.setdefault("assignee_id", self.ws.user_id)
        record = f"activity (new) {subject!r}"
        act = Activity()
        errors: list[FieldError] = []
        self.write_fields(s, act, values, record, errors, keep_invalid)
        if not any(getattr(act, link) for link in LINKS):
            errors.append(
                FieldError(
                    record,
                    "contact/company/opportunity",
                    None,
                    "link the activity to at least one record",
                )
            )
        raise_if(errors)
        return act

    def _activity(self, s: Session, activity_id: Any, action: str) -> Activity:
        """The activity, if the acting user may ``action`` it (crm_core.access)."""
        act: Activity = get_or_404(s, Activity, activity_id, "activity")
        check_activity(self.ws, s, act, action)
        return act

    #: Text fields whose value from an ERP is kept as written when refused.
    keep_fields: ClassVar[tuple[str, ...]] = ("subject", "note")

    def _cleaners(self, s: Session) -> dict[str, Cleaner]:
        return {
            "kind": partial(v.one_of, choices=ACTIVITY_KINDS),
            "subject": partial(v.required_text, max_len=300),
            "due_date": _required_date,
            "assignee_id": user_ref(s),
            "note": partial(v.optional_text, max_len=100_000, multiline=True),
            **_links(s),
        }

    def keepable(self) -> dict[str, int | None]:
        """The fields whose refused text may be kept as written, each with the most
        characters its column holds (None: no limit)."""
        return keepable(Activity, self.keep_fields)

    def write_fields(
        self,
        s: Session,
        act: Activity,
        values: Mapping[str, Any],
        record: str,
        errors: list[FieldError],
        keep_invalid: bool = False,
    ) -> None:
        """Validate ``values`` and set them on ``act`` in the caller's session.

        Refusals are appended to ``errors`` (the valid fields are set all the same).
        ``contact``, ``company``, ``opportunity`` and ``assignee`` stand for their
        ``_id`` fields. ``keep_invalid`` keeps a subject or note from an ERP as written
        when a person could not have typed it, marked in ``act.unvalidated``.

        The own-records rule holds here too, since callers with their own session
        (the ERP sync) write through it: a sales user may change only an activity
        they may see, link it only to their own deals and give it only to someone
        who may see its deal (:class:`~crm_core.errors.AccessDenied`).
        """
        if act.id is not None:
            check_activity(self.ws, s, act, "change")
        if not isinstance(values, Mapping):
            errors.append(FieldError(record, "values", values, "must be a mapping"))
            return
        keep = self.keepable() if keep_invalid else None
        apply_fields(act, _aliases(dict(values)), self._cleaners(s), record, errors, keep)
        check_activity_written(self.ws, s, act)

    @retried_when_blind
    def update(
        self, activity_id: int, *, expected_version: int | None = None, **changes: Any
    ) -> dict[str, Any]:
        """Change an activity's fields (subject, kind, due_date, note, assignee, links)."""
        with self._tx() as s:
            act = self._activity(s, activity_id, "change")
            record = f"activity #{act.id} {act.subject!r}"
            check_version(act, record, expected_version)
            errors: list[FieldError] = []
            self.write_fields(s, act, changes, record, errors)
            raise_if(errors)
            s.flush()
            return _as_dict(act)

    @retried_when_blind
    def complete(
        self,
        activity_id: int,
        *,
        note: str | None = None,
        at: Any = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Mark an activity done (now, or at ``at``), optionally adding a note."""
        with self._tx() as s:
            return _as_dict(self._complete_in(s, activity_id, note, at, expected_version))

    @retried_when_blind
    def complete_and_schedule(
        self,
        activity_id: int,
        kind: str,
        subject: str,
        due: Any,
        *,
        note: str | None = None,
        expected_version: int | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """Mark an activity done and plan the next step, in one go: both are written
        or, if either is refused, neither. The next activity (``kind``, ``subject``,
        ``due``, and any field :meth:`schedule` takes) is linked to the same contact,
        company and deal as the one done unless given. Returns ``{"done": ...,
        "next": ...}``."""
        with self._tx() as s:
            done = self._complete_in(s, activity_id, note, None, expected_version)
            for link in LINKS:
                given = {link, link.removesuffix("_id")} & set(values)
                if not given and getattr(done, link) is not None:
                    values[link] = getattr(done, link)
            follow = self._schedule_in(s, kind, subject, due, values)
            return {"done": _as_dict(done), "next": _as_dict(follow)}

    def _complete_in(
        self, s: Session, activity_id: int, note: Any, at: Any, expected_version: int | None
    ) -> Activity:
        act = self._activity(s, activity_id, "complete")
        record = f"activity #{act.id} {act.subject!r}"
        check_version(act, record, expected_version)
        if act.done_at is not None:
            raise ValidationError([FieldError(record, "done_at", act.done_at, "is already done")])
        errors: list[FieldError] = []
        try:
            act.done_at = v.aware_datetime(at) or self.ws.clock()
        except Reject as exc:
            errors.append(FieldError(record, "at", at, str(exc)))
        try:
            extra = v.optional_text(note, 100_000, multiline=True)
        except Reject as exc:
            errors.append(FieldError(record, "note", note, str(exc)))
        else:
            if extra:
                act.note = f"{act.note}\n{extra}" if act.note else extra
        raise_if(errors)
        s.flush()
        return act

    @retried_when_blind
    def snooze(
        self,
        activity_id: int,
        *,
        days: int | None = None,
        until: Any = None,
        expected_version: int | None = None,
    ) -> dict[str, Any]:
        """Push an open activity's due date: by ``days`` from today, or to ``until``."""
        with self._tx() as s:
            act = self._activity(s, activity_id, "snooze")
            record = f"activity #{act.id} {act.subject!r}"
            check_version(act, record, expected_version)
            errors: list[FieldError] = []
            if act.done_at is not None:
                errors.append(FieldError(record, "done_at", act.done_at, "is done; cannot snooze"))
            if (days is None) == (until is None):
                errors.append(FieldError(record, "days/until", (days, until), "give exactly one"))
            raise_if(errors)
            try:
                if days is not None:
                    new_due = self.ws.today() + dt.timedelta(days=v.integer(days, 1, 3650))
                else:
                    new_due = _required_date(until)
                    if new_due < self.ws.today():
                        raise Reject("is in the past")
            except Reject as exc:
                raise ValidationError(
                    [
                        FieldError(
                            record,
                            "days" if days is not None else "until",
                            days if days is not None else until,
                            str(exc),
                        )
                    ]
                ) from None
            act.due_date = new_due
            s.flush()
            return _as_dict(act)

    def reassign(
        self, activity_id: int, user: Any, *, expected_version: int | None = None
    ) -> dict[str, Any]:
        """Give an activity to another user. A sales user gives only an activity they may
        see, and one on their deal only to someone who may see that deal (a manager or
        an admin): another rep would never find it (crm_core.access)."""
        return self.update(activity_id, assignee_id=user, expected_version=expected_version)

    def get(self, activity_id: int) -> dict[str, Any]:
        """One activity as a dict."""
        with self._tx() as s:
            return _as_dict(self._activity(s, activity_id, "see"))

    # -- queries --------------------------------------------------------------------
    def _open(self, s: Session, user: Any) -> Select[Any]:
        return self._visible(s, user, _listing().where(Activity.done_at.is_(None)))

    def _visible(self, s: Session, user: Any, query: Select[Any]) -> Select[Any]:
        """``query`` narrowed to ``user``'s activities, and to those the acting user may
        see when their role sees only their own (crm_core.access)."""
        mine = own_only(self.ws)
        if user is not None:
            try:
                wanted = user_ref(s)(user)
            except Reject as exc:
                raise ValidationError(
                    [FieldError("activity list", "user", user, str(exc))]
                ) from None
            if mine is not None and wanted != mine:
                raise AccessDenied(
                    self.ws.login, self.ws.role, "list the activities of", f"user {user!r}"
                )
            query = query.where(Activity.assignee_id == wanted)
        return query.where(*activity_clauses(self.ws))

    def overdue(self, user: Any = None) -> pd.DataFrame:
        """Open activities due before today (workspace time zone), oldest first."""
        return self._query(user, lambda q, today: q.where(Activity.due_date < today))

    def due_today(self, user: Any = None) -> pd.DataFrame:
        """Open activities due today."""
        return self._query(user, lambda q, today: q.where(Activity.due_date == today))

    def upcoming(self, user: Any = None, days: int = 7) -> pd.DataFrame:
        """Open activities due after today, within ``days`` (0..3650)."""
        try:
            days = v.integer(days, 0, 3650)
        except Reject as exc:
            raise ValidationError([FieldError("activity list", "days", days, str(exc))]) from None
        return self._query(
            user,
            lambda q, today: q.where(
                Activity.due_date > today, Activity.due_date <= today + dt.timedelta(days=days)
            ),
        )

    def for_record(
        self,
        *,
        contact_id: int | None = None,
        company_id: int | None = None,
        opportunity_id: int | None = None,
        include_done: bool = False,
    ) -> pd.DataFrame:
        """Activities linked to one record."""
        _check_links("activity list", contact_id, company_id, opportunity_id)

        def where(q: Select[Any], _today: dt.date) -> Select[Any]:
            for col, val in (
                (Activity.contact_id, contact_id),
                (Activity.company_id, company_id),
                (Activity.opportunity_id, opportunity_id),
            ):
                if val is not None:
                    q = q.where(col == val)
            return q

        return self._query(None, where, include_done=include_done)

    def _query(self, user: Any, refine: Any, include_done: bool = False) -> pd.DataFrame:
        today = self.ws.today()
        with self._tx() as s:
            query = self._open(s, user) if not include_done else self._visible(s, user, _listing())
            query = refine(query, today).order_by(Activity.due_date, Activity.id)
            rows = [dict(r) for r in s.execute(query).mappings()]
        return pd.DataFrame(rows, columns=ACTIVITY_COLUMNS)


def _check_links(record: str, contact: Any, company: Any, opportunity: Any) -> None:
    """Refuse a record filter that cannot be a record's id."""
    errors = []
    given_ids = {"contact_id": contact, "company_id": company, "opportunity_id": opportunity}
    for name, given in given_ids.items():
        if given is not None:
            try:
                id_filter(given, f"a {name.removesuffix('_id')}")
            except Reject as exc:
                errors.append(FieldError(record, name, given, str(exc)))
    raise_if(errors)


def _required_date(value: Any) -> dt.date:
    day = v.date_value(value)
    if day is None:
        raise Reject("is required", keep=False)
    return day


def _listing() -> Any:
    a = Activity
    return (
        select(
            a.id,
            a.kind,
            a.subject,
            a.due_date,
            User.name.label("assignee"),
            a.done_at,
            a.contact_id,
            Contact.name.label("contact"),
            a.company_id,
            Company.name.label("company"),
            a.opportunity_id,
            Opportunity.name.label("opportunity"),
            a.note,
            a.version,
        )
        .outerjoin(User, User.id == a.assignee_id)
        .outerjoin(Contact, Contact.id == a.contact_id)
        .outerjoin(Company, Company.id == a.company_id)
        .outerjoin(Opportunity, Opportunity.id == a.opportunity_id)
    )


def _as_dict(obj: Any) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs}


class Interactions(Service):
    """What happened with customers: ``ws.interactions``."""

    entity = "interaction"

    def log(self, channel: str, direction: str, *, at: Any = None, **values: Any) -> dict[str, Any]:
        """Record an e-mail, call, meeting, message or note, in or out.

        ``at`` is when it happened (aware datetime; default now); link it to a
        contact, company and/or opportunity; ``subject`` and ``summary`` are text.
        ``user`` (id or login; default: the acting user) is who had it. A sales user
        logs on their own deals only (an interaction follows its deal) and in their
        own name only (crm_core.access).
        """
        with self._tx() as s:
            return _as_dict(self._log_in(s, channel, direction, at, values))

    def log_and_schedule(
        self,
        channel: str,
        direction: str,
        kind: str,
        next_subject: str,
        due: Any,
        *,
        at: Any = None,
        assignee: Any = None,
        note: str | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """Log an interaction and plan the next step on the same records, in one go:
        both are written or, if either is refused, neither. ``kind``, ``next_subject``,
        ``due``, ``assignee`` and ``note`` are the next activity's; the rest is the
        interaction's, as :meth:`log` takes it. Returns ``{"logged": ..., "next": ...}``."""
        with self._tx() as s:
            logged = self._log_in(s, channel, direction, at, dict(values))
            plan: dict[str, Any] = {
                link: getattr(logged, link) for link in LINKS if getattr(logged, link) is not None
            }
            if assignee is not None:
                plan["assignee"] = assignee
            if note is not None:
                plan["note"] = note
            follow = self.ws.activities._schedule_in(s, kind, next_subject, due, plan)
            return {"logged": _as_dict(logged), "next": _as_dict(follow)}

    def _log_in(
        self, s: Session, channel: str, direction: str, at: Any, values: dict[str, Any]
    ) -> Interaction:
        obj = self.prepare(s, channel, direction, at, values)
        s.add(obj)
        s.flush()
        return obj

    def prepare(
        self, s: Session, channel: str, direction: str, at: Any, values: dict[str, Any]
    ) -> Interaction:
        """A new interaction, validated like :meth:`log` in the caller's session but not
        added to it: for callers that first look for an equal one (an import). Raises
        :class:`ValidationError` naming every refused field."""
        values = _aliases({"channel": channel, "direction": direction, **values})
        values.setdefault("user_id", self.ws.user_id)
        subject = values.get("subject")
        record = "interaction (new)" + (f" {subject!r}" if isinstance(subject, str) else "")
        obj = Interaction()
        errors: list[FieldError] = []
        try:
            obj.occurred_at = v.aware_datetime(at) or self.ws.clock()
        except Reject as exc:
            errors.append(FieldError(record, "at", at, str(exc)))
        cleaners: dict[str, Cleaner] = {
            "channel": partial(v.one_of, choices=CHANNELS),
            "direction": partial(v.one_of, choices=DIRECTIONS),
            "subject": partial(v.optional_text, max_len=300),
            "summary": partial(v.optional_text, max_len=100_000, multiline=True),
            "user_id": user_ref(s),
            **_links(s),
        }
        apply_fields(obj, values, cleaners, record, errors)
        check_interaction_written(self.ws, s, obj)
        if not any(getattr(obj, link) for link in LINKS):
            errors.append(
                FieldError(
                    record,
                    "contact/company/opportunity",
                    None,
                    "link the interaction to at least one record",
                )
            )
        raise_if(errors)
        return obj

    def timeline(
        self,
        *,
        contact_id: int | None = None,
        company_id: int | None = None,
        opportunity_id: int | None = None,
        limit: int = 200,
    ) -> pd.DataFrame:
        """Interactions of a record, newest first. A company's timeline includes its
        contacts' interactions. A sales user's timelines leave out the interactions
        linked to other reps' deals (crm_core.access): the timeline of such a deal is
        empty."""
        _check_links("timeline", contact_id, company_id, opportunity_id)
        if not (type(limit) is int and 0 < limit <= 10_000):
            raise ValidationError(
                [FieldError("timeline", "limit", limit, "must be a whole number 1..10000")]
            )
        i = Interaction
        query = (
            select(
                i.id,
                i.occurred_at,
                i.channel,
                i.direction,
                i.subject,
                i.summary,
                User.name.label("user"),
                Contact.name.label("contact"),
                i.opportunity_id,
            )
            .outerjoin(User, User.id == i.user_id)
            .outerjoin(Contact, Contact.id == i.contact_id)
        )
        if contact_id is not None:
            query = query.where(i.contact_id == contact_id)
        if company_id is not None:
            people = select(Contact.id).where(Contact.company_id == company_id)
            query = query.where((i.company_id == company_id) | i.contact_id.in_(people))
        if opportunity_id is not None:
            query = query.where(i.opportunity_id == opportunity_id)
        query = query.where(*interaction_clauses(self.ws, i))
        with self._tx() as s:
            rows = s.execute(query.order_by(i.occurred_at.desc(), i.id.desc()).limit(limit))
            frame = pd.DataFrame(
                [dict(r) for r in rows.mappings()],
                columns=[
                    "id",
                    "occurred_at",
                    "channel",
                    "direction",
                    "subject",
                    "summary",
                    "user",
                    "contact",
                    "opportunity_id",
                ],
            )
        return frame
