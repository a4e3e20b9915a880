"""The one Excel workbook builder every export uses.

:class:`WorkbookBuilder` writes an ``.xlsx`` file (or a binary file object such as a
``BytesIO``) with xlsxwriter in ``constant_memory`` mode: each sheet streams its rows to
a temporary file as they come, so a million-row table costs no more memory than ten.

What every workbook gets:

- a cover sheet first: the title, every parameter, the generation time and time zone,
  and the list of sheets (linked) with their row counts and notes;
- per table: the column identifiers in a hidden first row (for programs:
  ``pandas.read_excel(file, sheet, skiprows=[1])``), then a bold header row of the
  columns' titles in the workbook's language (crm_core.reports.labels), cell formats by
  column kind (see :data:`FORMATS`; ``bool`` columns as Excel booleans), the header
  frozen, an autofilter over the written range, column widths fitted to the header and
  the first :data:`WIDTH_SAMPLE_ROWS` rows as they are drawn (:func:`display_width`:
  Bengali and Tamil wider than Latin, marks not at all, capped at :data:`MAX_WIDTH`),
  and the report's charts beside the table, as crm_core.reports.charts pivots them (their
  figures on a hidden "Chart data" sheet, named in the workbook's language, amounts in
  their currency's format as in the tables, counts as whole numbers on whole ticks);
- a print setup on every sheet: fit to one page wide (a very wide table: to as many
  pages wide as keep it readable, rows across first, its first column repeated on
  each page unless charts are beside it), landscape when wide, the header rows
  repeated on every page, a footer with the report's name and the page number; the
  charts beside a table are printed too, on pages after the table's (a print area of
  two ranges);
- amounts in their currency's decimals (KWD 3, JPY none), grouped as the workspace's
  ``amount_grouping`` asks (lakh/crore included: see crm_core.export.amounts);
- right-to-left sheets for a workbook in Urdu or Sindhi;
- Excel's limits handled: a table longer than a sheet (1,048,576 rows, header
  included) continues on "<name> (2)", "<name> (3)"..., each with its own header; sheet
  names are cut to 31 characters (UTF-16 units, as Excel counts), stripped of
  ``[]:*?/\\`` and leading/trailing apostrophes, and made unique ignoring case;
- no formulas, ever: text is written with ``write_string`` (so ``=SUM(A1)``, ``+1``,
  ``-x`` and ``@x`` stay text) and numbers with ``write_number``, by column kind.

Values: ``Decimal`` becomes a float, ``None`` and NaN (and infinities) a blank cell,
dates and datetimes Excel serial numbers; an aware datetime is first converted to the
workbook's time zone (Excel cells have none), a naive one is taken as already local.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain, islice
from typing import IO, Any

import pandas as pd
import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.utility import quote_sheetname, xl_range_abs

from crm_core.errors import FieldError, ValidationError
from crm_core.export import tempfiles
from crm_core.export.amounts import AmountFormats
from crm_core.export.widths import char_width
from crm_core.reports.base import Chart, Column, currency_sources
from crm_core.reports.charts import ChartData, chart_data
from crm_core.reports.labels import (
    WORD_COLUMNS,
    cell_value,
    column_label,
    parameter_label,
    right_to_left,
    word,
)

#: Excel's rows per sheet, header included.
EXCEL_MAX_ROWS = 1_048_576
#: Excel's columns per sheet.
EXCEL_MAX_COLUMNS = 16_384
#: Excel's longest sheet name, in UTF-16 code units.
SHEET_NAME_MAX = 31
#: Rows above the data: the column identifiers (hidden) and the titles.
HEADER_ROWS = 2
#: A table wider than this (in characters, all columns) is printed landscape.
LANDSCAPE_WIDTH = 100
#: A table wider than this prints on several pages wide (one would be too small to
#: read), each about PAGE_WIDTH characters of columns.
WIDE_PRINT_WIDTH = 240
PAGE_WIDTH = 150
#: The hidden sheet holding the charts' figures (in English; ``chart_data`` in
#: labels.toml names it in the workbook's language).
CHART_DATA_SHEET = "Chart data"
#: A chart's gap to the table's right, in pixels.
CHART_X_OFFSET = 10
#: The width of a column left at Excel's default (8.43 characters), in pixels.
DEFAULT_COLUMN_PIXELS = 64
#: Value axis number format per chart axis format.
AXIS_FORMATS = {"money": "#,##0", "percent": "0%", "number": "General"}
#: A chart's counts (its values all ``int`` columns), on the "Chart data" sheet and
#: its value axis.
COUNT_FORMAT = "#,##0"
#: Counts spanning at most this many get a tick per whole number (auto ticks would be
#: 0, 0.5, 1...); a wider span's automatic ticks are whole already.
SMALL_COUNT_RANGE = 10
#: Column widths are fitted to the header and this many first rows.
WIDTH_SAMPLE_ROWS = 1_000
#: Widest fitted column, in characters.
MAX_WIDTH = 60
#: Narrowest fitted column, in characters.
MIN_WIDTH = 6
#: A row's height per line of wrapped text (points), and the most lines a row grows to.
LINE_HEIGHT = 15
MAX_LINES = 20
#: The cover's notes column, in characters (its long notes wrap within it).
COVER_NOTES_WIDTH = 50
#: The progress callback is called every this-many rows (and at each table's end).
PROGRESS_EVERY = 10_000

#: Excel number format per column kind (``text`` has none).
FORMATS = {
    "int": "0",
    "number": "#,##0.00",
    "money": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
    # Excel shows a boolean as TRUE/FALSE whatever its format; LibreOffice shows 1/0
    # unless the format says otherwise.
    "bool": '"TRUE";"TRUE";"FALSE"',
}

# Excel serial day 0 for dates from 1900-03-01 on: date(1899, 12, 30).toordinal().
# (Excel counts a 29 February 1900 that never was; earlier dates are written as text.)
_EXCEL_EPOCH = 693_594
_FIRST_SERIAL = 61  # 1900-03-01
_NUMBER_KINDS = ("int", "number", "money", "percent")
_INVALID_SHEET_CHARS = str.maketrans("", "", "[]:*?/\\")
# Names Excel keeps for itself (compared ignoring case).
_RESERVED_SHEET_NAMES = {"history"}


# The default font, for the parts of a rich string (see write_text); xlsxwriter only
# reads its properties, so one shared instance serves every workbook.
_PLAIN = Format()


class _Careful(Exception):
    """Raised inside the fast row loop: this row needs the careful writers."""


Progress = Callable[[int, int | None, str], None]
CellWriter = Callable[[int, int, Any], Any]


@dataclass(frozen=True)
class SheetInfo:
    """One written sheet: its name in the workbook, the table's title, the data rows
    it holds (header not counted; None for a sheet of charts) and a note shown on the
    cover."""

    name: str
    title: str
    rows: int | None
    note: str = ""


class WorkbookBuilder:
    """Build one workbook: ``with WorkbookBuilder(target, title=...) as book:`` then
    :meth:`add_table` / :meth:`add_frame` per sheet; leaving the block (or
    :meth:`close`) writes the cover and the file.

    ``target`` is a path or a binary file object (``io.BytesIO`` for a download
    button). ``parameters`` are listed on the cover, ``generated_at`` is shown there
    (default: now). ``timezone`` is the zone datetimes are shown in (default: that of
    ``generated_at``, else UTC). ``progress(done_rows, total_rows_or_None, label)`` is
    called every :data:`PROGRESS_EVERY` rows of a table and at its end. ``max_rows``
    is the rows per sheet, header included (Excel's limit unless you test the split).

    If the block raises, nothing is written to ``target`` and the temporary files are
    removed. A path no workbook can be written to (empty, a folder, in a folder that
    does not exist or one may not write to) and a ``language`` the titles are not
    written in are refused at once (:class:`~crm_core.errors.ValidationError`), before
    anything is written.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[bytes],
        *,
        title: str,
        parameters: dict[str, Any] | None = None,
        generated_at: dt.datetime | None = None,
        timezone: dt.tzinfo | None = None,
        progress: Progress | None = None,
        max_rows: int = EXCEL_MAX_ROWS,
        language: str | None = None,
        grouping: str = "locale",
    ):
        if not HEADER_ROWS + 1 <= max_rows <= EXCEL_MAX_ROWS:
            raise ValueError(
                f"max_rows must be {HEADER_ROWS + 1}..{EXCEL_MAX_ROWS} (header rows included)"
            )
        self.target = target
        self.title = title
        self.parameters = dict(parameters or {})
        if timezone is None:
            timezone = (
                generated_at.tzinfo
                if generated_at is not None and generated_at.tzinfo is not None
                else dt.UTC
            )
        self.timezone = timezone
        self.generated_at = generated_at or dt.datetime.now(dt.UTC)
        self.progress = progress
        self.max_rows = max_rows
        #: The language of the titles and the cover (None: English).
        self.language = language
        self.rtl = right_to_left(language)
        # The charts' figures: written at close to a hidden sheet after the others
        # (charts refer to it by name; its name is taken when the first chart is drawn).
        self._chart_data: str | None = None
        self._chart_cells: list[tuple[int, int, Any, Any]] = []
        self._chart_row = 0
        self._chart_heights: list[int] = []
        self._chart_widths: list[int] = []
        #: The sheets written so far, in order (the cover not included).
        self.sheets: list[SheetInfo] = []
        self._closed = False
        # A file is written beside its destination and renamed over it once complete:
        # a failure half-way never leaves a broken workbook (or half of an old one).
        # It and xlsxwriter's temporary files (one per sheet while it streams, then the
        # XML parts) are owner-only while they hold contact data, and removed on any
        # failure; a killed build's are removed by the next export (see tempfiles).
        self._final: str | None = None
        target_arg: Any = target
        if isinstance(target, str | os.PathLike):
            self._final = os.fspath(target)
            self._scratch = _scratch_beside(target)
            target_arg = str(self._scratch.part)
        else:
            self._scratch = tempfiles.shared()
        self.book = xlsxwriter.Workbook(
            target_arg,
            {
                # Streaming; never in_memory, which would silently turn it off. A file
                # object target works without it (zipfile writes into it at close).
                "constant_memory": True,
                "tmpdir": os.fspath(self._scratch.folder),
                # Belt and braces: we never call write(), but if anything did, text
                # must still not become formulas, links or numbers.
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self._names: set[str] = set()
        self._formats = {
            kind: self.book.add_format({"num_format": f}) for kind, f in FORMATS.items()
        }
        self._formats["text"] = None
        # Amounts: their currency's decimals, grouped as the workspace asks (see amounts).
        self._amounts = AmountFormats(grouping, language)
        self._amount_formats: dict[str, Format] = {}
        self._header = self.book.add_format(
            {"bold": True, "bottom": 1, "text_wrap": True, "valign": "top"}
        )
        self._identifiers = self.book.add_format({"font_color": "#808080"})
        self._count_format = self.book.add_format({"num_format": COUNT_FORMAT})
        self._wrapped = self.book.add_format({"text_wrap": True, "valign": "top"})
        # The cover is the first sheet; it is filled at close (each sheet streams on
        # its own, so writing it last, top to bottom, is allowed in constant_memory).
        self._cover = self.book.add_worksheet(self._sheet_name(word("cover", language)))
        self._cover.activate()

    # -- public API ----------------------------------------------------------------------
    def add_table(
        self,
        title: str,
        columns: Sequence[Column],
        rows: Iterable[Sequence[Any]],
        *,
        charts: Sequence[ChartData] = (),
        total_rows: int | None = None,
        note: str = "",
        report: str | None = None,
        currency: str | None = None,
    ) -> list[str]:
        """Stream ``rows`` (sequences of values, in ``columns`` order) into a sheet
        titled ``title`` and return the sheet names used (more than one when the table
        is longer than a sheet). ``charts`` (see crm_core.reports.charts) are drawn
        beside the table; those left out are named on the cover. ``total_rows``, when
        known, is passed to the progress callback; ``note`` is shown beside the sheet on
        the cover. ``report`` (the report's name) picks its own column titles;
        ``currency`` is the reporting currency of ``*_converted`` columns."""
        self._check_open()
        columns = list(columns)
        if not columns:
            raise ValueError(f"table {title!r} has no columns")
        if len(columns) > EXCEL_MAX_COLUMNS:
            raise ValueError(f"table {title!r} has {len(columns)} columns; Excel allows 16,384")
        kinds = [c.kind for c in columns]
        currencies = currency_sources(columns, currency)
        labels = [
            column_label(c.name, self.language, report=report, declared=c.label, currency=currency)
            for c in columns
        ]
        it = iter(rows)
        per_sheet = self.max_rows - HEADER_ROWS
        # Widths come from the header and the first rows: measure those, then stream
        # them and the rest alike.
        sample = list(islice(it, WIDTH_SAMPLE_ROWS))
        widths = _fitted_widths(columns, sample, labels)
        # A text column at the widest wraps its long values: overflowing the cells to
        # its right, they would widen what prints (fitted to one page: smaller) or be cut.
        wrapped = {
            c: widths[c]
            for c, kind in enumerate(kinds)
            if kind == "text" and widths[c] >= MAX_WIDTH
        }
        stream: Iterator[Sequence[Any]] = chain(sample, it)
        del sample
        names: list[str] = []
        charted: list[ChartData] = []
        done = reported = 0
        part = 0
        while True:
            part += 1
            name = self._sheet_name(title if part == 1 else f"{title} ({part})")
            names.append(name)
            sheet = self.book.add_worksheet(name)
            if self.rtl:
                sheet.right_to_left()
            header = self._header
            sheet.set_row(0, None, None, {"hidden": True})
            for c, column in enumerate(columns):
                write_text(sheet, 0, c, column.name, self._identifiers)
                sheet.set_column(c, c, widths[c])
            if any(display_width(label) * 1.1 + 3 > widths[c] for c, label in enumerate(labels)):
                sheet.set_row(1, 30)  # a long title wraps on two lines
            for c, label in enumerate(labels):
                write_text(sheet, 1, c, label, header)
            write_rows = self._row_writer(sheet, kinds, currencies, wrapped)
            written = 0
            exhausted = False
            while written < per_sheet:
                # Rows go in chunks that end on a multiple of PROGRESS_EVERY, so the
                # inner loop has nothing to count.
                chunk = min(PROGRESS_EVERY - done % PROGRESS_EVERY, per_sheet - written)
                r = write_rows(islice(stream, chunk), written + HEADER_ROWS) - HEADER_ROWS + 1
                got = r - written
                written = r
                done += got
                if got < chunk:
                    exhausted = True
                    break
                if self.progress is not None and done % PROGRESS_EVERY == 0:
                    self.progress(done, total_rows, title)
                    reported = done
            drawn = [c for c in charts if c.drawn] if part == 1 and written else []
            # A table printed several pages wide repeats its first column on each page;
            # charts beside it would print under that column, so they go on a sheet of
            # their own, after the table's.
            apart = bool(drawn) and _prints_wide(widths)
            beside = [] if apart else drawn
            self._finish_sheet(sheet, len(columns), written, title, widths)
            self._draw_charts(sheet, name, beside, len(columns), written)
            if apart:
                charted = drawn
            notes = [note] if note else []
            if part == 1:
                notes.extend(
                    word("chart_left_out", self.language, reason=f"{c.title}: {c.reason}")
                    for c in charts
                    if not c.drawn
                )
            self.sheets.append(SheetInfo(name, title, written, "; ".join(notes)))
            if exhausted:
                break
            head = next(stream, None)
            if head is None:
                break
            stream = chain((head,), stream)
        if charted:
            names.append(self._add_chart_sheet(title, charted))
        if self.progress is not None and (reported != done or done == 0):
            self.progress(done, total_rows, title)
        return names

    def _add_chart_sheet(self, title: str, charts: Sequence[ChartData]) -> str:
        """A sheet of ``title``'s charts alone, one under the other, each printed on
        pages of its own."""
        name = self._sheet_name(word("charts_of", self.language, title=title))
        sheet = self.book.add_worksheet(name)
        if self.rtl:
            sheet.right_to_left()
        self._print_setup(sheet, title, landscape=True)
        self._draw_charts(sheet, name, charts, 0, 0)
        self.sheets.append(SheetInfo(name, title, None, word("charts_note", self.language)))
        return name

    def _draw_charts(
        self, sheet: Any, name: str, charts: Sequence[ChartData], ncols: int, rows: int
    ) -> None:
        """Draw ``charts`` right of a table of ``ncols`` columns and ``rows`` rows (at
        the sheet's left when it has none), and set the print area."""
        self._chart_heights = []
        self._chart_widths = []
        for data in charts:
            self._insert_chart(sheet, data, ncols)
        if charts:
            self._print_charts(sheet, name, ncols, rows)

    def add_frame(
        self,
        title: str,
        frame: pd.DataFrame,
        columns: Sequence[Column],
        chart: Chart | None = None,
        *,
        note: str = "",
        report: str | None = None,
        currency: str | None = None,
    ) -> list[str]:
        """Write a report's DataFrame as a table: its ``columns`` (declared
        :class:`~crm_core.reports.Column` list) in that order; missing values (None,
        NaN, NaT) become blank cells; ``chart`` is pivoted over all the rows and drawn
        beside it (see crm_core.reports.charts: categories cut to its ``top``, a chart
        that cannot be read left out and named on the cover). ``report`` is the report's
        name (its column titles), ``currency`` the reporting currency. Returns the sheet
        names used."""
        names = [c.name for c in columns]
        absent = [n for n in names if n not in frame.columns]
        if absent:
            raise ValueError(f"table {title!r}: the frame lacks the columns {absent}")
        charts: list[ChartData] = []
        if chart is not None:
            unknown = [n for n in chart.columns if n not in frame.columns]
            if unknown:
                raise ValueError(
                    f"table {title!r}: the chart names columns {unknown} that the table lacks"
                )
            charts = chart_data(
                chart,
                frame,
                {c.name: c.kind for c in columns},
                report=report,
                default_title=title,
                language=self.language,
                currency=currency,
            )
        view = frame[names].astype(object)
        view = view.where(view.notna(), None)
        for name in names:
            if name in WORD_COLUMNS:  # "won" / "lost" in the workbook's language
                view[name] = [cell_value(name, v, self.language) for v in view[name]]
        return self.add_table(
            title,
            columns,
            view.itertuples(index=False, name=None),
            charts=charts,
            total_rows=len(view),
            note=note,
            report=report,
            currency=currency,
        )

    def close(self) -> None:
        """Write the cover and the workbook to the target. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._write_chart_data()
            self._write_cover()
            self.book.close()
            if self._final is not None:
                assert self._scratch.part is not None
                # the usual permissions for the finished workbook, as for any new file
                tempfiles.publish(self._scratch.part, self._final)
        finally:
            self._scratch.remove()

    def abort(self) -> None:
        """Give up: write nothing to the target and remove the temporary files."""
        if self._closed:
            return
        self._closed = True
        self._scratch.remove()

    def __enter__(self) -> WorkbookBuilder:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # -- sheets --------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the workbook is already closed")

    def _sheet_name(self, wanted: str) -> str:
        """A valid sheet name for ``wanted``, unique in this workbook ignoring case."""
        base = str(wanted).translate(_INVALID_SHEET_CHARS).strip().strip("'").strip()
        base = " ".join(base.split()) or "Sheet"
        name = _utf16_cut(base, SHEET_NAME_MAX).rstrip()
        n = 1
        while name.casefold() in self._names or name.casefold() in _RESERVED_SHEET_NAMES:
            n += 1
            suffix = f" ({n})"
            name = _utf16_cut(base, SHEET_NAME_MAX - len(suffix)).rstrip().rstrip("'") + suffix
        self._names.add(name.casefold())
        return name

    def _finish_sheet(
        self,
        sheet: Any,
        ncols: int,
        rows: int,
        title: str,
        widths: Sequence[float],
    ) -> None:
        """Freeze the header, filter the rows, and set the sheet up for print."""
        last = rows + HEADER_ROWS - 1
        sheet.freeze_panes(HEADER_ROWS, 0)
        sheet.autofilter(HEADER_ROWS - 1, 0, last, ncols - 1)
        width = sum(widths)
        self._print_setup(sheet, title, landscape=width > LANDSCAPE_WIDTH)
        sheet.repeat_rows(0, HEADER_ROWS - 1)
        if _prints_wide(widths):
            # Fitted to one page wide it would print too small to read: as many pages
            # wide as it takes at about PAGE_WIDTH characters each, a band of rows
            # across before the next, the first column (the row's name) repeated on
            # each page (such a table's charts are on a sheet of their own: the
            # repeated column would print over them).
            first = widths[0]
            pages = math.ceil((width - first) / max(PAGE_WIDTH - first, 1.0))
            sheet.fit_to_pages(pages, 0)
            sheet.print_across()
            sheet.repeat_columns(0)

    def _print_charts(self, sheet: Any, name: str, ncols: int, rows: int) -> None:
        """A print area of several ranges: the table, then each chart beside it. Excel
        and LibreOffice print each range on pages of its own, so the charts are printed
        without shrinking the table to the width of both, and a page break never cuts
        a chart in two (one range of all the charts was broken between pages)."""
        last = rows + HEADER_ROWS - 1
        first_col = ncols + 1 if ncols else 0
        quoted = quote_sheetname(name)
        ranges = [xl_range_abs(0, 0, last, ncols - 1)] if ncols else []
        top = 1
        for high, width in zip(self._chart_heights, self._chart_widths, strict=True):
            wide = math.ceil((width + CHART_X_OFFSET) / DEFAULT_COLUMN_PIXELS)
            ranges.append(xl_range_abs(top, first_col, top + high - 1, first_col + wide))
            top += high
        # A sheet-level name, as xlsxwriter's own print_area writes it (which takes
        # one range only); a name with "!" cannot be given so: the table alone then.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            done = "!" not in name and (
                self.book.define_name(
                    f"'{name}'!_xlnm.Print_Area", "=" + ",".join(f"{quoted}!{r}" for r in ranges)
                )
                == 0
            )
        if not done and ncols:
            sheet.print_area(0, 0, last, ncols - 1)

    def _print_setup(self, sheet: Any, title: str, *, landscape: bool) -> None:
        """One page wide (as many long as needed), the title and page in the footer."""
        if landscape:
            sheet.set_landscape()
        sheet.fit_to_pages(1, 0)
        name = _footer_text(title)
        page = word("page", self.language)
        if self.rtl:
            sheet.set_footer(f"&L{page}&R{name}")
        else:
            sheet.set_footer(f"&L{name}&R{page}")

    # -- cells ---------------------------------------------------------------------------
    def _row_writer(
        self,
        sheet: Any,
        kinds: Sequence[str],
        currencies: dict[int, tuple[int | None, str | None]] | None = None,
        wrapped: dict[int, float] | None = None,
    ) -> Callable[[Iterable[Sequence[Any]], int], int]:
        """A function writing rows to ``sheet`` from row ``first`` on and returning the
        last row written (``first - 1`` if none).

        This is the inner loop of every export, so it is written for speed: the
        columns are grouped by kind once, and each cell is one typed xlsxwriter call
        with its precomputed format (the undecorated ``_write_number`` /
        ``_write_string``, which skip the A1-notation check of the public methods,
        when this xlsxwriter has them). Values of the expected types take the fast
        path; a row holding anything else (a number column with text, an aware or
        pre-1900 date, a pandas Timestamp...) is rewritten cell by cell by the careful
        writers of :meth:`_writer`, which handle every case.

        ``currencies`` gives each money column where its currency is: (the index of
        the row's currency column or None, the currency when the row names none); a
        money cell's format is its currency's (:meth:`_money_format`). The text columns
        ``wrapped`` (index -> width) wrap their values within the column, the row as
        tall as its longest such value needs (no application fits it on opening).
        """
        wrapped = wrapped or {}
        number = getattr(sheet, "_write_number", None) or sheet.write_number
        string = getattr(sheet, "_write_string", None) or sheet.write_string
        formats = self._formats
        currencies = currencies or {}
        numbers = tuple(
            (c, formats[k]) for c, k in enumerate(kinds) if k in ("int", "number", "percent")
        )
        moneys = tuple(
            (c, *currencies.get(c, (None, None))) for c, k in enumerate(kinds) if k == "money"
        )
        money_format = self._money_format
        texts = tuple(
            (c, self._wrapped if c in wrapped else None) for c, k in enumerate(kinds) if k == "text"
        )
        dates = tuple((c, formats[k]) for c, k in enumerate(kinds) if k == "date")
        stamps = tuple((c, formats[k]) for c, k in enumerate(kinds) if k == "datetime")
        flags = tuple(c for c, k in enumerate(kinds) if k == "bool")
        boolean = getattr(sheet, "_write_boolean", None) or sheet.write_boolean
        flag_format = formats["bool"]
        careful = tuple(
            (c, self._writer(sheet, kind, wrap=c in wrapped))
            for c, kind in enumerate(kinds)
            if kind != "money"
        )
        careful_money = self._money_writer(sheet)
        epoch, first_serial, date_class = _EXCEL_EPOCH, _FIRST_SERIAL, dt.date
        tz = self.timezone

        def write_rows(rows: Iterable[Sequence[Any]], first: int) -> int:
            r = first - 1
            for r, values in enumerate(rows, first):
                try:
                    for c, f in numbers:
                        v = values[c]
                        if v is not None:
                            x = float(v)
                            if x - x:  # NaN or an infinity: a blank cell
                                continue
                            number(r, c, x, f)
                    for c, at, fixed in moneys:
                        v = values[c]
                        if v is not None:
                            x = float(v)
                            if x - x:
                                continue
                            cur = values[at] if at is not None else fixed
                            number(r, c, x, money_format(x, cur))
                    for c, f in texts:
                        v = values[c]
                        if v is not None:
                            if v.__class__ is not str or v.startswith("<r>"):
                                raise _Careful
                            string(r, c, v, f)
                    for c, f in dates:
                        v = values[c]
                        if v is not None:
                            if v.__class__ is not date_class:
                                raise _Careful
                            n = v.toordinal() - epoch
                            if n < first_serial:
                                raise _Careful
                            number(r, c, n, f)
                    for c, f in stamps:
                        v = values[c]
                        if v is not None:
                            if v.tzinfo is not None:
                                v = v.astimezone(tz)
                            n = (v.toordinal() - epoch) + (
                                v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6
                            ) / 86400
                            if n < first_serial:
                                raise _Careful
                            number(r, c, n, f)
                    for c in flags:
                        v = values[c]
                        if v is not None:
                            if v.__class__ is not bool:
                                raise _Careful
                            boolean(r, c, v, flag_format)
                except (_Careful, TypeError, ValueError, AttributeError):
                    # Rewriting cells of the current row is allowed in constant_memory.
                    for c, write in careful:
                        write(r, c, values[c])
                    for c, at, fixed in moneys:
                        careful_money(r, c, values[c], values[at] if at is not None else fixed)
                if wrapped:
                    lines = max(_lines(values[c], width) for c, width in wrapped.items())
                    if lines > 1:
                        sheet.set_row(r, LINE_HEIGHT * lines)
            return r

        return write_rows

    def _money_format(self, value: float, currency: Any) -> Format:
        """The cell format of amount ``value`` in ``currency`` (None, blank or not a
        code: two decimals)."""
        code = self._amounts.code(value, currency if isinstance(currency, str) else None)
        found = self._amount_formats.get(code)
        if found is None:
            found = self._amount_formats[code] = self.book.add_format({"num_format": code})
        return found

    def _money_writer(self, sheet: Any) -> Callable[[int, int, Any, Any], None]:
        """The careful writer of an amount: any value; text stays text."""
        write_number = sheet.write_number

        def money(r: int, c: int, v: Any, currency: Any) -> None:
            if v is None:
                return
            try:
                x = float(v)
            except (TypeError, ValueError):
                write_text(sheet, r, c, v if v.__class__ is str else str(v))
                return
            if x - x:  # NaN or an infinity: a blank cell
                return
            write_number(r, c, x, self._money_format(x, currency))

        return money

    def _writer(self, sheet: Any, kind: str, wrap: bool = False) -> CellWriter:
        """The careful writer of one cell of ``kind``: any value, any type (text
        wrapped within its column when ``wrap``)."""
        write_string = sheet.write_string
        write_number = sheet.write_number
        fmt = self._formats[kind]
        tz = self.timezone
        text_format = self._wrapped if wrap else None

        def text(r: int, c: int, v: Any) -> None:
            if v is not None:
                write_text(sheet, r, c, v if v.__class__ is str else str(v), text_format)

        def number(r: int, c: int, v: Any) -> None:
            if v is None:
                return
            try:
                x = float(v)
            except (TypeError, ValueError):
                text(r, c, v)
                return
            if x - x:  # NaN or an infinity: a blank cell
                return
            write_number(r, c, x, fmt)

        def date(r: int, c: int, v: Any) -> None:
            if v is None:
                return
            if v.__class__ is not dt.date:
                v = _as_date(v, tz)
                if v.__class__ is not dt.date:
                    if v is not None:
                        text(r, c, v)
                    return
            n = v.toordinal() - _EXCEL_EPOCH
            if n < _FIRST_SERIAL:
                write_string(r, c, v.isoformat())
            else:
                write_number(r, c, n, fmt)

        def datetime(r: int, c: int, v: Any) -> None:
            if v is None:
                return
            try:
                if v.tzinfo is not None:
                    v = v.astimezone(tz)
                n = (v.toordinal() - _EXCEL_EPOCH) + (
                    v.hour * 3600 + v.minute * 60 + v.second + v.microsecond / 1e6
                ) / 86400
            except (AttributeError, TypeError, ValueError):
                # a plain date (its midnight), an ISO string, NaT...
                day = _as_date(v, tz)
                if day.__class__ is not dt.date:
                    if day is not None:
                        text(r, c, day)
                    return
                n = day.toordinal() - _EXCEL_EPOCH
            if n < _FIRST_SERIAL:
                write_string(r, c, str(v))
            else:
                write_number(r, c, n, fmt)

        def flag(r: int, c: int, v: Any) -> None:
            if v is None or (isinstance(v, float) and v != v):
                return
            if isinstance(v, str):
                said = v.strip().casefold()
                if said in ("yes", "true", "1"):
                    v = True
                elif said in ("no", "false", "0", ""):
                    v = False
                else:
                    text(r, c, v)
                    return
            sheet.write_boolean(r, c, bool(v), fmt)

        if kind == "text":
            return text
        if kind == "bool":
            return flag
        if kind == "date":
            return date
        if kind == "datetime":
            return datetime
        return number

    # -- charts --------------------------------------------------------------------------
    def _chart_sheet(self) -> str:
        """The name of the hidden sheet the charts read their figures from."""
        if self._chart_data is None:
            # "Chart data" in English, in the workbook's language otherwise
            self._chart_data = self._sheet_name(word("chart_data", self.language))
        return self._chart_data

    def _write_chart_data(self) -> None:
        """The hidden sheet of the charts' figures, last, top to bottom."""
        if self._chart_data is None:
            return
        sheet = self.book.add_worksheet(self._chart_data)
        sheet.hide()
        if self.rtl:
            sheet.right_to_left()
        for row, col, value, fmt in self._chart_cells:
            if isinstance(value, str):
                write_text(sheet, row, col, value, fmt)
            else:
                sheet.write_number(row, col, value, fmt)
        sheet.set_column(0, 0, 30)

    def _insert_chart(self, sheet: Any, data: ChartData, ncols: int) -> None:
        """Write ``data``'s figures to the chart sheet and draw it beside the table,
        below the charts before it."""
        name = self._chart_sheet()
        cells = self._chart_cells
        top = self._chart_row
        cells.append((top, 0, data.title, self._header))
        cells.append((top + 1, 0, data.category_title or "", self._header))
        for j, series in enumerate(data.series):
            cells.append((top + 1, 1 + j, series, self._header))
        # The figures' formats, as the tables': an amount in its currency's decimals
        # (JPY none, KWD three; grouped as the workspace asks), a count whole.
        fmt: Format | None = self._formats["number"]
        if data.axis == "percent":
            fmt = self._formats["percent"]
        elif data.integer:
            fmt = self._count_format
        for i, category in enumerate(data.categories):
            row = top + 2 + i
            cells.append((row, 0, category, None))
            for j, values in enumerate(data.series.values()):
                value = values[i]
                if value is not None:
                    if data.axis == "money":
                        cells.append((row, 1 + j, value, self._money_format(value, data.currency)))
                    else:
                        cells.append((row, 1 + j, value, fmt))
        first, last = top + 2, top + 1 + len(data.categories)
        self._chart_row = last + 2
        drawing = self.book.add_chart({"type": data.type})
        for j, series in enumerate(data.series):
            options: dict[str, Any] = {
                "name": [name, top + 1, 1 + j],
                "categories": [name, first, 0, last, 0],
                "values": [name, first, 1 + j, last, 1 + j],
            }
            if data.type == "line":
                options["marker"] = {"type": "circle", "size": 4}
                if series == data.emphasis:  # the actual figure, against the forecasts
                    options["line"] = {"color": "#222222", "width": 3}
                    options["marker"] = {
                        "type": "circle",
                        "size": 5,
                        "fill": {"color": "#222222"},
                        "border": {"color": "#222222"},
                    }
            drawing.add_series(options)
        caption = data.title if not data.note else f"{data.title}\n{data.note}"
        drawing.set_title({"name": caption, "name_font": {"size": 12, "bold": True}})
        axis_format = AXIS_FORMATS.get(data.axis, "General")
        drawn = [x for values in data.series.values() for x in values if x is not None]
        if data.axis == "money":
            axis_format = self._amounts.axis(data.currency, float(min(drawn, default=0)))
        elif data.integer and data.axis != "percent":
            axis_format = COUNT_FORMAT
        value_axis: dict[str, Any] = {
            "num_format": axis_format,
            "major_gridlines": {"visible": True, "line": {"color": "#D9D9D9"}},
        }
        if data.integer and data.axis != "percent" and drawn:
            # Counts: ticks on whole numbers (0, 0.5, 1 would read as two deals of 1)
            low, high = min(min(drawn), 0), max(max(drawn), 0)
            if high - low <= SMALL_COUNT_RANGE:
                value_axis.update(
                    {"major_unit": 1, "min": math.floor(low), "max": math.ceil(high) or 1}
                )
        if data.axis == "money" and data.currency:
            value_axis["name"] = data.currency
        category_axis: dict[str, Any] = (
            {"num_font": {"rotation": -45}}
            if len(data.categories) > 12 and data.type != "bar"
            else {}
        )
        if data.type == "bar":
            # First category on top, as the table reads; the values along the bottom;
            # every category named.
            drawing.set_y_axis(
                {**category_axis, "reverse": True, "crossing": "max", "interval_unit": 1}
            )
            drawing.set_x_axis(value_axis)
        elif data.type != "pie":
            drawing.set_x_axis(category_axis)
            drawing.set_y_axis(value_axis)
        if data.type == "pie" or len(data.series) > 1:
            drawing.set_legend({"position": "bottom"})
        else:
            drawing.set_legend({"none": True})
        height = 360 if data.type != "bar" else max(320, 80 + 32 * len(data.categories))
        width = min(max(560, 36 * len(data.categories) * max(1, len(data.series))), 960)
        drawing.set_size({"width": width if data.type != "bar" else 720, "height": height})
        row = 1 + sum(self._chart_heights)
        self._chart_heights.append(height // 20 + 2)
        self._chart_widths.append(width if data.type != "bar" else 720)
        sheet.insert_chart(row, ncols + 1 if ncols else 0, drawing, {"x_offset": CHART_X_OFFSET})

    # -- cover ---------------------------------------------------------------------------
    def _write_cover(self) -> None:
        sheet = self._cover
        big = self.book.add_format({"bold": True, "font_size": 16})
        bold = self._header
        # the sheets' rows grow with their wrapped notes: each cell reads from the top
        link = self.book.add_format({"font_color": "blue", "underline": 1, "valign": "top"})
        top = self.book.add_format({"valign": "top"})
        count = self.book.add_format({"num_format": FORMATS["int"], "valign": "top"})
        stamp = self.book.add_format({"num_format": FORMATS["datetime"]})

        def write(row: int, col: int, text: str, fmt: Any = None) -> None:
            write_text(sheet, row, col, text, fmt)

        def say(key: str) -> str:
            return word(key, self.language)

        if self.rtl:
            sheet.right_to_left()
        self._print_setup(sheet, str(self.title), landscape=False)
        write(0, 0, str(self.title), big)
        generated = self.generated_at
        if generated.tzinfo is not None:
            generated = generated.astimezone(self.timezone)
        write(2, 0, say("generated_at"))
        serial = (generated.toordinal() - _EXCEL_EPOCH) + (
            generated.hour * 3600 + generated.minute * 60 + generated.second
        ) / 86400
        sheet.write_number(2, 1, serial, stamp)
        write(3, 0, say("time_zone"))
        write(3, 1, _zone_name(self.timezone))
        row = 5
        write(row, 0, say("parameter"), bold)
        write(row, 1, say("value"), bold)
        for key, value in self.parameters.items():
            row += 1
            write(row, 0, parameter_label(str(key), self.language))
            write(row, 1, _shown(value))
        if not self.parameters:
            row += 1
            write(row, 0, say("none"))
        row += 2
        for c, head in enumerate(("sheet", "title", "rows", "notes")):
            write(row, c, say(head), bold)
        for info in self.sheets:
            row += 1
            if info.note:
                # wrapped within its column, never spilling past the page's edge
                sheet.set_row(row, LINE_HEIGHT * _lines(info.note, COVER_NOTES_WIDTH))
            if info.name.startswith("<r>"):
                write(row, 0, info.name, top)  # see write_text: no link for such a name
            else:
                ref = info.name.replace("'", "''")
                sheet.write_url(row, 0, f"internal:'{ref}'!A1", link, info.name)
            write(row, 1, info.title, top)
            if info.rows is not None:
                sheet.write_number(row, 2, info.rows, count)
            if info.note:
                write(row, 3, info.note, self._wrapped)
        if self.sheets:
            write(row + 2, 0, say("identifiers"))
        sheet.set_column(0, 0, max([14, *(display_width(i.name) + 2 for i in self.sheets)]))
        shown = [display_width(_shown(v)) + 2 for v in self.parameters.values()]
        sheet.set_column(1, 1, min(MAX_WIDTH, max([20, *shown])))
        sheet.set_column(2, 2, 10)
        sheet.set_column(3, 3, COVER_NOTES_WIDTH)


# -- helpers ----------------------------------------------------------------------------
def check_target(target: str | os.PathLike[str]) -> None:
    """Refuse a path no workbook can be written to (empty, a folder, in a folder that
    does not exist): :class:`~crm_core.errors.ValidationError` saying why, nothing
    written."""
    problem = tempfiles.target_problem(target)
    if problem is not None:
        raise ValidationError([FieldError("workbook", "target", os.fspath(target), problem)])


def _scratch_beside(target: str | os.PathLike[str]) -> tempfiles.Scratch:
    """:func:`tempfiles.beside`, its refusals (a bad path, a folder one may not write
    to) as :class:`~crm_core.errors.ValidationError`."""
    check_target(target)
    try:
        return tempfiles.beside(target)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = os.path.dirname(os.path.abspath(os.fspath(target)))
        raise ValidationError(
            [
                FieldError(
                    "workbook", "target", os.fspath(target), f"cannot write in {where}: {reason}"
                )
            ]
        ) from None


def _prints_wide(widths: Sequence[float]) -> bool:
    """Whether a table of columns this wide prints several pages wide."""
    return sum(widths) > WIDE_PRINT_WIDTH and len(widths) > 1


def write_text(sheet: Any, row: int, col: int, text: str, fmt: Any = None) -> None:
    """Write ``text`` as a string cell, never a formula, whatever it starts with.

    In constant_memory mode xlsxwriter copies a string that starts with ``<r>`` and
    ends with ``</r>`` into the sheet XML unescaped, as a rich-text run (which breaks
    the file for any other such text); written as a two-part rich string it is
    escaped like any other.
    """
    if text.startswith("<r>") and text.endswith("</r>"):
        sheet.write_rich_string(row, col, text[:1], _PLAIN, text[1:], *([fmt] if fmt else []))
    else:
        sheet.write_string(row, col, text, fmt)


def display_width(text: str) -> float:
    """How wide ``text`` is drawn in a cell, in Excel's width unit (a digit = 1): by
    script (crm_core/export/widths.toml: Tamil and Bengali letters wider than Latin
    ones, wide East Asian characters 2, marks 0); the longest line counts."""
    if text.isascii():
        lines = text.split("\n") if "\n" in text else [text]
        return max(len(line) + 0.2 * sum(ch.isupper() for ch in line) for line in lines)
    return max(sum(char_width(ch) for ch in line) for line in text.split("\n"))


def _shown_width(kind: str, value: Any) -> float:
    """The width of ``value`` as the cell shows it in its column's format."""
    if value is None:
        return 0
    try:
        if kind == "number":
            return len(f"{float(value):,.2f}")
        if kind == "money":
            # room for a third decimal (KWD) and the extra comma of lakh/crore grouping
            return len(f"{float(value):,.2f}") + 2
        if kind == "int":
            return len(f"{float(value):.0f}")
        if kind == "percent":
            return len(f"{float(value):.1%}")
    except (TypeError, ValueError, OverflowError):
        pass
    if kind == "date":
        return 10
    if kind == "datetime":
        return 19
    if kind == "bool":
        return 5
    return display_width(value if isinstance(value, str) else str(value))


def _fitted_widths(
    columns: Sequence[Column], sample: Sequence[Sequence[Any]], labels: Sequence[str] = ()
) -> list[float]:
    """Column widths for the header (its title: a long one wraps on two lines) and the
    sampled rows, in Excel character units (plus room for the autofilter button),
    between MIN_WIDTH and MAX_WIDTH."""
    out: list[float] = []
    for c, column in enumerate(columns):
        label = labels[c] if c < len(labels) else column.name
        head = display_width(label) * 1.1  # bold
        if head > 14 and " " in label:
            head = max(head / 2, 1.1 * max(display_width(w) for w in label.split()))
        widest = head + 2  # the filter button
        for values in sample:
            widest = max(widest, _shown_width(column.kind, values[c]))
        out.append(float(min(MAX_WIDTH, max(MIN_WIDTH, widest + 1))))
    return out


def _lines(value: Any, width: float) -> int:
    """How many lines ``value`` takes wrapped in a column ``width`` characters wide."""
    if not isinstance(value, str) or not value:
        return 1
    return max(1, min(MAX_LINES, math.ceil(display_width(value) / max(width - 2, 1.0))))


def _utf16_cut(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-16 code units (how Excel counts)."""
    if len(text) <= limit // 2 or len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    out = []
    used = 0
    for ch in text:
        units = 2 if ord(ch) > 0xFFFF else 1
        if used + units > limit:
            break
        out.append(ch)
        used += units
    return "".join(out)


def _as_date(value: Any, tz: dt.tzinfo) -> dt.date | str | None:
    """A date cell's value: a date (an aware datetime's day in ``tz``), None for
    missing values, or the value as text when it is no date at all."""
    if isinstance(value, dt.datetime):
        if value != value:  # NaT
            return None
        if value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.date()
    if isinstance(value, dt.date):
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def _shown(value: Any) -> str:
    """A parameter's value as the cover shows it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_shown(v) for v in value)
    return str(value)


def _footer_text(text: str) -> str:
    """``text`` safe in a page header or footer: ``&`` doubled, cut to fit Excel's 255
    characters with the page number."""
    return _utf16_cut(text.replace("&", "&&"), 120).rstrip("&")


def _zone_name(tz: dt.tzinfo) -> str:
    return str(getattr(tz, "key", None) or tz)
