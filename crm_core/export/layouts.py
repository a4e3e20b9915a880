"""Workbook layouts: which reports and tables a workbook holds, in which order, titled
how. A layout is a TOML file named ``<layout name>.toml``::

    title = "Sales review"            # the workbook's title (cover)
    description = "..."               # optional

    [[sheets]]
    report = "pipeline_by_stage"      # a report name (crmbook report lists them) ...
    title = "Pipeline"                # optional: the sheet's title (default: the report's)

    [[sheets]]
    report = "win_loss"
    filters = { source = "web" }      # optional: fixed filters for this sheet

    [[sheets]]
    table = "contacts"                # ... or a table: contacts, opportunities, activities
    segment = "Key accounts"          # optional, tables only

Layouts are looked up in, from lowest to highest priority: the built-in ones shipped
in the ``templates`` package (``templates/workbooks``), the folders listed in
``$CRMBOOK_TEMPLATES`` (separated by ``os.pathsep``; an earlier folder wins over a
later one) and the ``templates/workbooks`` folder beside a SQLite workspace file. A
layout found later overrides a built-in one with the same name.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from crm_core.errors import FieldError, NotFoundError, ValidationError
from crm_core.export.tables import TABLES
from crm_core.reports.base import FILTERS, Report
from crm_core.template_folders import ENV_VAR as TEMPLATES_VAR
from crm_core.template_folders import beside_workspace, built_in, search_folders

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

#: Environment variable: extra folders of layouts, separated by os.pathsep.
ENV_VAR = TEMPLATES_VAR
#: Where the shipped layouts are.
BUILT_IN = built_in("workbooks")

_TOP_KEYS = ("title", "description", "sheets")
_SHEET_KEYS = ("report", "table", "title", "filters", "segment")


@dataclass(frozen=True)
class SheetSpec:
    """One sheet of a layout: a ``report`` or a ``table`` (exactly one), an optional
    ``title``, fixed ``filters`` (reports) or ``segment`` (tables)."""

    report: str | None = None
    table: str | None = None
    title: str | None = None
    filters: Mapping[str, Any] = field(default_factory=dict)
    segment: str | None = None

    @property
    def source(self) -> str:
        """The report's or table's name."""
        return self.report or self.table or ""


@dataclass(frozen=True)
class Layout:
    """A parsed, structurally checked layout (see the module docstring)."""

    name: str
    title: str
    sheets: tuple[SheetSpec, ...]
    description: str = ""
    path: Path | None = None


def layout_dirs(ws: Workspace | None = None) -> list[Path]:
    """The folders searched for layouts, from lowest to highest priority."""
    return search_folders("workbooks", ws)


def workspace_dir(ws: Workspace) -> Path | None:
    """``templates/workbooks`` beside the workspace's SQLite file (None for a server
    database or an in-memory one)."""
    return beside_workspace(ws, "workbooks")


def available(ws: Workspace | None = None) -> dict[str, Path]:
    """Layout name -> the file that defines it (the highest-priority one), by name."""
    found: dict[str, Path] = {}
    for folder in layout_dirs(ws):
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found[path.stem] = path
    return dict(sorted(found.items()))


def load(name: str, ws: Workspace | None = None) -> Layout:
    """The layout called ``name``, parsed and structurally checked."""
    paths = available(ws)
    if name not in paths:
        raise NotFoundError("workbook layout", name)
    return parse(paths[name])


def parse(path: str | os.PathLike[str], name: str | None = None) -> Layout:
    """Read and check one layout file. Every problem is reported at once, naming the
    file, the sheet (1-based) and what is wrong; report names are checked later, by
    :func:`check`, against the reports known then."""
    path = Path(path)
    record = f"layout {str(path)!r}"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        reason = f"is not valid TOML: {exc}"
        raise ValidationError([FieldError(record, "toml", None, reason)]) from None
    except OSError as exc:
        reason = f"cannot be read: {exc}"
        raise ValidationError([FieldError(record, "file", None, reason)]) from None
    errors: list[FieldError] = []
    for key in data:
        if key not in _TOP_KEYS:
            errors.append(
                FieldError(
                    record, key, data[key], f"is not a layout key; use {', '.join(_TOP_KEYS)}"
                )
            )
    title = data.get("title")
    if not isinstance(title, str) or not title.strip():
        errors.append(FieldError(record, "title", title, "must be a non-empty string"))
        title = ""
    description = data.get("description", "")
    if not isinstance(description, str):
        errors.append(FieldError(record, "description", description, "must be a string"))
        description = ""
    raw_sheets = data.get("sheets")
    sheets: list[SheetSpec] = []
    if not isinstance(raw_sheets, list) or not raw_sheets:
        errors.append(
            FieldError(record, "sheets", raw_sheets, "must be a non-empty list of [[sheets]]")
        )
    else:
        for i, raw in enumerate(raw_sheets, start=1):
            spec = _sheet(f"{record} sheet {i}", raw, errors)
            if spec is not None:
                sheets.append(spec)
    if errors:
        raise ValidationError(errors)
    return Layout(
        name=name or path.stem,
        title=title.strip(),
        sheets=tuple(sheets),
        description=description.strip(),
        path=path,
    )


def _sheet(record: str, raw: Any, errors: list[FieldError]) -> SheetSpec | None:
    if not isinstance(raw, dict):
        errors.append(FieldError(record, "sheet", raw, "must be a table ([[sheets]])"))
        return None
    before = len(errors)
    for key in raw:
        if key not in _SHEET_KEYS:
            errors.append(
                FieldError(
                    record, key, raw[key], f"is not a sheet key; use {', '.join(_SHEET_KEYS)}"
                )
            )
    report, table = raw.get("report"), raw.get("table")
    if (report is None) == (table is None):
        errors.append(
            FieldError(record, "report", report, "give exactly one of 'report' or 'table'")
        )
    if report is not None and (not isinstance(report, str) or not report.isidentifier()):
        errors.append(FieldError(record, "report", report, "must be a report name (a_b_c)"))
    if table is not None and table not in TABLES:
        errors.append(FieldError(record, "table", table, f"must be one of {', '.join(TABLES)}"))
    title = raw.get("title")
    if title is not None and (not isinstance(title, str) or not title.strip()):
        errors.append(FieldError(record, "title", title, "must be a non-empty string"))
    filters = raw.get("filters", {})
    if not isinstance(filters, dict):
        errors.append(FieldError(record, "filters", filters, "must be a table of filter = value"))
        filters = {}
    if filters and table is not None:
        errors.append(FieldError(record, "filters", filters, "apply to reports, not to tables"))
    for key, value in filters.items():
        if key not in FILTERS:
            errors.append(
                FieldError(
                    record, f"filters.{key}", value, f"is not a filter; use {', '.join(FILTERS)}"
                )
            )
        elif isinstance(value, dict | list):
            errors.append(FieldError(record, f"filters.{key}", value, "must be a single value"))
    segment = raw.get("segment")
    if segment is not None:
        if table is None:
            errors.append(FieldError(record, "segment", segment, "applies to tables only"))
        elif not isinstance(segment, str | int) or isinstance(segment, bool):
            errors.append(FieldError(record, "segment", segment, "must be a segment name or id"))
    if len(errors) > before:
        return None
    return SheetSpec(
        report=report,
        table=table,
        title=title.strip() if title else None,
        filters=dict(filters),
        segment=None if segment is None else segment,
    )


def check(layout: Layout, reports: Mapping[str, Report]) -> None:
    """Check a layout's report names and fixed filters against the declared
    ``reports`` (usually :data:`crm_core.reports.REGISTRY`); every problem at once."""
    errors: list[FieldError] = []
    where = str(layout.path) if layout.path else layout.name
    for i, sheet in enumerate(layout.sheets, start=1):
        if sheet.report is None:
            continue
        record = f"layout {where!r} sheet {i}"
        spec = reports.get(sheet.report)
        if spec is None:
            known = ", ".join(sorted(reports)) or "none"
            errors.append(
                FieldError(
                    record, "report", sheet.report, f"is not a known report (known: {known})"
                )
            )
            continue
        for key, value in sheet.filters.items():
            if key not in spec.filters:
                accepted = ", ".join(f for f in FILTERS if f in spec.filters) or "none"
                errors.append(
                    FieldError(
                        record,
                        f"filters.{key}",
                        value,
                        f"does not apply to report {sheet.report!r} (filters: {accepted})",
                    )
                )
    if errors:
        raise ValidationError(errors)
