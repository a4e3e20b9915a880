"""Companies, contacts and deals from a file: validated like the services, matched,
then created in batches, updated through the service, or left alone.

Per batch: rows are validated with the services' own cleaners
(:mod:`crm_core.loaders`), their keys looked up (:mod:`crm_core.imports.matching`);
new records are written by the batch writer the ERP sync uses too, matched ones are
updated through the service (journaled, versioned) when a given value differs. Tags
are added, never removed; custom values are set per field given. A company a row
names that does not exist is created, once the row has passed every check. A deal row
in the won or lost stage (with its close date and, lost, its reason: see
``OpportunityLoader.closes``) is closed through the service once created or matched
(``ws.pipeline._close_in_session``), as any win or loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from crm_core import text
from crm_core.errors import CrmError, FieldError
from crm_core.imports import mapping as m
from crm_core.imports.batch import Job, Row
from crm_core.imports.matching import SAID, Matcher, other_person
from crm_core.imports.report import ImportReport
from crm_core.keys import RowKeys, contradicts, vat_key
from crm_core.loaders import (
    CLOSING,
    CLOSING_FIELDS,
    BatchError,
    Checked,
    CompanyLoader,
    ContactLoader,
    Loader,
    OpportunityLoader,
)
from crm_core.models import Company, Contact, Opportunity, Stage
from crm_core.services.base import raise_if

if TYPE_CHECKING:
    from crm_core.workspace import Workspace


#: Fields compared by their key, not as written.
_SAME_KEY = {"email": lambda v: text.fold(v) if isinstance(v, str) else v, "vat": vat_key}
#: The fields holding each key a row can be matched by.
_KEY_FIELDS = {
    "email": ("email",),
    "vat": ("vat",),
    "phone": ("phone", "mobile"),
    "name": ("name",),
}


class RecordJob(Job):
    """Imports companies, contacts or deals."""

    creates_companies = True

    def __init__(
        self,
        ws: Workspace,
        kind: str,
        columns: list[str],
        label: str,
        plan: m.ColumnMap,
        keys: Sequence[str],
        mode: str,
        keep_invalid: bool,
        pipeline: int | str | None,
        report: ImportReport,
    ):
        super().__init__(ws, kind, columns, label, plan, mode, keep_invalid, report)
        self.keys = tuple(keys)
        self.matcher = Matcher(kind, keys, phone_of_another=True)
        self.loader: Loader
        if kind == "contact":
            self.loader = ContactLoader(ws, keep_invalid)
        elif kind == "company":
            self.loader = CompanyLoader(ws, keep_invalid)
        else:
            if not isinstance(pipeline, int):
                with ws.transaction() as s:
                    pipeline = ws.pipeline.get_pipeline(s, pipeline).id
            # A file brings a business's deals as they are, the closed ones too.
            self.loader = OpportunityLoader(ws, pipeline, keep_invalid, closes=True)
        #: What a worker process needs to build the same job (crm_core.imports.parallel).
        self.pipeline_id = getattr(self.loader, "pipeline_id", None)
        self.service: Any = ws.pipeline if kind == "opportunity" else self.loader.service
        #: Line -> the fields whose key matched the row's record only through a record
        #: merged into it (this batch's rows).
        self._via_merge: dict[int, set[str]] = {}

    def prepare(self, s: Session, rows: list[Row]) -> None:
        self._resolve_refs(s, rows)
        self._validate(s, rows)

    def write(self, s: Session, rows: list[Row], marked: list[int]) -> None:
        self._match(s, rows, marked)
        self._new_companies(s, rows)
        self._create(s, rows, marked)
        self._update(s, rows)

    def rolled_back(self) -> None:
        self.loader.tag_ids.clear()  # tags created in the rolled-back batch are gone

    def _resolve_refs(self, s: Session, rows: list[Row]) -> None:
        """Company (and, on deals, contact) names into ids: one query per batch; a
        company named but unknown is created, one named twice in the workspace is
        ambiguous and refuses the row."""
        live = [r for r in rows if r.refusal is None]
        if self.kind in ("contact", "opportunity"):
            self._refs(s, live, "company", Company)
        if self.kind == "opportunity":
            self._refs(s, live, "contact", Contact)

    def _new_companies(self, s: Session, rows: list[Row]) -> None:
        """Create the companies named by rows about to be written, one per name (unless
        an earlier batch, written after this one was prepared, created it already)."""
        wanted = {
            text.fold(r.new_company)
            for r in rows
            if r.refusal is None and r.new_company is not None and r.checked is not None
        }
        if not wanted:
            return
        made: dict[str, int] = {}
        existing = select(Company.name_key, func.min(Company.id)).where(
            Company.name_key.in_(sorted(wanted))
        )
        made.update((key, id_) for key, id_ in s.execute(existing.group_by(Company.name_key)))
        for r in rows:
            if r.refusal is not None or r.new_company is None or r.checked is None:
                continue
            key = text.fold(r.new_company)
            if key not in made:
                company = Company(active=True, custom={})
                self.ws.companies.write_fields(s, company, {"name": r.new_company}, creating=True)
                s.add(company)
                s.flush()
                made[key] = company.id
                self.report.companies_created += 1
            row = r.checked[0]
            assert row is not None
            row["company_id"] = made[key]

    def _validate(self, s: Session, rows: list[Row]) -> None:
        live = [r for r in rows if r.refusal is None]
        for r in live:
            r.values = self.loader.normalize(r.raw)
            if r.new_company is not None:
                # A company of its own to come: no record can match its name in it yet.
                r.values["company_id"] = None
        ctx = self.loader.prepare(s, [r.values for r in live if r.values is not None])
        for r in live:
            assert r.values is not None
            row, tags, errors = self.loader.clean(s, ctx, r.values, r.line)
            if errors:
                first = errors[0]
                reason = "; ".join(f"{e.field}: {e.reason}" for e in errors)
                r.refuse(first.field, first.value, reason)
                continue
            r.checked = (row, tags, None)
            r.keys = self._keys(r, row)

    def _keys(self, r: Row, row: dict[str, Any] | None) -> RowKeys:
        assert row is not None
        kept = row.get("unvalidated") or {}
        phones = tuple(
            dict.fromkeys(
                row[f]
                for f in ("phone", "mobile")
                if row.get(f) and f not in kept and str(row[f]).startswith("+")
            )
        )
        company_id: Any = row.get("company_id")
        if r.new_company is not None:
            # Rows naming one new company are in one company (duplicates in the file).
            company_id = ("new", text.fold(r.new_company))
        return RowKeys(
            erp_id=r.erp_id,
            email=row.get("email_key") if "email" not in kept else None,
            vat=vat_key(row.get("vat")),
            phones=phones,
            name=row.get("name_key"),
            company_id=company_id if self.kind != "company" else None,
        )

    def _match(self, s: Session, rows: list[Row], marked: list[int]) -> None:
        live = [r for r in rows if r.refusal is None and r.keys is not None]
        found = self.matcher.find(s, [r.keys for r in live])
        # Keys of the rows this batch will create: (key, value) -> (line, its keys).
        pending: dict[tuple[str, Any], list[tuple[int, RowKeys]]] = {}
        # The keys of the rows that matched a record in this batch: that record has
        # them once the batch is written (a later batch finds them in the database).
        given: dict[int, RowKeys] = {}
        self._via_merge = {}
        for r, f in zip(live, found, strict=True):
            record_id, key, candidates = f.decision()
            if record_id is not None and record_id in f.aliases:
                self._via_merge[r.line] = {
                    name for k in f.aliases[record_id] for name in _KEY_FIELDS.get(k, ())
                }
            if (
                record_id is not None
                and key == "name"
                and record_id in given
                and r.keys is not None
                and other_person(r.keys, given[record_id])
            ):
                # A namesake of the row that matched it earlier in this batch (another
                # phone, another e-mail): someone else.
                record_id = None
                candidates = {}
            if record_id is None and len(candidates) > 1:
                named = " and ".join(
                    f"{self.kind} #{i} ({', '.join(SAID[k] for k in keys)})"
                    for i, keys in sorted(candidates.items())
                )
                r.refuse(
                    *r.given(candidates[min(candidates)][0]),
                    f"matches {named}: merge them first, or choose keys with --match",
                )
                continue
            if record_id is not None:
                earlier = self.touched.line(record_id)
                if earlier is not None:
                    r.refuse(
                        *r.given(key),
                        f"{SAID[key or 'name']} as line {earlier} of this file "
                        f"({self.kind} #{record_id}): a duplicate inside the file",
                    )
                    continue
                if self.mode == "create":
                    r.refuse(
                        *r.given(key),
                        f"{self.kind} #{record_id} exists already ({SAID[key or 'name']}); "
                        "mode 'create' only adds new records",
                    )
                    continue
                self.touched.mark(record_id, r.line)
                marked.append(record_id)
                if r.keys is not None:
                    given[record_id] = r.keys
                r.outcome = ("matched", record_id, key or "")
                continue
            if self.mode == "update":
                r.refuse(
                    None,
                    None,
                    f"no {self.kind} matches it (by {', '.join(self.matcher.keys)}); "
                    "mode 'update' only changes existing records",
                )
                continue
            assert r.keys is not None
            clash = self._clash(pending, r.keys)
            if clash is not None:
                key, lines = clash
                where = (
                    f"line {lines[0]}"
                    if len(lines) == 1
                    else "lines " + " and ".join(map(str, lines))
                )
                r.refuse(
                    *r.given(key),
                    f"{SAID[key]} as {where} of this file: a duplicate inside the file",
                )
                continue
            for key in self.matcher.keys:
                for value in r.keys.values(key):
                    pending.setdefault((key, value), []).append((r.line, r.keys))
            r.outcome = ("create", None, "")

    def _clash(
        self, pending: dict[tuple[str, Any], list[tuple[int, RowKeys]]], keys: RowKeys
    ) -> tuple[str, list[int]] | None:
        """The key and lines of the earlier rows of this batch that ``keys`` find, by
        the rules the database lookup follows (a phone never finds a row whose e-mail
        says it is someone else; a name, none whose e-mail, VAT number or phones do)."""
        for key in self.matcher.keys:
            for value in keys.values(key):
                lines = [
                    line
                    for line, other in pending.get((key, value), ())
                    if not (key == "phone" and contradicts(keys, other.email))
                    and not (key == "name" and other_person(keys, other))
                ]
                if lines:
                    return key, lines
        return None

    def _create(self, s: Session, rows: list[Row], marked: list[int]) -> None:
        new = [r for r in rows if r.refusal is None and r.outcome and r.outcome[0] == "create"]
        if not new:
            return
        checked: list[Checked] = []
        closing: dict[int, tuple[str, Any, str | None]] = {}
        for i, r in enumerate(new):
            assert r.checked is not None  # only validated rows are created
            row = r.checked[0]
            if row is not None and CLOSING in row:
                closing[i] = row.pop(CLOSING)  # not a column: closed once written
            checked.append(r.checked)
        refused, ids = self.loader.store(s, checked, [r.line for r in new])
        for i, r in enumerate(new):
            if i in refused:
                r.refuse("tags", r.raw.get("tags"), refused[i])
                continue
            record_id = ids[i]
            self.touched.mark(record_id, r.line)
            marked.append(record_id)
            r.outcome = ("created", record_id, "")
            if i in closing:
                self._close_new(s, record_id, closing[i])
                r.outcome = ("created", record_id, closing[i][0])

    def _close_new(self, s: Session, record_id: int, how: tuple[str, Any, str | None]) -> None:
        """Close a deal this batch created as the row says, through the service (a win
        or a loss as any other: journaled, its stage history kept)."""
        obj = s.get(Opportunity, record_id)
        assert obj is not None
        status, closed_at, reason = how
        try:
            self.service._close_in_session(s, obj, status, closed_at, reason)
        except CrmError as exc:  # cannot happen to a new open deal: undo the batch
            raise BatchError(f"opportunity #{record_id} could not be closed: {exc}") from None

    def _update(self, s: Session, rows: list[Row]) -> None:
        matched = [r for r in rows if r.refusal is None and r.outcome and r.outcome[0] == "matched"]
        if not matched:
            return
        model = self.loader.model
        ids = [r.outcome[1] for r in matched if r.outcome is not None]
        objs = {
            o.id: o
            for o in s.scalars(
                select(model).where(model.id.in_(ids)).options(selectinload(model.tags))
            )
        }
        for r in matched:
            assert r.outcome is not None and r.checked is not None
            _, record_id, key = r.outcome
            obj = objs[record_id]
            changes = self._changes(s, r, obj)
            self.report.matched_by[key] += 1
            if not changes:
                r.outcome = ("unchanged", record_id, f"matched by {key}")
                continue
            closed = changes.get("close")
            try:
                self._apply(s, obj, changes)
            except CrmError as exc:
                s.expire(obj)  # none of the row's changes stay
                errors = getattr(exc, "errors", None)
                first = errors[0] if errors else None
                r.refuse(
                    first.field if first else None,
                    first.value if first else None,
                    "; ".join(f"{e.field}: {e.reason}" for e in errors) if errors else str(exc),
                )
                continue
            when = closed[1].astimezone(self.ws.timezone) if closed else None
            said = sorted(changes) + ([f"{closed[0]} on {when:%Y-%m-%d}"] if closed else [])
            r.outcome = ("updated", record_id, ", ".join(said))

    def _changes(self, s: Session, r: Row, obj: Any) -> dict[str, Any]:
        """The given fields whose cleaned value differs from the record's. An e-mail or
        a VAT number written another way (case, spaces) is the same value: it is what
        the row was matched by, not a change. Nor is a value the row found the record by
        only through a record merged into it (the merged-away one's e-mail, phone...):
        it fills the field when the record has none, never replaces what the merge kept."""
        row, tags, _ = r.checked  # type: ignore[misc]
        assert row is not None and r.values is not None
        changes: dict[str, Any] = {}
        via_merge = self._via_merge.get(r.line, set())
        for name in r.values:
            if name in ("tags", "custom", "stage", *CLOSING_FIELDS) or name.startswith(m.CUSTOM):
                continue
            new, old = row.get(name), getattr(obj, name, None)
            if name in via_merge and old not in (None, ""):
                continue
            if new == old or (name in _SAME_KEY and _SAME_KEY[name](new) == _SAME_KEY[name](old)):
                continue
            changes[name] = new
        if CLOSING in row:
            # A won or lost row closes the deal (or corrects when and why it was).
            status, closed_at, reason = row[CLOSING]
            same = (
                obj.status == status
                and obj.closed_at == closed_at  # both aware: UTCDateTime reads UTC back
                and (status != "lost" or _same_reason(obj, reason))
            )
            if not same:
                changes["close"] = row[CLOSING]
        elif "stage" in r.values and row.get("stage_id") != obj.stage_id:
            changes["stage"] = row["stage_id"]
        if tags is not None:
            names = text.tag_names(tags) if isinstance(tags, str) else list(tags)
            have = {t.name_key for t in obj.tags}
            wanted = [n for n in names if isinstance(n, str) and n.strip()]
            missing = [n for n in wanted if text.fold(text.clean(n)) not in have]
            if missing:
                changes["tags"] = [t.name for t in obj.tags] + missing
        if r.custom_given:
            now = obj.custom or {}
            custom = {
                k: row["custom"].get(k)
                for k in r.custom_given
                if now.get(k) != row["custom"].get(k)
            }
            if custom:
                changes["custom"] = custom
        return changes

    def _apply(self, s: Session, obj: Any, changes: dict[str, Any]) -> None:
        if self.kind != "opportunity":
            self.service.write_fields(
                s, obj, changes, creating=False, keep_invalid=self.keep_invalid
            )
            return
        stage = changes.pop("stage", None)
        close = changes.pop("close", None)
        errors: list[FieldError] = []
        if changes:
            self.service.write_fields(
                s, obj, changes, errors, creating=False, keep_invalid=self.keep_invalid
            )
            raise_if(errors)
        if stage is not None:
            target = s.get(Stage, stage)
            assert target is not None
            self.service.move_in_session(s, obj, target)
        if close is not None:
            self.service._close_in_session(s, obj, *close)
        s.flush()


def _same_reason(obj: Any, reason: str | None) -> bool:
    """Whether a lost deal's reason is ``reason`` (any case)."""
    have = obj.lost_reason.name if obj.lost_reason is not None else None
    return have is not None and reason is not None and text.fold(have) == text.fold(reason)
