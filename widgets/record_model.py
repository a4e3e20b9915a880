"""One record's page, as state and actions: a contact, a company or a deal.

:class:`RecordModel` reads everything a record page shows (its fields, custom fields
included, the interaction timeline, open and done activities, deals, ERP invoices and
balance, the stage history of a deal, the journal of the record for those who may see
it) and carries out what a salesperson does from it: edit the fields, log a call,
meeting, e-mail or note, schedule the follow-up, open a deal, write an e-mail or reply
to one on the timeline, and for a deal move, win, lose and reopen it. Tested without
a browser; :mod:`widgets.record_page` draws it.

Edits send only the fields the user changed, with the version of the record that was
shown: a value the ERP holds that a keyboard could not have typed stays as it is
unless the user changes it, and an edit of a record someone else changed meanwhile is
refused and reported, never silently applied.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import param

from crm_core import AccessDenied, NotFoundError, Workspace
from widgets import i18n
from widgets.base import ViewModel
from widgets.compose_model import ComposeModel
from widgets.i18n import N_, _, ngettext
from widgets.reasons import field_label, refused

#: The labels of the small forms under a record's fields, by the names crm_core gives
#: their fields: a refusal is named (and shown under its input) by these.
FORM_LABELS: dict[str, dict[str, str]] = {
    "deal": {
        "name": N_("Deal name"),
        "expected_revenue": N_("Amount"),
        "currency": N_("Currency"),
        "expected_close": N_("Close date"),
    },
    "log": {
        "subject": N_("Subject"),
        "summary": N_("What was said"),
        "due_date": N_("Due"),
    },
    "plan": {
        "subject": N_("Next step"),
        "due_date": N_("Due"),
        "note": N_("Note"),
    },
}

#: Record kinds, and the journal's name for their table.
KINDS = ("contact", "company", "deal")
TABLES = {"contact": "contacts", "company": "companies", "deal": "opportunities"}
#: How many rows of a record's timeline, deals and invoices a page shows.
DETAIL_LIMIT = 50
#: The fields a record page edits, per kind, in the order shown: (field, label, type).
#: Types: text, multiline, email, phone, date, money, percent, currency, tags, company,
#: owner (custom fields add theirs: number, bool, choice).
FIELDS: dict[str, list[tuple[str, str, str]]] = {
    "contact": [
        ("name", N_("Name"), "text"),
        ("company", N_("Company (name or id)"), "company"),
        ("job_title", N_("Job title"), "text"),
        ("email", N_("E-mail"), "email"),
        ("phone", N_("Phone"), "phone"),
        ("mobile", N_("Mobile"), "phone"),
        ("city", N_("City"), "text"),
        ("country", N_("Country"), "text"),
        ("tags", N_("Tags"), "tags"),
        ("notes", N_("Notes"), "multiline"),
    ],
    "company": [
        ("name", N_("Name"), "text"),
        ("email", N_("E-mail"), "email"),
        ("phone", N_("Phone"), "phone"),
        ("website", N_("Website"), "text"),
        ("vat", N_("VAT"), "text"),
        ("city", N_("City"), "text"),
        ("country", N_("Country"), "text"),
        ("tags", N_("Tags"), "tags"),
        ("notes", N_("Notes"), "multiline"),
    ],
    "deal": [
        ("name", N_("Deal"), "text"),
        ("expected_revenue", N_("Amount"), "money"),
        ("currency", N_("Currency"), "currency"),
        ("probability", N_("Probability %"), "percent"),
        ("expected_close", N_("Close date"), "date"),
        ("owner", N_("Owner"), "owner"),
        ("company", N_("Company (name or id)"), "company"),
        ("tags", N_("Tags"), "tags"),
        ("description", N_("Description"), "multiline"),
    ],
}


def blank(value: Any) -> Any:
    """A value as typed into an input: stripped text, empty (or NaN) as None."""
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def company_ref(ws: Workspace, value: Any) -> tuple[Any, str | None]:
    """The company given by id or exact name, as its id; or as given, with the reason
    it names no single company."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value, None
    text = str(value).strip()
    if text.isdigit():
        return int(text), None
    found = ws.companies.ids_named(text)
    if len(found) == 1:
        return int(found[0]), None
    if not found:
        return text, _("is not the name of a company")
    return text, ngettext(
        "names {n} company: give the id of the one you mean",
        "names {n} companies: give the id of the one you mean",
        len(found),
    ).format(n=len(found))


def journal_id(raw: Any) -> int | None:
    """A record id as the journal keeps it (JSON ``12``), or None."""
    if not isinstance(raw, (str, int)) or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    return int(text) if text.isdigit() else None


def shown(value: Any) -> str:
    """A stored value as an input shows it (Decimals plain, lists comma-joined)."""
    if value is None or (not isinstance(value, (str, list, dict)) and pd.isna(value)):
        return ""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value == value.to_integral() else str(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


class RecordModel(ViewModel):
    """The record a page shows and what can be done from it."""

    kind = param.Selector(default="contact", objects=list(KINDS), doc="What is shown.")
    record_id = param.Integer(default=None, allow_None=True, doc="The record shown.")
    detail = param.Dict(default={}, doc="What the page shows (empty: nothing open).")
    error_source = param.String(
        default="", doc="Which form the field errors belong to: edit, log, plan, deal, close."
    )
    compose = param.ClassSelector(
        class_=ComposeModel, doc="The e-mail being written to the contact shown."
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        if self.compose is None:
            self.compose = ComposeModel(ws)
        self.param.watch(lambda _e: self._write_to(), "detail")

    # -- writing e-mail -------------------------------------------------------------------
    @property
    def writable(self) -> bool:
        """Whether an e-mail can be written from the page: a contact with an address
        (whether the user may write to them is crm_core's to say, on sending)."""
        record = self.detail.get("record") or {}
        return self.kind == "contact" and bool(record.get("email"))

    def _write_to(self) -> None:
        """The e-mail form follows the record shown (a draft stays while the same
        contact is shown)."""
        record = self.detail.get("record") or {}
        if self.writable:
            self.compose.open(int(record["id"]), record["email"])
        else:
            self.compose.open(None)

    def reply_choices(self) -> dict[str, int]:
        """The e-mails on the shown contact's timeline, newest first, as their label
        (when, in or out, subject) -> interaction id: what "Reply" answers."""
        found = self.detail.get("timeline")
        if not self.writable or found is None or found.empty:
            return {}
        tz = ZoneInfo(self.detail.get("timezone") or "UTC")
        chosen: dict[str, int] = {}
        for row in found[found["channel"] == "email"].to_dict("records"):
            when = row["occurred_at"]
            if isinstance(when, pd.Timestamp):
                when = when.to_pydatetime()
            said = ""
            if isinstance(when, dt.datetime):
                local = (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).astimezone(tz)
                said = f"{i18n.format_date(local.date())} {local:%H:%M}"
            subject = row["subject"] if isinstance(row["subject"], str) else ""
            label = " · ".join((said, _(row["direction"]), subject))
            chosen[label if label not in chosen else f"{label} (#{row['id']})"] = int(row["id"])
        return chosen

    def reply(self, interaction_id: int | None) -> bool:
        """Answer the e-mail interaction ``interaction_id`` from the e-mail form: it
        fills with ``Re:`` and the subject and the contact's address, and the message
        goes in the same thread (crm_core's ``ws.mail.reply_draft``). False, with the
        reason in ``message``, when refused."""
        if interaction_id is None:
            self._say(_("Choose an e-mail to reply to."), "warning")
            return False
        draft = self.attempt(lambda: self.ws.mail.reply_draft(int(interaction_id)))
        if draft is None:
            return False
        self.compose.reply(draft)
        return True

    # -- reading --------------------------------------------------------------------
    def open(self, kind: str, record_id: int) -> bool:
        """Show record ``record_id`` of ``kind`` (contact, company or deal); False
        (with the reason in ``message``) when it does not exist or may not be seen."""
        self.field_errors = {}
        self._say("", "info")
        if kind not in KINDS:
            self._say(_("There is no kind of record called {kind!r}.").format(kind=kind), "danger")
            return False
        try:
            detail = self._read(kind, int(record_id))
        except (NotFoundError, AccessDenied) as exc:
            self.param.update(kind=kind, record_id=None, detail={})
            self._say(refused(exc), "danger")
            return False
        self.param.update(kind=kind, record_id=int(record_id), detail=detail)
        return True

    def close(self) -> None:
        """Show nothing."""
        self.param.update(record_id=None, detail={}, field_errors={}, message="")

    def refresh(self) -> bool:
        """Read the shown record again (after a write, or someone else's)."""
        if self.record_id is None:
            return True
        try:
            self.detail = self._read(self.kind, self.record_id)
        except (NotFoundError, AccessDenied) as exc:
            self.param.update(record_id=None, detail={})
            self._say(refused(exc), "danger")
            return False
        return True

    _load = refresh

    def fields(self) -> list[tuple[str, str, str, list[str] | None]]:
        """The editable fields of the shown kind: (field, label, type, choices), the
        workspace's custom fields last (as ``custom.<name>``)."""
        out: list[tuple[str, str, str, list[str] | None]] = [
            (f, label, t, None) for f, label, t in FIELDS[self.kind]
        ]
        entity = "opportunity" if self.kind == "deal" else self.kind
        for d in self.ws.custom_fields.list(entity).to_dict("records"):
            out.append((f"custom.{d['name']}", d["label"], d["type"], d["choices"]))
        return out

    def field_labels(self) -> dict[str, str]:
        """The edit form's labels, by the names crm_core gives the fields (a custom
        field under its own name too, the company under ``company_id``)."""
        if not self.detail:
            return {}
        if self.error_source in FORM_LABELS:
            return dict(FORM_LABELS[self.error_source])
        labels = {field: label for field, label, _t, _c in self.fields()}
        labels |= {f[len("custom.") :]: lab for f, lab in labels.items() if f.startswith("custom.")}
        if "company" in labels:
            labels["company_id"] = labels["company"]
        return labels

    def value(self, field: str) -> Any:
        """The shown record's value of ``field`` (``custom.<name>`` for custom ones)."""
        record = self.detail.get("record") or {}
        if field.startswith("custom."):
            return (record.get("custom") or {}).get(field[len("custom.") :])
        if field == "company":
            return record.get("company")
        if field == "owner":
            return record.get("owner_login")
        return record.get(field)

    def _read(self, kind: str, record_id: int) -> dict[str, Any]:
        ws = self.ws
        people = None
        history = None
        if kind == "deal":
            record = ws.pipeline.get(record_id)
            link = {"opportunity_id": record_id}
            history = ws.pipeline.history(record_id)
            deals = None
        else:
            service = ws.contacts if kind == "contact" else ws.companies
            record = service.get(record_id)
            link = {f"{kind}_id": record_id}
            deals = ws.pipeline.search(**link, limit=DETAIL_LIMIT)
            if kind == "company":
                people = ws.contacts.search(company_id=record_id, limit=DETAIL_LIMIT)
        company = record.get("company_id")
        record["company"] = ws.companies.get(company)["name"] if company else None
        if kind == "deal" and record.get("contact_id"):
            record["contact"] = ws.contacts.get(record["contact_id"])["name"]
        owner = record.get("owner_id")
        record["owner_login"] = self._logins().get(owner) if owner else None
        activities = ws.activities.for_record(**link, include_done=True)
        done = activities["done_at"].notna()
        invoices = ws.accounts.invoices(**link, limit=DETAIL_LIMIT) if kind != "deal" else None
        journal = ws.journal.for_record(TABLES[kind], record_id)
        return {
            "kind": kind,
            "record": record,
            "timeline": ws.interactions.timeline(**link, limit=DETAIL_LIMIT),
            "activities": activities[~done].reset_index(drop=True),
            "done": activities[done].reset_index(drop=True),
            "opportunities": deals,
            "history": history,
            "contacts": people,
            "synced": ws.accounts.is_synced("opportunity" if kind == "deal" else kind, record_id),
            "invoices": invoices,
            "open_balance": ws.accounts.open_balance(**link) if kind != "deal" else {},
            "journal": journal,
            "journal_names": self._journal_names(kind, record, journal),
            "custom_fields": self._custom_fields(kind),
            "timezone": ws.setting("timezone"),
        }

    def _custom_fields(self, kind: str) -> dict[str, tuple[str, str]]:
        """The kind's custom fields: name -> (label, type)."""
        entity = "opportunity" if kind == "deal" else kind
        frame = self.ws.custom_fields.list(entity)
        return {d["name"]: (d["label"], d["type"]) for d in frame.to_dict("records")}

    def _journal_names(
        self, kind: str, record: Mapping[str, Any], journal: pd.DataFrame
    ) -> dict[str, dict[int, str]]:
        """What the ids in the record's journal name (``stage_id`` -> {1: "New"}, the
        owner's login, the company's and contact's names), so that the Changes list
        shows names, not ids. An id the user may not see stays unnamed."""
        ws = self.ws
        names: dict[str, dict[int, str]] = {"owner_id": self._logins()}
        if kind == "deal":
            stages = ws.pipeline.stages(record.get("pipeline_id"))
            names["stage_id"] = dict(zip(stages["id"].astype(int), stages["name"], strict=True))
            names["lost_reason_id"] = ws.pipeline.lost_reason_names()
        services = {"company_id": ws.companies, "contact_id": ws.contacts}
        rows = journal[journal["field"].isin(list(services))] if not journal.empty else journal
        for field, service in services.items():
            found: dict[int, str] = {}
            for raw in [
                *rows.loc[rows["field"] == field, "old"],
                *rows.loc[rows["field"] == field, "new"],
            ]:
                ref = journal_id(raw)
                if ref is None or ref in found:
                    continue
                try:
                    found[ref] = service.get(ref)["name"]
                except (NotFoundError, AccessDenied):
                    continue
            names[field] = found
        return names

    def _logins(self) -> dict[int, str]:
        users = self.ws.users.list()
        return dict(zip(users["id"].astype(int), users["login"], strict=True))

    def logins(self) -> list[str]:
        """The logins a deal can be given to (active users)."""
        users = self.ws.users.list()
        return users.loc[users["active"].astype(bool), "login"].tolist()

    # -- editing --------------------------------------------------------------------
    def save(self, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """Write the fields of ``values`` (field -> text as typed) that differ from
        what is shown, with the version shown. Refusals land in ``field_errors`` per
        field and nothing is written."""
        self.error_source = "edit"
        record = self.detail.get("record")
        if not record:
            self._say(_("Nothing is open."), "warning")
            return None
        changes: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        bad: dict[str, str] = {}
        for field, typed in values.items():
            new = blank(typed)
            if (blank(shown(self.value(field))) or None) == (
                blank(shown(new)) if new is not None else None
            ):
                continue
            if field.startswith("custom."):
                custom[field[len("custom.") :]] = new
            elif field == "company":
                if new is None:
                    changes["company_id"] = None
                else:
                    ref, reason = company_ref(self.ws, new)
                    if reason:
                        bad["company"] = reason
                    changes["company_id"] = ref
            elif field == "owner":
                changes["owner"] = new
            else:
                changes[field] = new
        if custom:
            changes["custom"] = custom
        if bad:
            self.field_errors = bad
            labels = self.field_labels()
            self._say(
                "; ".join(
                    _("{field}: {reason}").format(field=field_label(f, labels), reason=r)
                    for f, r in bad.items()
                ),
                "danger",
            )
            return None
        if not changes:
            self._say(_("Nothing changed."), "info")
            return None
        service = {
            "contact": self.ws.contacts,
            "company": self.ws.companies,
            "deal": self.ws.pipeline,
        }[self.kind]
        return self._act(
            lambda: service.update(record["id"], changes, expected_version=int(record["version"])),
            lambda r: _("Saved {name!r}.").format(name=r["name"]),
            keep_typed=True,
        )

    # -- the daily actions ------------------------------------------------------------
    def _links(self) -> dict[str, int]:
        """The shown record as links for what is logged, planned or created on it (a
        contact's or a deal's company and contact come along)."""
        record = self.detail.get("record") or {}
        if self.kind == "company":
            return {"company": int(record["id"])}
        if self.kind == "contact":
            links = {"contact": int(record["id"])}
        else:
            links = {"opportunity": int(record["id"])}
            if isinstance(record.get("contact_id"), int):
                links["contact"] = int(record["contact_id"])
        if isinstance(record.get("company_id"), int):
            links["company"] = int(record["company_id"])
        return links

    def _on_record(
        self,
        source: str,
        write: Callable[[dict[str, int]], Any],
        done: str,
        fields: Callable[[Any], Mapping[str, Any]] | None = None,
    ) -> Any:
        """Run ``write`` with the record's links; ``done`` is the message, filled from
        the result (or from ``fields`` of it)."""
        self.error_source = source
        if not self.detail.get("record"):
            self._say(_("Open a record first."), "warning")
            return None
        return self._act(
            lambda: write(self._links()), lambda r: done.format(**(fields(r) if fields else r))
        )

    def log_interaction(
        self,
        channel: str,
        direction: str,
        subject: str | None = None,
        summary: str | None = None,
        next_kind: str | None = None,
        next_subject: str | None = None,
        next_due: Any = None,
    ) -> dict[str, Any] | None:
        """Log a call, meeting, e-mail, message or note (in or out) on the record; it
        appears at the top of its timeline. With ``next_subject``, the next step
        (``next_kind``, default a call, due ``next_due``) is planned in the same go:
        both are written or, if either is refused, neither. One with neither a
        subject nor what was said is refused (an empty row on the timeline says
        nothing): nothing is written."""
        if blank(subject) is None and blank(summary) is None and self.detail.get("record"):
            self.error_source = "log"
            self.field_errors = {"summary": _("Write what was said, or a subject.")}
            self._say(_("Write what was said, or a subject."), "danger")
            return None
        if blank(next_subject) is None:
            return self._on_record(
                "log",
                lambda links: self.ws.interactions.log(
                    channel, direction, subject=blank(subject), summary=blank(summary), **links
                ),
                _("Logged the {channel}."),
            )
        return self._on_record(
            "log",
            lambda links: self.ws.interactions.log_and_schedule(
                channel,
                direction,
                next_kind or "call",
                next_subject,
                next_due,
                subject=blank(subject),
                summary=blank(summary),
                **links,
            ),
            _("Logged the {channel}; next: {subject} on {due}."),
            lambda both: {
                "channel": both["logged"]["channel"],
                "subject": both["next"]["subject"],
                "due": both["next"]["due_date"].isoformat(),
            },
        )

    def schedule_activity(
        self,
        kind: str,
        subject: str,
        due: Any,
        assignee: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any] | None:
        """Plan a follow-up (call, meeting, email, todo) on the record, for
        ``assignee`` (a login; default: the acting user)."""
        extra = {k: v for k, v in (("assignee", blank(assignee)), ("note", blank(note))) if v}
        return self._on_record(
            "plan",
            lambda links: self.ws.activities.schedule(kind, subject, due, **links, **extra),
            _("Scheduled {subject!r} for {due_date:%Y-%m-%d}."),
        )

    def complete_activity(self, activity_id: int) -> dict[str, Any] | None:
        """Mark one of the record's open activities done."""
        self.error_source = "plan"
        return self._act(
            lambda: self.ws.activities.complete(activity_id),
            lambda r: _("Done: {subject!r}.").format(subject=r["subject"]),
        )

    def create_deal(
        self,
        name: str,
        expected_revenue: Any = None,
        currency: str | None = None,
        expected_close: Any = None,
    ) -> dict[str, Any] | None:
        """Open a deal for the shown contact or company (in the first stage, owned by
        the acting user)."""
        if self.kind == "deal":
            self._say(_("Open the contact or company to create a deal for it."), "warning")
            return None
        values = {
            "expected_revenue": blank(expected_revenue),
            "currency": blank(currency),
            "expected_close": expected_close,
        }
        given = {k: v for k, v in values.items() if v is not None}
        return self._on_record(
            "deal",
            lambda links: self.ws.pipeline.create(name, **links, **given),
            _("Created the deal {name!r} in {stage}."),
        )

    # -- a deal's outcome ---------------------------------------------------------------
    def open_stages(self) -> list[str]:
        """The names of the deal's pipeline's open stages, in order."""
        stages = self.ws.pipeline.stages((self.detail.get("record") or {}).get("pipeline_id"))
        return stages.loc[~stages["is_won"] & ~stages["is_lost"], "name"].tolist()

    def _deal_action(self, source: str, write: Callable[[int, int], Any], done: str) -> Any:
        self.error_source = source
        record = self.detail.get("record") or {}
        if self.kind != "deal" or not record:
            self._say(_("Open a deal first."), "warning")
            return None
        return self._act(
            lambda: write(int(record["id"]), int(record["version"])),
            lambda r: done.format(**r),
        )

    def move(self, stage: str) -> dict[str, Any] | None:
        """Move the deal to the open stage ``stage``."""
        return self._deal_action(
            "close",
            lambda i, v: self.ws.pipeline.move(i, stage, expected_version=v),
            _("Moved {name!r} to {stage}."),
        )

    def win(self) -> dict[str, Any] | None:
        """Mark the deal won (the page asks for a confirmation first)."""
        return self._deal_action(
            "close",
            lambda i, v: self.ws.pipeline.win(i, expected_version=v),
            _("Won {name!r}."),
        )

    def lose(self, reason: str, note: str | None = None) -> dict[str, Any] | None:
        """Mark the deal lost; a reason is required."""
        return self._deal_action(
            "close",
            lambda i, v: self.ws.pipeline.lose(i, reason, note=blank(note), expected_version=v),
            _("Lost {name!r}: {lost_reason}."),
        )

    def reopen(self, stage: str | None = None) -> dict[str, Any] | None:
        """Reopen a won or lost deal in ``stage`` (default: the first stage)."""
        return self._deal_action(
            "close",
            lambda i, v: self.ws.pipeline.reopen(i, blank(stage), expected_version=v),
            _("Reopened {name!r} in {stage}."),
        )
