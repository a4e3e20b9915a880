"""``crmbook report`` and ``crmbook export``: reports in the terminal or as Excel.

``crmbook report`` lists the reports (built-in and plugins) and workbook layouts;
``crmbook report NAME`` prints one with its filters; ``--xlsx FILE`` writes it (or a
whole layout) as a workbook. ``crmbook export contacts --xlsx FILE`` writes a table.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from babel import Locale, UnknownLocaleError
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

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
from crm_core.reports import notes as report_notes
from crm_core.reports.base import currency_sources
from crm_core.terminal import cell, markup, printable

#: Decimals of a ``number`` column in the terminal (a ratio such as MASE: 1.02).
NUMBER_DECIMALS = 2
#: Column kinds printed as figures: right-aligned, never wrapped.
NUMERIC_KINDS = ("int", "number", "money", "percent")
#: A table too wide for the terminal shows a text column at most this wide (longer
#: values fold) and prints its other columns in blocks, each repeating the row's keys.
TEXT_MAX_WIDTH = 24


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
    the run's reporting currency, written by ``amounts`` (default: western grouping).

    A table wider than the terminal is printed as several blocks of columns, one under
    the other (see :func:`_blocks`): each block repeats the row's key columns (the
    customer, the stage...) and the currency of its amounts, so no amount is ever
    shown without what it belongs to and in what currency."""
    amounts = amounts or _Amounts()
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
    widths = [_column_width(c, [r[i] for r in rows], None) for i, c in enumerate(columns)]
    if _table_width(widths) > console.width:  # long texts fold rather than add blocks
        widths = [_column_width(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    needs = {i: at for i, (at, _default) in sources.items() if at is not None}
    blocks = _blocks(columns, widths, needs, console.width)
    for number, block in enumerate(blocks):
        title = spec.title if number == 0 else f"{spec.title} (continued)"
        table = Table(title=cell(title), show_lines=False)
        for i in block:
            numeric = columns[i].kind in NUMERIC_KINDS
            table.add_column(
                _header(columns[i].name, widths[i]),
                justify="right" if numeric else "left",
                no_wrap=numeric,
                overflow="ignore" if numeric else "fold",
                width=widths[i],
            )
        for shown in rows:
            table.add_row(*(cell(shown[i]) for i in block))
        _print_table(table, _table_width([widths[i] for i in block]))
    if frame.empty:
        console.print("(no rows)")


#: Columns with these names (or ending ``_id``) are not a row's key: a name is.
_NOT_KEYS = ("sequence",)


def _column_width(column: Column, values: Sequence[str], most: int | None = TEXT_MAX_WIDTH) -> int:
    """A column's width in the terminal: a figure's widest value (a figure never
    wraps); a text's widest value, at most ``most`` (longer values fold); never
    narrower than the longest part of its name between underscores (the header wraps
    there, see :func:`_header`)."""
    widest = max((cell_width(v) for v in values), default=0)
    if column.kind not in NUMERIC_KINDS and most is not None:
        widest = min(widest, most)
    header = max(cell_width(part) for part in _header_parts(column.name))
    return max(widest, header, 1)


def _header_parts(name: str) -> list[str]:
    """``weighted_value_converted`` -> ``weighted_``, ``value_``, ``converted``."""
    return re.findall(r"[^_]*_+|[^_]+$", name) or [name]


def _header(name: str, width: int) -> Text:
    """A column's name wrapped at its underscores to fit ``width`` (``reporting_`` over
    ``currency``), never inside a word; :func:`printable` like any cell."""
    lines: list[str] = []
    for part in _header_parts(name):
        if lines and cell_width(lines[-1] + part) <= width:
            lines[-1] += part
        else:
            lines.append(part)
    return Text("\n".join(printable(line) for line in lines))


def _table_width(widths: Sequence[int]) -> int:
    """The cells a table of columns this wide takes: each column's padding (2) and
    border (1), and the left border."""
    return 1 + sum(w + 3 for w in widths)


def _keys(columns: Sequence[Column]) -> list[int]:
    """The columns that say what a row is: the text and date columns before its first
    figure (``customer``, ``customer_type``, ``currency``; ``pipeline``, ``stage``);
    ids and sequences are passed over (a name says more than an id)."""
    keys = []
    for i, column in enumerate(columns):
        if column.name.endswith("_id") or column.name in _NOT_KEYS:
            continue
        if column.kind in NUMERIC_KINDS:
            break
        keys.append(i)
    return keys


def _blocks(
    columns: Sequence[Column], widths: Sequence[int], needs: dict[int, int], width: int
) -> list[list[int]]:
    """The columns of each block a table is printed in: all in one when they fit in
    ``width``; else as many as fit in each block, in their order, each block holding
    the key columns (:func:`_keys`) and, beside each amount, the column giving its
    currency (``needs``: money column -> currency column). A block with a single
    column too wide for ``width`` is drawn as wide as it needs."""
    if _table_width(widths) <= width:
        return [list(range(len(columns)))]
    keys = _keys(columns)
    blocks: list[list[int]] = []
    block: set[int] = set(keys)
    for i in range(len(columns)):
        if i in block and i in keys:
            continue
        adding = {i} | ({needs[i]} if i in needs else set())
        grown = block | adding
        if _table_width([widths[j] for j in grown]) > width and block - set(keys):
            blocks.append(sorted(block))
            block, grown = set(keys), set(keys) | adding
        block = grown
    blocks.append(sorted(block))
    return [b for b in blocks if set(b) - set(keys)] or [sorted(keys)]


def _print_table(table: Table, needed: int) -> None:
    """Print ``table``; one wider than the terminal is drawn as wide as it needs (the
    terminal then wraps whole lines; piped, each row stays one line)."""
    width = console.width
    if needed > width:
        console.width = needed  # print() clamps a wider width to the console's
        try:
            console.print(table, crop=False)
        finally:
            console.width = width
    else:
        console.print(table)


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
    workbook can be written there: empty, a folder, in a folder that does not exist,
    a name not ending in .xlsx (:func:`~crm_core.export.tempfiles.target_problem`)."""
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
            for line in report_notes.left_out(frame):
                err.print(f"note: {markup(line)}")
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
