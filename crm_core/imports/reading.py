"""Reading a file of rows: CSV in whatever encoding and delimiter it came in, or XLSX.

A file is never held in memory: :func:`open_source` first looks at it (that it is
text at all; the encoding, from a byte-order mark, a strict UTF-8 pass over the whole
file, the zero bytes of UTF-16, or the code page whose reading of the lines that are
not ASCII is most plausible, see :mod:`crm_core.imports.encoding`, then checked over the whole
file; the delimiter, from Excel's ``sep=;`` line or ``csv.Sniffer`` on the first
lines), then :meth:`Source.rows` streams it row by row with the line number each row
starts on, which is how rejects and reports name a row. Lines end in LF, CR LF or CR.
Blank lines and rows of empty cells are skipped; quoted newlines stay inside their
cell. A line that cannot be read ends the reading, naming it (:attr:`Source.error`).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import itertools
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from crm_core.errors import ImportRefused
from crm_core.imports.cells import is_rejects_header, unescaped_cell
from crm_core.imports.encoding import (
    BOMS,
    UnknownEncoding,
    sniff_encoding,
    undecodable_line,
    utf16_without_bom,
)
from crm_core.loaders import blank, plain_value

#: Delimiters a CSV file may use, in the order a tie is broken.
DELIMITERS = ",;\t|"
#: The longest cell an import takes (characters); a row with a longer one is refused.
MAX_CELL = 16 * 1024 * 1024
# csv's own limit is 128 KiB per cell. Past MAX_CELL a row is refused; past this one,
# most likely a quote never closed, the reading stops (naming the line).
_FIELD_LIMIT = 4 * MAX_CELL
csv.field_size_limit(_FIELD_LIMIT)


class FileError(ImportRefused):
    """The file cannot be read as rows: not found, not CSV or XLSX, no header."""


@dataclass
class Source:
    """A file of rows: its format, header and how it is read (see :func:`open_source`)."""

    path: Path
    format: str  # "csv" or "xlsx"
    columns: list[str]
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    #: Header cells that were empty or repeated, renamed ("column 4", "Phone (2)").
    renamed: dict[int, str] = field(default_factory=dict)
    #: Lines before the header (Excel's "sep=;").
    skip: int = 0
    #: An XLSX sheet as crmbook exports it (crm_core.export.workbook): the field ids
    #: in a hidden first row, the header read, and the columns' titles in the second,
    #: skipped; the rows start on the third.
    titled: bool = False
    #: Why the reading stopped before the end of the file (see :meth:`rows`).
    error: str | None = None
    #: A rejects file crmbook wrote (its header ends with the added columns): the
    #: apostrophes put before formula-like cells are taken off.
    escaped: bool = False
    #: Columns that hold dates (the import's mapping says which, before the rows are
    #: read): in an XLSX sheet, a whole number in one is an Excel serial date
    #: (33000, a date cell that lost its format, is 1990-05-07).
    date_columns: frozenset[str] = frozenset()
    _raw: Any = field(default=None, repr=False)
    _size: int = field(default=0, repr=False)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(line number, cells) of every row after the header that is not blank.

        The line number is the file's own: the physical line a CSV row starts on, or
        the spreadsheet's row number. Cells are strings for CSV; for XLSX, strings,
        dates and whole numbers as text (a phone typed as a number stays its digits).
        """
        if self.format == "xlsx":
            yield from self._xlsx_rows()
        else:
            yield from self._csv_rows()

    def fraction(self) -> float | None:
        """The share of the file read so far (None before reading, or for XLSX)."""
        if self._raw is None or self._size <= 0:
            return None
        try:
            return min(self._raw.tell() / self._size, 1.0)
        except (OSError, ValueError):  # closed
            return 1.0

    def _csv_rows(self) -> Iterator[tuple[int, list[Any]]]:
        """(See :meth:`rows`.) A line that cannot be read ends the reading: what went
        wrong, naming the line, is in :attr:`error` and no row after it is given. A
        quote still open at the end of the file is such a line: the row it opens in is
        not given (it holds the rest of the file)."""
        with _text(self.path, self.encoding) as stream:
            self._raw, self._size = stream.raw, self.path.stat().st_size
            reader = csv.reader(stream, delimiter=self.delimiter or ",")
            line = 0
            # Each row is given once the next is read: the last may be no row.
            held: tuple[int, list[Any]] | None = None
            last: tuple[int, list[str]] | None = None
            try:
                for _ in range(self.skip):
                    next(reader, None)  # "sep=;"
                next(reader, None)  # the header
                line = reader.line_num
                for cells in reader:
                    start, line = line + 1, reader.line_num
                    last = start, cells
                    if held is not None:
                        yield held
                        held = None
                    if any(c.strip() for c in cells):
                        held = (
                            start,
                            [unescaped_cell(c) for c in cells] if self.escaped else cells,
                        )
                opened = self._open_quote(*last) if last is not None else None
                if opened is not None:
                    held = None
                    self.error = self._stopped(
                        opened, "a quote opens a cell here and is never closed"
                    )
            except csv.Error as exc:
                if "field limit" in str(exc):
                    why = (
                        f"a cell longer than {_FIELD_LIMIT >> 20} MiB (a quote that is "
                        "never closed?)"
                    )
                else:
                    why = str(exc)
                self.error = self._stopped(line + 1, why)
            except UnicodeDecodeError as exc:  # the file changed since it was checked
                bad = undecodable_line(self.path, self.encoding or "utf-8")
                number = bad[0] if bad is not None else line + 1
                self.error = self._stopped(number, f"not readable as {self.encoding}: {exc.reason}")
            if held is not None:
                yield held

    def _open_quote(self, start: int, cells: list[str]) -> int | None:
        """The line a quoted cell opens on that is still open at the end of the file,
        when the last row (its first line, its cells) has one; else None. (csv, not
        strict, ends such a cell at the end of the file, with the rest of the file
        in it: a cell holding a line break, or a last line without one.)"""
        if not any("\n" in c or "\r" in c for c in cells) and self._ends_a_line():
            return None  # the common case: no need to read the row again
        with _text(self.path, self.encoding) as stream:
            text_ = "".join(itertools.islice(stream, start - 1, None))  # lines split as csv's were
        opened = _open_quote(text_, self.delimiter or ",")
        return None if opened is None else start + _lines_in(text_[:opened])

    def _ends_a_line(self) -> bool:
        """Whether the file ends with a line break (CR or LF, in one byte or, UTF-16
        or UTF-32, in two or four)."""
        name = codecs.lookup(self.encoding or "utf-8").name
        width = 4 if name.startswith("utf-32") else 2 if name.startswith("utf-16") else 1
        with self.path.open("rb") as f:
            f.seek(max(self.path.stat().st_size - width, 0))
            tail = f.read(width)
        return tail.strip(b"\x00") in (b"\n", b"\r") and len(tail) == width

    def _stopped(self, number: int, why: str) -> str:
        return (
            f"{self.path} line {number}: {why}; the reading stopped there: the rows "
            f"before it are counted in the report, none from line {number} on"
        )

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        dated = [i for i, c in enumerate(self.columns) if c in self.date_columns]
        with _sheet(self.path, self.sheet) as sheet:
            epoch = getattr(sheet.parent, "epoch", None)
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number == 1 or (number == 2 and self.titled):
                    continue
                cells = [_xlsx_cell(v) for v in values]
                for i in dated:
                    if i < len(values):
                        day = _serial_date(values[i], epoch)
                        if day is not None:
                            cells[i] = day
                if any(c != "" for c in cells):
                    yield number, cells


def open_source(
    path: str | Path,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> Source:
    """Look at ``path`` and say how to read it; the encoding and delimiter are found
    unless given. Raises :class:`FileError` naming what is wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise FileError(f"{path}: no such file")
    with path.open("rb") as f:
        head = f.read(4096)
    if head.startswith(b"PK\x03\x04"):
        return _xlsx_source(path, sheet)
    if sheet is not None:
        raise FileError(f"{path}: --sheet is for XLSX files; this one is text")
    _refuse_binary(path, head)
    given = encoding
    if encoding is None:
        try:
            # checked: the whole file was decoded to say so
            encoding, checked = sniff_encoding(path)
        except UnknownEncoding as exc:
            raise FileError(str(exc)) from None
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise FileError(f"{path}: unknown encoding {encoding!r}") from None
        checked = False
    if not checked:
        # The whole file, before a row is written: a bad byte at line 5,001 is refused
        # now, not after 5,000 rows are in.
        bad = undecodable_line(path, encoding)
        if bad is not None:
            number, reason = bad
            # Found, UTF-8 is what the other lines are: this one is to be mended.
            mended = given is None and encoding == "utf-8"
            raise FileError(
                f"{path} line {number}: not readable as {encoding} ({reason})"
                + (", as the rest of the file is" if mended else "")
                + "; nothing was imported: "
                + ("fix the line, or give" if mended else "give")
                + " the file's encoding with --encoding"
            )
    try:
        with _text(path, encoding) as stream:
            sample = stream.read(64 * 1024)
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: not readable as {encoding}: {exc.reason}") from None
    if not sample.strip():
        raise FileError(f"{path}: the file is empty")
    # A stray control character is a bad cell (its row is refused), many are no text.
    controls = sum(1 for ch in sample if ch in _CONTROLS)
    if controls >= 8 and controls * 100 > len(sample):
        raise FileError(
            f"{path}: not a CSV or XLSX file (read as {encoding}, it holds control "
            "characters no text file has: a binary file?)"
        )
    sep_line = _SEP_LINE.match(sample)
    if sep_line is not None:
        # Excel's "sep=;" first line says the delimiter; the header is the next line.
        if delimiter is None:
            delimiter = sep_line.group(1)
        sample = sample[sep_line.end() :]
    if delimiter is None:
        delimiter = detect_delimiter(sample)
    elif len(delimiter) != 1:
        raise FileError(f"{path}: the delimiter must be one character, not {delimiter!r}")
    header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
    columns, renamed = _header(header)
    if not any(header):
        raise FileError(f"{path}: the first line is no header (it is empty)")
    escaped = is_rejects_header(columns)
    if escaped:
        # A rejects file's header cells were escaped as its rows were: the input's
        # column names, read back as they were, map as they did.
        columns, renamed = _header([unescaped_cell(c) for c in header])
    return Source(
        path,
        "csv",
        columns,
        encoding,
        delimiter,
        renamed=renamed,
        skip=int(sep_line is not None),
        escaped=escaped,
    )


# Files of other kinds, by their first bytes.
_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (XLS) or Office file: save it as XLSX or CSV"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a Windows program"),
)
_CONTROLS = frozenset(chr(c) for c in [*range(0, 9), 11, 14, *range(15, 32), 127])
_SEP_LINE = re.compile(r"sep=([^\r\n])(?:\r\n|\r|\n)", re.IGNORECASE)


def _refuse_binary(path: Path, head: bytes) -> None:
    """Refuse a file that is no text: an image, a document, an archive renamed .csv
    (known by its first bytes), or bytes with zeros (more than a stray one or two)
    that are no UTF-16 text."""
    for magic, kind in _MAGIC:
        if head.startswith(magic) and (kind != "a Windows program" or b"\x00" in head[:64]):
            raise FileError(f"{path}: not a CSV or XLSX file: it is {kind}")
    if (
        head.count(0) > max(2, len(head) // 100)
        and not any(head.startswith(b) for b, _ in BOMS)
        and utf16_without_bom(head) is None
    ):
        raise FileError(f"{path}: not a CSV or XLSX file (it holds binary data)")


def detect_delimiter(sample: str) -> str:
    """The delimiter of CSV text: what ``csv.Sniffer`` finds among :data:`DELIMITERS` in
    the first lines, else the candidate the header line holds most of (a comma when it
    holds none: a file of one column)."""
    lines = sample.splitlines()
    try:
        return csv.Sniffer().sniff("\n".join(lines[:50]), delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = lines[0] if lines else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=lambda d: counts[d])
        return best if counts[best] else ","


def _open_quote(text_: str, delimiter: str, quote: str = '"') -> int | None:
    """Where in ``text_`` (a row as csv reads it) a quoted cell opens that is still
    open at its end, or None. (csv, not strict, ends such a cell at the end of the
    file with everything after the quote in it.)"""
    if quote not in text_:
        return None
    opened: int | None = None
    start = True  # at the start of a cell
    i, n = 0, len(text_)
    while i < n:
        ch = text_[i]
        if opened is not None:
            if ch == quote:
                if i + 1 < n and text_[i + 1] == quote:
                    i += 2
                    continue
                opened = None
        elif start and ch == quote:
            opened = i
        start = opened is None and (ch == delimiter or ch in "\r\n")
        i += 1
    return opened


def _lines_in(text_: str) -> int:
    """How many ends of line (LF, CR LF or a lone CR) ``text_`` holds."""
    return text_.count("\n") + text_.count("\r") - text_.count("\r\n")


def _header(cells: list[Any]) -> tuple[list[str], dict[int, str]]:
    """The column names: stripped, an empty one named by its position, a repeated one
    numbered, so that every cell of a row has one name."""
    columns: list[str] = []
    renamed: dict[int, str] = {}
    seen: set[str] = set()
    for i, cell in enumerate(cells):
        name = str(cell).strip().lstrip("\ufeff") if cell is not None else ""
        given = name
        if not name:
            name = f"column {i + 1}"
        n = 2
        base = name
        while name in seen:
            name = f"{base} ({n})"
            n += 1
        if name != given:
            renamed[i] = name
        seen.add(name)
        columns.append(name)
    return columns, renamed


class _text:
    """The file as text in ``encoding``, newline handling left to csv; ``raw`` is the
    unbuffered file under it, whose position says how far the reading got."""

    def __init__(self, path: Path, encoding: str | None):
        self.raw = path.open("rb", buffering=0)
        self.file = io.TextIOWrapper(
            io.BufferedReader(self.raw), encoding=encoding or "utf-8", newline=""
        )

    def __enter__(self) -> _text:
        return self

    def read(self, size: int) -> str:
        return self.file.read(size)

    def __iter__(self) -> Iterator[str]:
        return iter(self.file)

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def _xlsx_source(path: Path, sheet: str | None) -> Source:
    with _sheet(path, sheet) as ws:
        header = next(ws.iter_rows(values_only=True, max_row=1), ())
        title = ws.title
        part = getattr(ws, "_worksheet_path", None)
    if not any(c not in (None, "") for c in header):
        raise FileError(f"{path}: the sheet {title!r} has no header in its first row")
    missing = _formulas_without_values(path, part) if part else []
    if missing:
        cells = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5:,} more" if len(missing) > 5 else ""
        )
        raise FileError(
            f"{path}: sheet {title!r}: {cells}: a formula with no value saved (the program "
            "that wrote the file did not compute it), which would be read as empty; nothing "
            "was imported: open the file in a spreadsheet and save it, or put values there"
        )
    columns, renamed = _header(list(header))
    titled = isinstance(part, str) and _first_row_hidden(path, part)
    return Source(path, "xlsx", columns, sheet=title, renamed=renamed, titled=titled)


def _default_sheet(path: Path, book: Any) -> Any:
    """The first sheet, or, when it holds no records as crmbook exports them and a
    later one does (a crmbook workbook's cover comes first), that later one."""
    sheets = book.worksheets
    if len(sheets) > 1 and not _exported(path, sheets[0]):
        for sheet in sheets[1:]:
            if _exported(path, sheet):
                return sheet
    return sheets[0]


def _exported(path: Path, sheet: Any) -> bool:
    part = getattr(sheet, "_worksheet_path", None)
    return isinstance(part, str) and _first_row_hidden(path, part)


def _first_row_hidden(path: Path, part: str) -> bool:
    """Whether the first row of the sheet stored at ``part`` is hidden: a sheet as
    crmbook exports it, whose hidden first row holds the field ids and whose second
    the titles people read (see :attr:`Source.titled`)."""
    with zipfile.ZipFile(path) as book, book.open(part.lstrip("/")) as stream:
        for _event, element in ET.iterparse(stream, events=("start",)):
            if element.tag.rsplit("}", 1)[-1] == "row":
                return element.get("r") in (None, "1") and element.get("hidden") in ("1", "true")
    return False


def _formulas_without_values(path: Path, part: str) -> list[str]:
    """The cells of the sheet stored at ``part`` in the workbook that hold a formula
    and no value computed for it (as a program that does not compute formulas writes
    them: openpyxl, many exports). Reading values, such a cell is empty. A formula
    whose text result is empty (``t="str"``) has its value. One fast pass over the
    sheet's XML when it has no formula at all."""
    import xml.etree.ElementTree as ET

    with zipfile.ZipFile(path) as book:
        with book.open(part.lstrip("/")) as stream:
            tail, found = b"", False
            while chunk := stream.read(1 << 20):
                if b"<f" in tail + chunk:
                    found = True
                    break
                tail = chunk[-1:]
        if not found:
            return []
        missing: list[str] = []
        with book.open(part.lstrip("/")) as stream:
            for _event, element in ET.iterparse(stream):
                if element.tag.rsplit("}", 1)[-1] != "c":
                    continue
                children = {child.tag.rsplit("}", 1)[-1]: child for child in element}
                if "f" in children:
                    value = children.get("v")
                    if value is None or (not value.text and element.get("t") != "str"):
                        missing.append(element.get("r") or "?")
                element.clear()
        return missing


@contextmanager
def _sheet(path: Path, name: str | None) -> Iterator[Any]:
    """The sheet ``name`` of the workbook at ``path``, read-only. Default: the first
    sheet, or in a workbook crmbook exported (a cover first), its first sheet of
    records (the first whose first row is hidden)."""
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    # Opened here, not by name: openpyxl judges a name by its extension, and a
    # workbook saved as "customers.csv" is still a workbook.
    with path.open("rb") as handle:
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError, ValueError) as exc:
            raise FileError(f"{path}: not a readable XLSX workbook ({exc})") from None
        try:
            if name is not None and name not in book.sheetnames:
                raise FileError(f"{path}: no sheet {name!r}; it has {', '.join(book.sheetnames)}")
            yield _default_sheet(path, book) if name is None else book[name]
        finally:
            book.close()


def frame_cell(value: Any) -> Any:
    """A DataFrame's cell as the import reads it, the way a spreadsheet's is: NaN,
    None, NA and NaT are empty; a number is its text (a whole float, as a phone read
    by pandas is, its digits: 3001234567.0 is "3001234567"); a Timestamp at midnight
    is its date. Text, and lists (of tags), stay as they are."""
    value = plain_value(value)
    if blank(value):
        return ""
    if isinstance(value, str | list | tuple | set | dict):
        return value
    return _xlsx_cell(value)


#: The Excel serial numbers of 1900-01-01 and 9999-12-31.
_SERIALS = (1, 2958465)


def _serial_date(value: Any, epoch: dt.datetime | None) -> str | None:
    """An XLSX cell holding a whole number from 1 to 2958465 as the ISO date it is the
    Excel serial of (in the workbook's date system), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    if not _SERIALS[0] <= value <= _SERIALS[1]:
        return None
    from openpyxl.utils.datetime import CALENDAR_WINDOWS_1900, from_excel

    try:
        day = from_excel(int(value), epoch or CALENDAR_WINDOWS_1900)
    except (OverflowError, ValueError):
        return None
    return day.date().isoformat() if isinstance(day, dt.datetime) else None


def _xlsx_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)
