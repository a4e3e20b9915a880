"""Excel workbooks: ``ws.export``.

``ws.export.xlsx("review.xlsx")`` writes the ``sales_review`` layout;
``ws.export.xlsx(buffer, "funnel", "contacts", period_from="2026-01-01")`` writes a
report and a table into a ``BytesIO``. Everything goes through the one
:class:`~crm_core.export.workbook.WorkbookBuilder` (cover, formats, frozen header,
autofilter, fitted widths, charts, Excel's limits); layouts are described in
:mod:`crm_core.export.layouts`, tables in :mod:`crm_core.export.tables`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

import pandas as pd

from crm_core.errors import AccessDenied, FieldError, NotFoundError, ValidationError
from crm_core.export import layouts as layout_files
from crm_core.export import tables as table_exports
from crm_core.export.layouts import Layout
from crm_core.export.tables import TABLES
from crm_core.export.workbook import Progress, SheetInfo, WorkbookBuilder
from crm_core.money.rates import MISSING_PHRASES, missing_words
from crm_core.reports import labels
from crm_core.reports import notes as report_notes
from crm_core.reports.base import FILTERS, REGISTRY, Report

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

__all__ = ["DEFAULT_LAYOUT", "Export", "SheetInfo", "WorkbookBuilder"]

#: What ``ws.export.xlsx(target)`` writes when told nothing else.
DEFAULT_LAYOUT = "sales_review"

Target = TypeVar("Target", bound="str | os.PathLike[str] | IO[bytes]")


@dataclass
class _Sheet:
    """One planned sheet: a report (its frame computed before writing starts) or a
    table (streamed while writing)."""

    title: str
    report: Report | None = None
    table: str | None = None
    segment: int | str | None = None
    fixed: dict[str, Any] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    note: str = ""


class Export:
    """Excel workbooks from this workspace: ``ws.export``."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def tables(self) -> list[str]:
        """The tables that can be exported whole: contacts, opportunities, activities."""
        return list(TABLES)

    def layouts(self) -> dict[str, str]:
        """Layout name -> its title, built-in and the user's own (see
        :mod:`crm_core.export.layouts`). A layout file with errors is listed with
        them instead of a title."""
        out: dict[str, str] = {}
        for name, path in layout_files.available(self.ws).items():
            try:
                out[name] = layout_files.parse(path).title
            except ValidationError as exc:
                out[name] = f"(invalid: {exc})"
        return out

    def layout(self, name: str) -> Layout:
        """Layout ``name``, parsed and checked against the known reports."""
        self.ws.reports.names()  # load the built-in reports and the plugins
        found = layout_files.load(name, self.ws)
        layout_files.check(found, REGISTRY)
        return found

    def xlsx(
        self,
        target: Target,
        *what: str,
        segment: int | str | None = None,
        progress: Progress | None = None,
        language: str | None = None,
        currency: str | None = None,
        warn: Callable[[str], None] | None = None,
        **filters: Any,
    ) -> Target:
        """Write a workbook to ``target`` (a path or a binary file object such as
        ``io.BytesIO``) and return ``target``.

        Each ``what`` is a layout name (its sheets, in order), a report name (one
        sheet) or a table name (contacts, opportunities, activities: the whole table,
        streamed); a name that is both a layout and a report means the layout. Nothing
        given means the ``sales_review`` layout. ``filters`` (period_from, period_to,
        owner, team, tag, source, campaign) go to every report that accepts them; the
        cover lists them and, per sheet, those a report did not take. A layout sheet's
        own fixed filters win over the given ones. ``segment`` restricts the tables
        (a segment of the table's entity; a layout's table sheet may name its own).
        ``progress(done_rows, total_rows, sheet_title)`` is called while tables stream.
        ``language`` is the language of the titles (default: the acting user's own
        language, else English; Urdu and Sindhi sheets read right to left);
        ``currency`` the reporting currency of the reports (default: the workspace's).
        ``warn(text)`` is told, per report sheet, the exchange rates its run lacked, in
        words (as the cover notes them; its converted cells are left empty).

        Every report runs before anything is written, so a bad filter fails fast and
        leaves ``target`` untouched.
        """
        self.ws.reports.names()  # load the built-in reports and the plugins
        given = {k: v for k, v in filters.items() if v is not None}
        unknown = [k for k in given if k not in FILTERS]
        if unknown:
            raise ValidationError(
                [
                    FieldError("export", k, given[k], f"is not a filter; use {', '.join(FILTERS)}")
                    for k in unknown
                ]
            )
        wanted = list(what) or [DEFAULT_LAYOUT]
        language = labels.language_code(language or self._user_language())
        sheets, title = self._plan(wanted, segment)
        for sheet in sheets:
            self._prepare(sheet, given, currency, language)
            missing = sheet.frame.attrs.get("missing_rates") if sheet.frame is not None else ""
            if missing and warn is not None:
                warn(str(missing))
            sheet.title = labels.title(sheet.title, language)
        title = labels.title(title, language)
        tz = self.ws.timezone
        parameters: dict[str, Any] = {"contents": ", ".join(wanted)}
        parameters.update(given)
        if currency is not None:
            parameters["currency"] = currency
        if segment is not None:
            parameters["segment"] = segment
        if self.ws.login:
            parameters["user"] = f"{self.ws.login} ({self.ws.role})"
        with WorkbookBuilder(
            target,
            title=title,
            parameters=parameters,
            generated_at=self.ws.clock().astimezone(tz),
            timezone=tz,
            progress=progress,
            language=language,
            grouping=str(self.ws.setting("amount_grouping") or "locale"),
        ) as book:
            for sheet in sheets:
                if sheet.report is not None:
                    assert sheet.frame is not None
                    spec = sheet.report
                    book.add_frame(
                        sheet.title,
                        sheet.frame,
                        spec.columns,
                        spec.chart,
                        note=sheet.note,
                        report=spec.name,
                        currency=sheet.frame.attrs.get("reporting_currency") or currency,
                    )
                else:
                    assert sheet.table is not None
                    data = table_exports.table(self.ws, sheet.table, segment=sheet.segment)
                    book.add_table(
                        sheet.title,
                        data.columns,
                        data.rows,
                        total_rows=data.total,
                        note=sheet.note,
                    )
        return target

    # -- planning -------------------------------------------------------------------------
    def _plan(self, wanted: list[str], segment: int | str | None) -> tuple[list[_Sheet], str]:
        """The sheets ``wanted`` names, in order, and the workbook's title; every
        unknown name is reported at once."""
        errors: list[FieldError] = []
        sheets: list[_Sheet] = []
        titles: list[str] = []
        known_layouts = layout_files.available(self.ws)
        for item in wanted:
            if item in TABLES:
                title = item.capitalize()
                sheets.append(_Sheet(title=title, table=item, segment=segment))
                titles.append(title)
            elif item in known_layouts:
                found = layout_files.parse(known_layouts[item], item)
                layout_files.check(found, REGISTRY)
                titles.append(found.title)
                for spec in found.sheets:
                    if spec.report is not None:
                        report = REGISTRY[spec.report]
                        sheets.append(
                            _Sheet(
                                title=spec.title or report.title,
                                report=report,
                                fixed=dict(spec.filters),
                            )
                        )
                    else:
                        assert spec.table is not None
                        sheets.append(
                            _Sheet(
                                title=spec.title or spec.table.capitalize(),
                                table=spec.table,
                                segment=spec.segment if spec.segment is not None else segment,
                            )
                        )
            elif item in REGISTRY:
                report = REGISTRY[item]
                sheets.append(_Sheet(title=report.title, report=report))
                titles.append(report.title)
            else:
                errors.append(
                    FieldError(
                        "export",
                        "what",
                        item,
                        "is not a layout, report or table; layouts: "
                        f"{', '.join(known_layouts) or 'none'}; reports: "
                        f"{', '.join(sorted(REGISTRY)) or 'none'}; tables: {', '.join(TABLES)}",
                    )
                )
        if segment is not None and not any(s.table for s in sheets) and not errors:
            errors.append(
                FieldError(
                    "export",
                    "segment",
                    segment,
                    f"applies to tables ({', '.join(TABLES)}) and none is exported",
                )
            )
        if errors:
            raise ValidationError(errors)
        title = titles[0] if len(titles) == 1 else "crmbook export"
        return sheets, title

    def _user_language(self) -> str | None:
        """The acting user's own language setting (None without a user or a setting)."""
        if not self.ws.login:
            return None
        try:
            found = self.ws.users.get(self.ws.login).get("language")
        except (NotFoundError, AccessDenied):  # removed meanwhile: still written, in English
            return None
        return str(found) if found else None

    def _prepare(
        self, sheet: _Sheet, given: dict[str, Any], currency: str | None, language: str
    ) -> None:
        """Run a report sheet's report and write the sheet's cover note in the
        workbook's ``language`` (its words from labels.toml; filter names, values,
        currency codes and dates as they are)."""
        notes: list[str] = []

        def note(key: str, **fields: Any) -> None:
            notes.append(labels.word(key, language, **fields))

        if sheet.report is not None:
            spec = sheet.report
            taken = {k: v for k, v in given.items() if k in spec.filters}
            skipped = [k for k in given if k not in spec.filters]
            run = {**taken, **sheet.fixed}
            sheet.frame = self.ws.reports.run(spec.name, currency, **run)
            attrs = sheet.frame.attrs
            if sheet.fixed:
                note(
                    "note_fixed_filters",
                    filters=", ".join(f"{k}={v}" for k, v in sheet.fixed.items()),
                )
            if skipped:
                note("note_filters_not_applied", filters=", ".join(skipped))
            if attrs.get("missing_rates"):
                note("note_not_converted", rates=_missing(attrs, language))
            notes += report_notes.left_out(sheet.frame, language)
        else:
            if sheet.segment is not None:
                note("note_segment", segment=sheet.segment)
            if given:
                note("note_filters_not_applied", filters=", ".join(given))
        sheet.note = "; ".join(notes)


def _missing(attrs: dict[str, Any], language: str) -> str:
    """The rates a report's run missed, in ``language`` (its ``missing_rate_list``);
    its English ``missing_rates`` for a frame without the list (a plugin's own)."""
    listed = attrs.get("missing_rate_list")
    if not listed:
        return str(attrs["missing_rates"])
    phrases = {key: labels.word(f"missing_{key}", language) for key in MISSING_PHRASES}
    return missing_words(listed, str(attrs.get("reporting_currency") or ""), phrases)
