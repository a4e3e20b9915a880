"""The import wizard's view-model: a file of contacts, companies, deals, activities or
interactions into the workspace in the steps a manager follows: upload it, check which
field each column fills (the guess, editable), preview (a dry run: how many rows would
be created, updated, unchanged or rejected, with examples), import with progress, then
the counts and the rejected rows with their reasons. Tested without a browser; laid
out by :mod:`widgets.import_wizard`.

The work is ``ws.importer`` (:mod:`crm_core.imports`): the wizard chooses its arguments
and shows its report, so a file imports the same here, from a notebook and with
``crmbook import``.

Importing writes the whole team's records: only managers and admins may. crm_core
refuses the run to anyone else; the model refuses already at the upload, so a sales
user's file never lands on the server.

Options say what a run may do (``mode``: add and update, only add, only update), which
keys find the record a row stands for (``match``), whether columns crm_core does not
know become new custom fields (``custom``) and which sheet of a workbook is read
(``sheet``); as the mapping, each is what the preview ran, so changing one asks for a
new preview before the import.

The uploaded file is kept on the server (:mod:`widgets.uploads`) until the next upload,
:meth:`ImportWizardModel.discard` or the session's end. It comes through the page's
websocket in one message, so its size is limited (``limit``); a larger file is for
``crmbook import`` on the server.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import param

from crm_core import AccessDenied, Workspace, access
from crm_core.errors import ImportRefused
from crm_core.imports.dates import ORDERS
from crm_core.imports.mapping import CUSTOM, FIELDS
from crm_core.imports.matching import ENTITY_KEYS
from crm_core.imports.reading import open_source
from crm_core.imports.report import OUTCOMES, ImportReport
from crm_core.imports.run import ENTITIES as KINDS
from crm_core.imports.run import MODES, REQUIRED
from widgets.field_labels import FIELD_LABELS
from widgets.i18n import N_, _, format_number, ngettext
from widgets.long_work import LongWorkModel
from widgets.uploads import Upload

#: What may be imported, by the names ``ws.importer`` takes, with their labels.
ENTITIES = {
    "contacts": N_("Contacts"),
    "companies": N_("Companies"),
    "opportunities": N_("Deals"),
    "activities": N_("Activities"),
    "interactions": N_("Interactions"),
}
#: What a run may do with a row (``ws.importer``'s modes), with their labels.
MODE_LABELS = {
    "upsert": N_("Add new and update"),
    "create": N_("Only add new"),
    "update": N_("Only update existing"),
}
assert set(MODE_LABELS) == set(MODES)
#: How each order of dates is shown (crm_core.imports.dates).
DATE_LABELS = {
    "YMD": N_("2026-12-25 (year, month, day)"),
    "DMY": N_("25/12/2026 (day, month, year)"),
    "MDY": N_("12/25/2026 (month, day, year)"),
}
assert tuple(DATE_LABELS) == ORDERS
#: How a match key is shown.
KEY_LABELS = {
    "erp_id": N_("ERP id"),
    "vat": N_("VAT number"),
    "email": N_("E-mail"),
    "phone": N_("Phone"),
    "name": N_("Name"),
}
#: The largest file the page takes (bytes). Bokeh refuses a websocket message over
#: 20 MB by closing the page's connection, and a file arrives base64-encoded (a third
#: larger) in one message: 10 MB leaves room to say "too large" instead of
#: disconnecting for files up to half again as large.
UPLOAD_LIMIT = 10 * 1024 * 1024
#: The largest websocket message the staff app's server takes: a chosen file arrives in
#: one, in base64 (4/3 of its size), so files up to about 45 MB reach the wizard, which
#: then says they are too large; a larger one still ends the page's connection.
UPLOAD_MESSAGE_BYTES = 64 * 1024 * 1024
#: The file kinds offered by the file chooser (crm_core reads the content, whatever the
#: extension: XLSX by its signature, anything else as delimited text).
SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
#: How many rows are read for the example values shown beside the columns.
EXAMPLE_ROWS = 20
#: How an outcome is shown.
OUTCOME_LABELS = {
    "created": N_("Created"),
    "updated": N_("Updated"),
    "unchanged": N_("Unchanged"),
    "rejected": N_("Rejected"),
}
MAPPING_COLUMNS = ["column", "field", "example", "note"]
OUTCOME_COLUMNS = ["outcome", "rows", "examples"]
#: The wizard's steps: no file yet, columns to check, previewed, imported.
STEPS = ("upload", "columns", "previewed", "imported")


def may_import(ws: Workspace) -> bool:
    """Whether the acting user may import: a role that sees every record (crm_core's
    own rule, :func:`crm_core.access.own_only`; an import writes the whole team's)."""
    return access.own_only(ws) is None


#: How a column left out shows in the mapping table's field list.
LEFT_OUT = N_("(leave out)")
#: How a column that becomes a new custom field shows in the mapping table.
NEW_CUSTOM = N_("new custom field")


def field_choices(
    fields: list[str], custom: dict[str, str], taken: tuple[str, ...] = ()
) -> dict[str, str]:
    """``fields`` (crm_core's names; ``custom.<name>`` for custom fields, labelled by
    ``custom``: name -> label) as the mapping table names them, in the session's
    language: field -> label, every label told apart (a clash, with another or with
    one of ``taken``, gets the name after it)."""
    labels: dict[str, str] = {}
    for field in fields:
        if field.startswith(CUSTOM):
            name = field[len(CUSTOM) :]
            label = custom.get(name) or name
        else:
            label = _(FIELD_LABELS[field]) if field in FIELD_LABELS else field
        labels[field] = label
    seen: dict[str, int] = {}
    for label in labels.values():
        seen[label] = seen.get(label, 0) + 1
    return {
        f: (f"{label} ({f})" if seen[label] > 1 or label in taken else label)
        for f, label in labels.items()
    }


class ImportWizardModel(LongWorkModel):
    """The import wizard's state and actions.

    :meth:`upload` takes a file's bytes and reads its columns; :meth:`set_field`
    changes what a column fills; :meth:`preview` runs a dry run and :meth:`run_import`
    the import itself, each with ``progress`` (in a thread when served, see
    :mod:`widgets.long_work`). After an import, ``rejects_file`` is the file of the
    rows refused, each with its line, field, value and reason.
    """

    entity = param.Selector(
        default="contacts", objects=list(ENTITIES), doc="What the file's rows are."
    )
    file_name = param.String(default="", doc="The uploaded file's name ('' before one).")
    mapping = param.DataFrame(
        default=None,
        doc="One row per column of the file: column, field (what it fills, '' for left "
        "out), example (a value from the file) and note (why a column is left out).",
    )
    choices = param.List(
        default=[],
        item_type=str,
        doc="The fields a column may fill for the entity (custom.<name> for custom fields).",
    )
    step = param.Selector(
        default="upload",
        objects=list(STEPS),
        doc="Where the wizard is: upload (no file), columns (to check), previewed (the "
        "mapping as shown was dry-run), imported.",
    )
    outcome = param.DataFrame(
        default=None,
        doc="The last preview's or import's outcome: outcome (shown label), rows, examples.",
    )
    report = param.Parameter(default=None, doc="The last ImportReport (preview or import).")
    rejects_file = param.String(
        default="", doc="The last import's rejects file ('' when none was rejected)."
    )
    rejects_name = param.String(default="", doc="The name the rejects file downloads as.")
    mode = param.Selector(
        default="upsert",
        objects=list(MODE_LABELS),
        doc="What the run may do: upsert (add and update), create (only add), update.",
    )
    dates = param.Selector(
        default="YMD",
        objects=list(DATE_LABELS),
        doc="The order the file writes dates in: YMD (ISO), DMY or MDY.",
    )
    keys = param.List(
        default=[], item_type=str, doc="The keys the entity's rows may be matched on."
    )
    match = param.List(
        default=[],
        item_type=str,
        doc="The keys existing records are found by (a subset of keys; all by default).",
    )
    custom = param.Boolean(
        default=False, doc="Columns no field takes become new text custom fields."
    )
    sheets = param.List(
        default=[], item_type=str, doc="The sheets of an uploaded workbook ([] for text)."
    )
    sheet = param.String(default="", doc="The sheet read ('' for a text file).")
    limit = param.Integer(
        default=UPLOAD_LIMIT, bounds=(1, None), doc="The largest file taken, in bytes."
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        self._upload: Upload | None = None
        #: The columns no field takes -> the new custom field each would be.
        self._unknown: dict[str, str] = {}
        self.mapping = _frame([], MAPPING_COLUMNS)
        self.outcome = _frame([], OUTCOME_COLUMNS)
        self.choices = self._choices()
        self._set_keys()
        if not self.may_import:
            self._say(self._refusal(), "danger")

    @property
    def may_import(self) -> bool:
        """Whether the acting user may import (managers, admins, the owner)."""
        return may_import(self.ws)

    @property
    def has_keys(self) -> bool:
        """Whether the entity's rows are matched by keys and may have custom fields
        (contacts, companies, deals; not activities or interactions)."""
        return KINDS[self.entity] in ENTITY_KEYS

    @property
    def path(self) -> Path | None:
        """Where the uploaded file is kept on the server (None before an upload)."""
        return self._upload.path if self._upload is not None else None

    # -- the file ------------------------------------------------------------------------
    def upload(self, data: bytes, name: str) -> bool:
        """Take the file ``name`` with content ``data``: keep it in a private temporary
        folder and guess what its columns fill. True when its columns were read."""
        if not self._allowed() or self._busy():
            return False
        shown = Path(str(name or "").replace("\\", "/")).name  # a browser may send a path
        suffix = Path(shown).suffix.lower()
        if suffix not in SUFFIXES:
            self._say(
                _("{file}: choose a CSV or XLSX file ({suffixes}).").format(
                    file=shown or "?", suffixes=", ".join(SUFFIXES)
                ),
                "danger",
            )
            return False
        if len(data) > self.limit:
            self._say(
                _(
                    "{file} is {size} MB; the page takes files up to {limit} MB. Split it, "
                    "or import it on the server with crmbook import."
                ).format(file=shown, size=megabytes(len(data)), limit=megabytes(self.limit)),
                "danger",
            )
            return False
        if not data.strip():
            self._say(_("{file} is empty.").format(file=shown), "danger")
            return False
        self.discard()
        self._upload = Upload(data, suffix)
        sheets = _sheet_names(self._upload.path)
        self.param.update(file_name=shown, sheets=sheets, sheet=sheets[0] if sheets else "")
        return self._guess()

    def discard(self) -> None:
        """Forget the uploaded file (removed from the server) and what was shown of it."""
        if self._upload is not None:
            self._upload.remove()
        self._upload = None
        self._unknown = {}
        self.param.update(
            file_name="",
            sheets=[],
            sheet="",
            mapping=_frame([], MAPPING_COLUMNS),
            step="upload",
            report=None,
            rejects_file="",
            rejects_name="",
        )
        self._clear_outcome()

    def session_ended(self) -> None:
        """Remove the uploaded file from the server (its page has gone; nothing is
        shown any more, so nothing else changes)."""
        if self._upload is not None:
            self._upload.remove()

    @param.depends("entity", watch=True)
    def _entity_changed(self) -> None:
        self.choices = self._choices()
        self._set_keys()
        if self._upload is not None and not self.running:
            self._guess()

    def _set_keys(self) -> None:
        keys = list(ENTITY_KEYS.get(KINDS[self.entity], ()))
        self.param.update(keys=keys, match=keys)

    @param.depends("sheet", watch=True)
    def _sheet_changed(self) -> None:
        if self._upload is not None and self.sheet and not self.running:
            self._guess()

    @param.depends("mode", "match", "dates", watch=True)
    def _option_changed(self) -> None:
        self._outdated()

    @param.depends("custom", watch=True)
    def _custom_changed(self) -> None:
        if self._upload is None:
            return
        self.param.update(mapping=self._with_custom(self.mapping.copy()))
        self._outdated()

    def _outdated(self) -> None:
        """An option changed: what was previewed or imported no longer applies (as for a
        changed mapping, the import waits for a new preview)."""
        if self.step in ("previewed", "imported"):
            self.step = "columns"
            self._clear_outcome()

    def _with_custom(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with the columns no field takes as new custom fields (``custom``
        on) or left out (off); columns given a field or left out by hand stay so."""
        for index, column in frame["column"].items():
            name = self._unknown.get(column)
            if name is None:
                continue
            field = frame.at[index, "field"]
            if self.custom and self.has_keys and field == "":
                frame.loc[index, ["field", "note"]] = [name, _new_note(name)]
            elif not (self.custom and self.has_keys) and field == name:
                frame.loc[index, ["field", "note"]] = [
                    "",
                    _("left out: choose a field to import it"),
                ]
        return frame

    def new_custom_field(self, column: str) -> str:
        """The new custom field ``column`` would be ('' when a field takes its name or
        ``custom`` is off: then it cannot be one)."""
        return self._unknown.get(column, "") if self.custom and self.has_keys else ""

    def new_custom(self) -> dict[str, str]:
        """The columns that become new custom fields -> the field (custom.<name>)."""
        pairs = zip(self.mapping["column"], self.mapping["field"], strict=True)
        return {c: f for c, f in pairs if f and self._unknown.get(c) == f}

    def choice_labels(self) -> dict[str, str]:
        """The fields a column may fill (:attr:`choices`) -> how the page names them, in
        the session's language (a custom field by its label)."""
        custom: dict[str, str] = {}
        kind = KINDS.get(self.entity)
        if kind in ("contact", "company", "opportunity"):
            defined = self.ws.custom_fields.list(kind)
            custom = dict(zip(defined["name"], defined["label"], strict=True))
        return field_choices(list(self.choices), custom, (_(LEFT_OUT), _(NEW_CUSTOM)))

    def _choices(self) -> list[str]:
        kind = KINDS[self.entity]
        fields = list(FIELDS[kind])
        if kind in ("contact", "company", "opportunity"):
            defined = self.ws.custom_fields.list(kind)
            fields += [f"{CUSTOM}{name}" for name in defined["name"]]
        return fields

    def _guess(self) -> bool:
        """Read the file's columns, what crm_core guesses they fill, and an example of
        each; the outcome of an earlier preview no longer applies."""
        assert self._upload is not None
        sheet = self.sheet or None
        try:
            guessed = self.ws.importer.columns(self._upload.path, self.entity, sheet=sheet)
            unknown = {}
            if self.has_keys:  # what each column no field takes would be as a custom field
                kept = self.ws.importer.columns(
                    self._upload.path, self.entity, custom=True, sheet=sheet
                )
                unknown = {
                    c: f
                    for c, f in zip(kept["column"], kept["field"], strict=True)
                    if f.startswith(CUSTOM) and f not in self.choices
                }
            columns, examples = _peek(self._upload.path, sheet)
        except ImportRefused as exc:
            reason = self._reason(exc)
            self.discard()  # nothing can be done with a file that cannot be read
            self._say(reason, "danger")
            return False
        fields = dict(zip(guessed["column"], guessed["field"], strict=True))
        rows = []
        for column in columns:  # in the file's order (crm_core lists the mapped first)
            field = fields.get(column, "")
            # What crm_core leaves out it says in words ("(ignored: ...)"): not a field.
            fills = field if field in self.choices else ""
            note = "" if fills else _("left out: choose a field to import it")
            rows.append([column, fills, examples.get(column, ""), note])
        self._unknown = unknown
        frame = self._with_custom(_frame(rows, MAPPING_COLUMNS))
        self.param.update(mapping=frame, step="columns")
        self._clear_outcome()
        kept = int((frame["field"] != "").sum())
        self._say(
            ngettext(
                "{file}: {n} column; {kept} fill a field. Check them, then preview.",
                "{file}: {n} columns; {kept} fill a field. Check them, then preview.",
                len(rows),
            ).format(file=self.file_name, n=format_number(len(rows)), kept=format_number(kept)),
            "info",
        )
        return True

    def set_field(self, column: str, field: str) -> bool:
        """Make ``column`` fill ``field`` ('' leaves it out). A field fills from one
        column: the column that filled it before is left out. True when changed."""
        if not self._allowed() or self._busy():
            return False
        frame = self.mapping.copy()
        found = frame.index[frame["column"] == column].tolist()
        if not found:
            self._say(_("The file has no column {column}.").format(column=column), "danger")
            return False
        field = (field or "").strip()
        if field and field not in self.choices and field != self._unknown.get(column):
            self._say(
                _("{field} is no field of {entity}.").format(
                    field=field, entity=_(ENTITIES[self.entity])
                ),
                "danger",
            )
            return False
        before = frame.index[(frame["field"] == field) & (frame["column"] != column)].tolist()
        if field and before:
            frame.loc[before, ["field", "note"]] = ["", _("left out: another column fills it")]
        frame.loc[found, ["field", "note"]] = [
            field,
            (_new_note(field) if field not in self.choices else "")
            if field
            else _("left out: choose a field to import it"),
        ]
        self.param.update(mapping=frame, step="columns")
        self._clear_outcome()
        label = self.choice_labels().get(field, field)
        if not field:
            said = _("{column} is left out.").format(column=column)
        elif before:
            said = _("{column} now fills {field}; {other} is left out.").format(
                column=column, field=label, other=frame.loc[before[0], "column"]
            )
        else:
            said = _("{column} now fills {field}.").format(column=column, field=label)
        self._say(said, "info")
        return True

    def column_map(self) -> dict[str, str]:
        """The mapping as ``ws.importer`` takes it: every column, a field or ``-``
        (left out), so that the run does exactly what the table shows; a column that
        becomes a new custom field is left to crm_core (``custom``), which defines it
        (a preview's dry run in its own transaction, rolled back with it)."""
        new = self.new_custom()
        pairs = zip(self.mapping["column"], self.mapping["field"], strict=True)
        return {str(column): (field or "-") for column, field in pairs if column not in new}

    def run_options(self) -> dict[str, Any]:
        """The options as ``ws.importer.run`` takes them (activities and interactions
        take no match and no custom)."""
        options: dict[str, Any] = {"mode": self.mode, "sheet": self.sheet or None}
        if self.dates != "YMD":
            options["dates"] = self.dates
        if self.has_keys:
            options.update(match=list(self.match), custom=bool(self.new_custom()))
        return options

    # -- preview and import --------------------------------------------------------------
    def preview(self) -> ImportReport | None:
        """A dry run of the file with the mapping shown: the outcome it would have,
        nothing written. Returns the report when it ran here and then (None when
        refused, failed or running in the background: watch ``running``)."""
        return self._start(dry_run=True)

    def run_import(self) -> ImportReport | None:
        """Import the file with the mapping last previewed. Returns the report as
        :meth:`preview` does."""
        if self.step != "previewed" and self.may_import and self._upload is not None:
            self._say(_("Preview first: the import runs what the preview showed."), "warning")
            return None
        return self._start(dry_run=False)

    def _start(self, dry_run: bool) -> ImportReport | None:
        if not self._allowed() or self._busy():
            return None
        if self._upload is None:
            self._say(_("Upload a file first."), "warning")
            return None
        kind = KINDS[self.entity]
        filled = set(self.mapping["field"])
        # crm_core refuses such a run too, but in English and naming --map: say it here
        # in the page's words.
        if REQUIRED[kind] not in filled and not (
            kind == "contact" and {"first_name", "last_name"} & filled
        ):
            self._say(
                _("No column fills the {field}: choose one in the table.").format(
                    field=REQUIRED[kind]
                ),
                "warning",
            )
            return None
        if self.has_keys and not self.match:
            self._say(_("Choose at least one key to match the rows on."), "warning")
            return None
        self.param.update(
            running=True,
            progress=0,
            progress_text=_("Reading {file}").format(file=self.file_name),
        )
        self._say("", "info")
        return self._launch(
            self._run,
            self.entity,
            self.column_map(),
            self.run_options(),
            dry_run,
            name="crmbook-import-wizard",
        )

    def _run(
        self, entity: str, column_map: dict[str, str], options: dict[str, Any], dry_run: bool
    ) -> Any:
        assert self._upload is not None
        source = self._upload.path
        stem = Path(self.file_name).stem
        # rejects are written as CSV or XLSX (a .txt or .tsv upload's as CSV)
        suffix = ".xlsx" if source.suffix.lower() == ".xlsx" else ".csv"
        rejects = self._upload.folder / ("preview" if dry_run else "import") / f"rejects{suffix}"
        rejects.parent.mkdir(exist_ok=True)
        try:
            report = self.ws.importer.run(
                source,
                entity,
                map=column_map,
                dry_run=dry_run,
                **options,
                rejects=rejects,
                progress=self._progress,
            )
        except (AccessDenied, ImportRefused) as exc:
            self.param.update(running=False, progress=0, progress_text="")
            self._say(self._reason(exc), "danger")
            return None
        except Exception as exc:  # shown to the user instead of a bar that never ends
            self.param.update(running=False, progress=0, progress_text=_("Failed"))
            failed = (
                _("The preview failed: {reason}")
                if dry_run
                else _(
                    "The import stopped: {reason}. The rows before it are in; import the "
                    "file again to go on (they will count as unchanged)."
                )
            )
            self._say(failed.format(reason=self._reason(exc)), "danger")
            return None
        done = not dry_run
        self.param.update(
            running=False,
            progress=100,
            progress_text=_("Done"),
            report=report,
            outcome=outcome_frame(report),
            step="imported" if done else "previewed",
            rejects_file=str(rejects) if done and report.rejected else "",
            rejects_name=f"{stem}.rejects{suffix}" if done and report.rejected else "",
        )
        self._say(self._summary(report), "warning" if report.rejected else "success")
        return report

    def _progress(self, report: ImportReport, fraction: float | None) -> None:
        # XLSX files do not say how much is read (fraction None): the rows say it.
        percent = self.progress if fraction is None else min(99, int(100 * fraction))
        self.param.update(
            progress=max(self.progress, percent),
            progress_text=ngettext(
                "{n} row read: {created} new, {updated} updated, {unchanged} unchanged, "
                "{rejected} rejected",
                "{n} rows read: {created} new, {updated} updated, {unchanged} unchanged, "
                "{rejected} rejected",
                report.rows,
            ).format(**_counts(report)),
        )

    def _summary(self, report: ImportReport) -> str:
        counts = _counts(report)
        if report.dry_run:
            said = ngettext(
                "Preview of {file}: {n} row; {created} would be created, {updated} updated, "
                "{unchanged} unchanged and {rejected} rejected. Nothing is written yet.",
                "Preview of {file}: {n} rows; {created} would be created, {updated} updated, "
                "{unchanged} unchanged and {rejected} rejected. Nothing is written yet.",
                report.rows,
            ).format(file=self.file_name, **counts)
        else:
            said = ngettext(
                "Imported {file}: {n} row; {created} created, {updated} updated, "
                "{unchanged} unchanged, {rejected} rejected.",
                "Imported {file}: {n} rows; {created} created, {updated} updated, "
                "{unchanged} unchanged, {rejected} rejected.",
                report.rows,
            ).format(file=self.file_name, **counts)
            if report.rejected:
                said += " " + _("The rejected rows, each with its reason, are in the rejects file.")
        return " ".join([said, *report.failures])

    # -- internals ------------------------------------------------------------------------
    def _clear_outcome(self) -> None:
        self.param.update(
            outcome=_frame([], OUTCOME_COLUMNS), rejects_file="", rejects_name="", progress=0
        )
        self.progress_text = ""

    def _refusal(self) -> str:
        return _("Only managers and admins may import records; you are signed in as {who}.").format(
            who=f"{self.ws.login} ({self.ws.role})"
        )

    def _allowed(self) -> bool:
        if self.may_import:
            return True
        self._say(self._refusal(), "danger")
        return False

    def _busy(self) -> bool:
        if self.running:
            self._say(_("Wait for the running import to finish."), "warning")
        return self.running

    def _reason(self, exc: Exception) -> str:
        """What went wrong, naming the file as the user knows it (not the temporary
        copy's path on the server)."""
        text = str(exc)
        if self._upload is not None:
            text = text.replace(str(self._upload.path), self.file_name)
        return text


def outcome_frame(report: ImportReport) -> pd.DataFrame:
    """One row per outcome: its label, its count and up to five examples (line, name,
    the record, and for a rejected row why)."""
    rows = []
    for outcome in OUTCOMES:
        examples = []
        for e in report.examples.get(outcome, []):
            text = _("line {line}: {name}").format(line=e.line, name=e.name)
            # A dry run's new records are rolled back: their ids mean nothing.
            if e.record_id is not None and not (report.dry_run and outcome == "created"):
                text += f" #{e.record_id}"
            if e.detail:
                text += f" ({e.detail})"
            examples.append(text)
        rows.append([_(OUTCOME_LABELS[outcome]), report.counts[outcome], "; ".join(examples)])
    return _frame(rows, OUTCOME_COLUMNS)


def _counts(report: ImportReport) -> dict[str, str]:
    return {
        "n": format_number(report.rows),
        **{o: format_number(report.counts[o]) for o in OUTCOMES},
    }


def _peek(path: Path, sheet: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The file's columns in order, and a value of each from its first rows (the first
    not blank)."""
    source = open_source(path, sheet=sheet)
    found: dict[str, str] = {}
    rows = source.rows()
    try:
        for _line, cells in itertools.islice(rows, EXAMPLE_ROWS):
            for column, cell in zip(source.columns, cells, strict=False):
                text = "" if cell is None else str(cell).strip()
                if text and column not in found:
                    found[column] = text[:80]
    finally:
        rows.close()  # the file it reads is closed now, not when collected
    return list(source.columns), found


def _sheet_names(path: Path) -> list[str]:
    """The sheets of the workbook at ``path`` ([] for a text file or one that cannot
    be read: crm_core says what is wrong with it)."""
    with path.open("rb") as handle:
        if handle.read(4) != b"PK\x03\x04":  # as crm_core tells a workbook
            return []
        handle.seek(0)
        try:
            book = openpyxl.load_workbook(handle, read_only=True)
        except Exception:  # an unreadable file is refused by the guess, with the reason
            return []
        try:
            return list(book.sheetnames)
        finally:
            book.close()


def _new_note(field: str) -> str:
    return _("a new custom field, {field}").format(field=field)


def megabytes(size: int) -> str:
    """``size`` bytes in MB with one decimal, as the page's language writes it."""
    return format_number(round(size / (1024 * 1024), 1))


def _frame(rows: list[list[Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)
