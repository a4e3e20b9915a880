"""One import run's batches: each row mapped, validated, matched, then created,
updated, left alone or refused, in one transaction per batch.

Per batch of rows: map the row's columns to fields, validate it with the services'
own cleaners (:mod:`crm_core.loaders`), look its keys up
(:mod:`crm_core.imports.matching`), then create it through the batch writer the sync
uses too, update the record it matched through the service (journaled, versioned),
leave it alone when nothing differs, or refuse it into the rejects file with the
reason. A batch the database refuses is rolled back whole and its rows go to the
rejects file; nothing is half-written. A dry run does all of this in one transaction
that is rolled back at the end.

Blank cells never clear a value: they mean "the file says nothing about this field".
Tags are added, never removed; custom values are set per field given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from crm_core import text
from crm_core.errors import CrmError, FieldError, ImportRefused
from crm_core.imports import mapping as m
from crm_core.imports.matching import SAID, Matcher, RowKeys, Touched, vat_key
from crm_core.imports.rejects import Rejects
from crm_core.imports.report import Example, ImportReport
from crm_core.loaders import (
    BatchError,
    Checked,
    CompanyLoader,
    ContactLoader,
    Loader,
    OpportunityLoader,
    blank,
)
from crm_core.models import Company, Contact, Stage
from crm_core.services.base import raise_if

if TYPE_CHECKING:
    from crm_core.imports.run import Input
    from crm_core.workspace import Workspace


@dataclass
class _Row:
    """One row on its way through a batch."""

    line: int
    cells: list[Any]
    raw: dict[str, Any]
    custom_given: tuple[str, ...] = ()
    erp_id: int | None = None
    #: A company the row names that does not exist yet.
    new_company: str | None = None
    values: dict[str, Any] | None = None
    checked: Checked | None = None
    keys: RowKeys | None = None
    # The outcome: (outcome, record id, detail) or a refusal (field, value, reason).
    outcome: tuple[str, int | None, str] | None = None
    refusal: tuple[str | None, Any, str] | None = None

    def refuse(self, field: str | None, value: Any, reason: str) -> None:
        self.refusal = (field, value, reason)

    def given(self, key: str | None) -> tuple[str | None, Any]:
        """The field and value of the row that match key ``key`` stands for."""
        if key == "erp_id":
            return key, self.erp_id
        if key == "phone":
            field = "phone" if "phone" in self.raw else "mobile"
            return field, self.raw.get(field)
        return key, None if key is None else self.raw.get(key)

    @property
    def name(self) -> str:
        name = self.raw.get("name")
        return str(name) if not blank(name) else ""


# -- one run --------------------------------------------------------------------------


class Job:
    """The state of one run across its batches."""

    def __init__(
        self,
        ws: Workspace,
        kind: str,
        src: Input,
        plan: m.ColumnMap,
        keys: Sequence[str],
        mode: str,
        keep_invalid: bool,
        pipeline: int | str | None,
        report: ImportReport,
    ):
        self.ws = ws
        self.kind = kind
        self.src = src
        self.plan = plan
        self.mode = mode
        self.keep_invalid = keep_invalid
        self.report = report
        self.matcher = Matcher(kind, keys)
        self.touched = Touched()
        self.origin = f"import:{src.label}"[:220]
        self.loader: Loader
        if kind == "contact":
            self.loader = ContactLoader(ws, keep_invalid)
        elif kind == "company":
            self.loader = CompanyLoader(ws, keep_invalid)
        else:
            with ws.transaction() as s:
                pipeline_id = ws.pipeline._pipeline(s, pipeline).id
            self.loader = OpportunityLoader(ws, pipeline_id, keep_invalid)
        self.service: Any = ws.pipeline if kind == "opportunity" else self.loader.service
        # column index -> field, in file order
        self.fields = [(i, plan.fields[c]) for i, c in enumerate(src.columns) if c in plan.fields]

    @contextmanager
    def transactions(self, dry_run: bool) -> Iterator[Callable[[], Any]]:
        """Yields how each batch gets its transaction: its own, committed; or in a dry
        run, one transaction for the whole run, rolled back at the end. (No savepoint
        per batch: pysqlite would turn the first one into a commit.) A dry run the
        database refuses a batch of stops there, naming the batch."""
        if not dry_run:

            @contextmanager
            def own() -> Iterator[Session]:
                with self.ws.transaction(self.origin) as s:
                    yield s

            yield own
            return
        try:
            with self.ws.transaction(self.origin) as outer:

                @contextmanager
                def shared() -> Iterator[Session]:
                    try:
                        yield outer
                    except (SQLAlchemyError, BatchError) as exc:
                        raise ImportRefused(
                            f"the dry run stopped: the database refused a batch: "
                            f"{_reason(exc)}; nothing was written"
                        ) from exc

                yield shared
                raise _RollBack
        except _RollBack:
            pass

    def define_custom(self, new: Mapping[str, str], dry_run: bool) -> list[str]:
        """Define a text custom field for each unknown column kept with ``custom``."""
        known = set(self.ws.custom_fields.list(self.kind)["name"])
        defined = []
        for column, name in new.items():
            if name in known:
                continue
            if not dry_run:
                self.ws.custom_fields.define(self.kind, name, "text", label=column[:200])
            defined.append(name)
        return defined

    # -- a batch ----------------------------------------------------------------------
    def batch(
        self, each_batch: Callable[[], Any], lines: list[tuple[int, list[Any]]], out: Rejects
    ) -> None:
        rows = [self._row(line, cells) for line, cells in lines]
        marked: list[int] = []
        companies_before = self.report.companies_created
        try:
            with each_batch() as s:
                self._resolve_refs(s, rows)
                self._validate(s, rows)
                self._match(s, rows, marked)
                self._new_companies(s, rows)
                self._create(s, rows, marked)
                self._update(s, rows)
        except (SQLAlchemyError, BatchError) as exc:
            self.loader.tag_ids.clear()  # tags created in the rolled-back batch are gone
            self.touched.forget(marked)
            self.report.companies_created = companies_before
            reason = (
                f"the database refused the batch of lines {lines[0][0]}-{lines[-1][0]}, "
                f"none of it was written: {_reason(exc)}"
            )
            self.report.failures.append(reason)
            for row in rows:
                if row.refusal is None:
                    row.refuse(None, None, reason)
        for row in rows:
            if row.refusal is not None:
                field, value, reason = row.refusal
                out.write(row.cells[: len(self.src.columns)], row.line, field, value, reason)
                self.report.add("rejected", Example(row.line, "rejected", row.name, None, reason))
            else:
                assert row.outcome is not None
                outcome, record_id, detail = row.outcome
                self.report.add(outcome, Example(row.line, outcome, row.name, record_id, detail))

    def _row(self, line: int, cells: list[Any]) -> _Row:
        width = len(self.src.columns)
        row = _Row(line, cells, {})
        extra = [c for c in cells[width:] if not blank(c) and str(c).strip()]
        if extra:
            row.refuse(
                None,
                extra,
                f"the row has {len(cells)} cells and the header {width}: "
                "a delimiter inside a cell that is not quoted?",
            )
            return row
        raw: dict[str, Any] = {}
        for i, field in self.fields:
            if i < len(cells):
                value = cells[i]
                if isinstance(value, str):
                    value = value.strip()
                if not blank(value) and value != "":
                    raw[field] = value
        if "name" not in raw and ("first_name" in raw or "last_name" in raw):
            raw["name"] = " ".join(str(raw[k]) for k in ("first_name", "last_name") if k in raw)
        raw.pop("first_name", None)
        raw.pop("last_name", None)
        erp = raw.pop("erp_id", None)
        if erp is not None:
            digits = str(erp).strip()
            if not digits.isdecimal():
                row.refuse("erp_id", erp, "is not a whole number (the record's id in the ERP)")
            else:
                row.erp_id = int(digits)
        row.custom_given = tuple(k[len(m.CUSTOM) :] for k in raw if k.startswith(m.CUSTOM))
        row.raw = raw
        return row

    def _resolve_refs(self, s: Session, rows: list[_Row]) -> None:
        """Company (and, on deals, contact) names into ids: one query per batch; a
        company named but unknown is created, one named twice in the workspace is
        ambiguous and refuses the row."""
        live = [r for r in rows if r.refusal is None]
        if self.kind in ("contact", "opportunity"):
            self._refs(s, live, "company", Company)
        if self.kind == "opportunity":
            self._refs(s, live, "contact", Contact)

    def _refs(self, s: Session, rows: list[_Row], field: str, model: Any) -> None:
        named = {
            text.fold(str(r.raw[field])): r
            for r in rows
            if field in r.raw and not str(r.raw[field]).strip().isdecimal()
        }
        if not named:
            return
        found: dict[str, list[int]] = {}
        by_email = field == "contact"
        keys = sorted(named)
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            q = select(model.id, model.name_key).where(model.name_key.in_(chunk))
            for record_id, key in s.execute(q):
                found.setdefault(key, []).append(record_id)
            if by_email:
                q = select(model.id, model.email_key).where(model.email_key.in_(chunk))
                for record_id, key in s.execute(q):
                    found.setdefault(key, []).append(record_id)
        for row in rows:
            value = row.raw.get(field)
            if value is None or str(value).strip().isdecimal():
                continue
            ids = sorted(set(found.get(text.fold(str(value)), [])))
            if len(ids) > 1:
                row.refuse(
                    field,
                    value,
                    f"{len(ids)} {field} records have this name: "
                    + ", ".join(f"#{i}" for i in ids)
                    + "; give the id instead",
                )
            elif ids:
                row.raw[field] = ids[0]
            elif field == "company":
                # Created once the row has passed every check (see _new_companies).
                row.new_company = str(value).strip()
                del row.raw[field]
            else:
                row.refuse(field, value, f"no {field} has this name or e-mail")

    def _new_companies(self, s: Session, rows: list[_Row]) -> None:
        """Create the companies named by rows about to be written, one per name."""
        made: dict[str, int] = {}
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

    def _validate(self, s: Session, rows: list[_Row]) -> None:
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

    def _keys(self, r: _Row, row: dict[str, Any] | None) -> RowKeys:
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

    def _match(self, s: Session, rows: list[_Row], marked: list[int]) -> None:
        live = [r for r in rows if r.refusal is None and r.keys is not None]
        found = self.matcher.find(s, [r.keys for r in live])
        # Keys of the rows this batch will create: (key, value) -> (line, its e-mail).
        pending: dict[tuple[str, Any], tuple[int, str | None]] = {}
        for r, f in zip(live, found, strict=True):
            record_id, key, candidates = f.decision()
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
                key, line = clash
                r.refuse(
                    *r.given(key),
                    f"{SAID[key]} as line {line} of this file: a duplicate inside the file",
                )
                continue
            for key in self.matcher.keys:
                for value in r.keys.values(key):
                    pending[(key, value)] = (r.line, r.keys.email)
            r.outcome = ("create", None, "")

    def _clash(
        self, pending: dict[tuple[str, Any], tuple[int, str | None]], keys: RowKeys
    ) -> tuple[str, int] | None:
        """The key and line of an earlier row of this batch that ``keys`` find, by the
        rules the database lookup follows (a name never finds a row whose e-mail says
        it is someone else)."""
        for key in self.matcher.keys:
            for value in keys.values(key):
                earlier = pending.get((key, value))
                if earlier is None:
                    continue
                line, email = earlier
                if key == "name" and keys.email is not None and email not in (None, keys.email):
                    continue
                return key, line
        return None

    def _create(self, s: Session, rows: list[_Row], marked: list[int]) -> None:
        new = [r for r in rows if r.refusal is None and r.outcome and r.outcome[0] == "create"]
        if not new:
            return
        checked = [r.checked for r in new if r.checked is not None]
        refused, ids = self.loader.store(s, checked, [r.line for r in new])
        for i, r in enumerate(new):
            if i in refused:
                r.refuse("tags", r.raw.get("tags"), refused[i])
                continue
            record_id = ids[i]
            self.touched.mark(record_id, r.line)
            marked.append(record_id)
            r.outcome = ("created", record_id, "")
        if self.kind == "opportunity" or self.loader.model is Contact:
            return

    def _update(self, s: Session, rows: list[_Row]) -> None:
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
            r.outcome = ("updated", record_id, ", ".join(sorted(changes)))

    def _changes(self, s: Session, r: _Row, obj: Any) -> dict[str, Any]:
        """The given fields whose cleaned value differs from the record's."""
        row, tags, _ = r.checked  # type: ignore[misc]
        assert row is not None and r.values is not None
        changes: dict[str, Any] = {}
        for name in r.values:
            if name in ("tags", "custom", "stage") or name.startswith(m.CUSTOM):
                continue
            new = row.get(name)
            if new != getattr(obj, name, None):
                changes[name] = new
        if "stage" in r.values and row.get("stage_id") != obj.stage_id:
            changes["stage"] = row["stage_id"]
        if tags is not None:
            names = tags.split(",") if isinstance(tags, str) else list(tags)
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
        s.flush()


class _RollBack(Exception):
    """Ends a dry run's transaction without committing it."""


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]
