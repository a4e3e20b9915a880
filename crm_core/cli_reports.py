"""``crmbook report`` and ``crmbook export``: reports in the terminal or as Excel.

``crmbook report`` lists the reports (built-in and plugins) and workbook layouts;
``crmbook report NAME`` prints one with its filters; ``--xlsx FILE`` writes it (or a
whole layout) as a workbook. ``crmbook export contacts --xlsx FILE`` writes a table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from babel import Locale, UnknownLocaleError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from crm_core.cli import (
    DEFAULT_WORKSPACE,
    WorkspaceOption,
    _print_frame,
    app,
    console,
    err,
    existing,
    fail,
    say,
)
from crm_core.errors import CrmError, ValidationError
from crm_core.export.tempfiles import target_problem
from crm_core.money import digit_groups, format_figure
from crm_core.reports import FILTERS, Column, Report
from crm_core.reports.base import currency_sources
from crm_core.terminal import cell, markup

#: Decimals of a ``number`` column in the terminal (a ratio such as MASE: 1.02).
NUMBER_DECIMALS = 2
#: Column kinds printed as figures: right-aligned, never wrapped.
NUMERIC_KINDS = ("int", "number", "money", "percent")
#: A text column folds its values, but is kept at least this wide (or its widest value).
TEXT_MIN_WIDTH = 10


def cell_width(text: str) -> int:
    """The cells ``text`` takes in the terminal (as :func:`cell` prints it)."""
    return cell(text).cell_len


def _shown(value: Any, kind: str) -> str:
    """A cell as text for the terminal, by its column kind (money: see :class:`_Amounts`)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if kind == "percent":
        return f"{float(value):.1%}"
    if kind == "money":  # an amount of no known currency: 2 decimals
        return f"{Decimal(str(value)):,.2f}"
    if kind == "number":
        return f"{float(value):,.{NUMBER_DECIMALS}f}"
    if kind == "int":
        return f"{int(value):,}"
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


class _Amounts:
    """Amounts written for the terminal: each in its currency's minor units (KWD
    3,070.125, JPY 1,500,001), its digits grouped as the workspace's
    ``amount_grouping`` asks (``locale``: as English in the workspace's region groups
    them, lakh/crore in ``en_IN``; ``western``; ``indian``; ``auto``: lakh/crore for
    INR, PKR, BDT and NPR)."""

    def __init__(self, grouping: str = "locale", region: str | None = None):
        digit_groups(grouping, "USD")  # refuses an unknown grouping now
        self.grouping = grouping
        self.locale = _english(region)

    def __call__(self, value: Any, currency: str | None) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return ""
        if not currency:
            return _shown(value, "money")
        return format_figure(value, currency, locale=self.locale, grouping=self.grouping)

    @classmethod
    def of(cls, ws: Any) -> _Amounts:
        """The workspace's grouping and region."""
        return cls(str(ws.setting("amount_grouping") or "locale"), ws.phone_region)


def _english(region: str | None) -> Locale:
    """English as written in ``region`` (``en_IN``: lakh/crore), or plain English."""
    if region:
        try:
            return Locale.parse(f"en_{region.upper()}")
        except (UnknownLocaleError, ValueError):
            pass
    return Locale.parse("en")


def _print_report(spec: Report, frame: pd.DataFrame, amounts: _Amounts | None = None) -> None:
    """Print ``frame`` (report ``spec``'s run); a money cell in its row's currency
    (the row's ``currency``, ``reporting_currency`` for ``*_converted`` columns, as
    the workbooks decide: :func:`~crm_core.reports.base.currency_sources`), else in
    the run's reporting currency, written by ``amounts`` (default: western grouping)."""
    amounts = amounts or _Amounts()
    table = Table(title=cell(spec.title), show_lines=False)
    declared = {c.name: c for c in spec.columns}
    columns: Sequence[Column] = [
        declared.get(str(name), Column(str(name), "text")) for name in frame.columns
    ]
    sources = currency_sources(columns, frame.attrs.get("reporting_currency") or None)
    rows: list[list[str]] = []
    for row in frame.itertuples(index=False):
        shown = []
        for i, (column, value) in enumerate(zip(columns, row, strict=True)):
            if i in sources:
                at, default = sources[i]
                own = row[at] if at is not None else None
                code = own if isinstance(own, str) and own else default
                shown.append(amounts(value, code))
            else:
                shown.append(_shown(value, column.kind))
        rows.append(shown)
    # A figure is never cut across lines (-1,16,45,678.90 in one piece): number columns
    # do not wrap and are as wide as their widest figure; text columns fold instead.
    # When even that does not fit the terminal, the table is drawn as wide as it needs
    # (the terminal then wraps whole lines; piped, each row stays one line).
    needed = 1  # the left border
    for i, column in enumerate(columns):
        numeric = column.kind in NUMERIC_KINDS
        widest = max((cell_width(r[i]) for r in rows), default=0)
        if numeric:
            table.add_column(
                cell(column.name),
                justify="right",
                no_wrap=True,
                overflow="ignore",
                min_width=max(widest, 1),
            )
            needed += max(widest, 1) + 3  # padding and the border
        else:
            narrowest = min(max(widest, 1), TEXT_MIN_WIDTH)
            table.add_column(cell(column.name), overflow="fold", min_width=narrowest)
            needed += narrowest + 3
    for shown in rows:
        table.add_row(*(cell(text) for text in shown))
    width = console.width
    if needed > width:
        console.width = needed  # print() clamps a wider width to the console's
        try:
            console.print(table, crop=False)
        finally:
            console.width = width
    else:
        console.print(table)
    if frame.empty:
        console.print("(no rows)")


class _Bar:
    """A rich progress bar fed by the exporter's ``progress(done, total, label)``."""

    def __init__(self, progress: Progress):
        self.progress = progress
        self.tasks: dict[str, Any] = {}

    def __call__(self, done: int, total: int | None, label: str) -> None:
        task = self.tasks.get(label)
        if task is None:
            # the description is read as markup: a report title is text
            task = self.tasks[label] = self.progress.add_task(markup(label), total=total)
        self.progress.update(task, completed=done, total=total)


def _warn_missing_rates(missing: str) -> None:
    """The warning of a report run that lacked exchange rates (``missing``, in words)."""
    err.print(f"warning: {markup(missing)}: converted cells left empty")


def _xlsx_checked(target: str) -> Path:
    """``--xlsx``'s path, refused in one line (``error: --xlsx PATH: why``) when no
    workbook can be written there: empty, a folder, in a folder that does not exist."""
    problem = target_problem(target)
    if problem is not None:
        fail(f"--xlsx {_quoted(target)}: {problem}")
    return Path(target)


def _quoted(text: str) -> str:
    """A path as typed, quoted when empty or holding spaces."""
    return repr(text) if not text.strip() or text != text.strip() or " " in text else text


def _filters_checked(filters: dict[str, Any]) -> dict[str, Any]:
    """The CLI's filter options as the reports take them: an empty one refused naming
    its option (``--from ""`` is not "no filter"). (An owner's id given as text, a team
    in another case: the reports read them, crm_core.reports.base.)"""
    for name, value in filters.items():
        if isinstance(value, str) and not value.strip():
            option = OPTION_NAMES.get(name, "--" + name)
            fail(f"{option} is empty: {FILTER_HINTS.get(name, 'give a value')}")
    return dict(filters)


#: The option of each filter, to name it in a refusal.
OPTION_NAMES = {"period_from": "--from", "period_to": "--to"}
#: What to give instead of an empty filter option.
FILTER_HINTS = {
    "period_from": "give the first day, YYYY-MM-DD, or leave the option out",
    "period_to": "give the last day, YYYY-MM-DD, or leave the option out",
    "owner": "give a login or user id, or leave the option out",
    "team": "give a team name, or leave the option out",
}


def _write(ws: Any, target: Path, what: list[str], **options: Any) -> None:
    missing: list[str] = []  # the rates each report sheet lacked
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,} rows"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        try:
            ws.export.xlsx(
                target,
                *what,
                progress=_Bar(progress),
                warn=missing.append,
                **options,
            )
        except ValidationError as exc:
            # the path turned out unwritable (a folder one may not write to...)
            bad = [e for e in exc.errors if e.record == "workbook" and e.field == "target"]
            if bad and len(bad) == len(exc.errors):
                fail(f"--xlsx {_quoted(str(target))}: {bad[0].reason}")
            raise
    say(f"workbook written to {target}")
    for text in dict.fromkeys(missing):  # a layout's reports may lack the same rate
        _warn_missing_rates(text)


@app.command()
def report(
    name: Annotated[
        str | None,
        typer.Argument(help="A report or workbook layout; leave out to list them."),
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    period_from: Annotated[
        str | None, typer.Option("--from", help="First day, YYYY-MM-DD.")
    ] = None,
    period_to: Annotated[str | None, typer.Option("--to", help="Last day, YYYY-MM-DD.")] = None,
    owner: Annotated[str | None, typer.Option(help="Login of the owner.")] = None,
    team: Annotated[str | None, typer.Option(help="Sales team.")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag name.")] = None,
    source: Annotated[str | None, typer.Option(help="Deal source.")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign name.")] = None,
    currency: Annotated[
        str | None,
        typer.Option(
            help="Reporting currency of the converted columns (default: the workspace's)."
        ),
    ] = None,
    xlsx: Annotated[str | None, typer.Option(help="Write an Excel workbook to this file.")] = None,
) -> None:
    """Print a report, or write it (or a workbook layout) to Excel with --xlsx."""
    target = _xlsx_checked(xlsx) if xlsx is not None else None
    filters = {
        "period_from": period_from,
        "period_to": period_to,
        "owner": owner,
        "team": team,
        "tag": tag,
        "source": source,
        "campaign": campaign,
    }
    filters = {k: v for k, v in filters.items() if v is not None}
    with existing(workspace) as ws:
        try:
            if name is None:
                _list(ws)
                return
            filters = _filters_checked(filters)
            if target is not None:
                # the workbook's reports convert to --currency once ws.export takes it
                more = {"currency": currency} if currency is not None else {}
                _write(ws, target, [name], **filters, **more)
                return
            if name not in ws.reports.names():
                layouts = ws.export.layouts()
                hint = " (a workbook layout: add --xlsx FILE)" if name in layouts else ""
                fail(f"no report named {name!r}{hint}; `crmbook report` lists them")
            frame = ws.reports.run(name, currency=currency, **filters)
            _print_report(ws.reports.spec(name), frame, _Amounts.of(ws))
            if frame.attrs.get("missing_rates"):
                _warn_missing_rates(str(frame.attrs["missing_rates"]))
        except CrmError as exc:
            fail(str(exc))


def _list(ws: Any) -> None:
    rows = []
    for report_name in ws.reports.names():
        spec = ws.reports.spec(report_name)
        # the period's two ends are one option pair (--from/--to): list it once
        shown = [f for f in FILTERS if f in spec.filters and f != "period_to"]
        filters = ", ".join(shown).replace("period_from", "period")
        rows.append((report_name, spec.title, filters))
    table = pd.DataFrame(rows, columns=["report", "title", "filters"])
    _print_frame(table, title="reports (crmbook report NAME)")
    layouts = pd.DataFrame(sorted(ws.export.layouts().items()), columns=["layout", "title"])
    _print_frame(layouts, title="workbook layouts (crmbook report NAME --xlsx FILE)")


@app.command()
def export(
    table: Annotated[str, typer.Argument(help="contacts, opportunities or activities.")],
    xlsx: Annotated[str, typer.Option(help="The Excel file to write.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    segment: Annotated[
        str | None, typer.Option(help="Only the records of this saved segment.")
    ] = None,
) -> None:
    """Export a whole table (or a segment of it) to an Excel workbook."""
    target = _xlsx_checked(xlsx)
    with existing(workspace) as ws:
        if table not in ws.export.tables():
            fail(f"cannot export {table!r}: choose one of {', '.join(ws.export.tables())}")
        try:
            _write(ws, target, [table], segment=segment)
        except CrmError as exc:
            fail(str(exc))
