"""Reading a file of rows: CSV in whatever encoding and delimiter it came in, or XLSX.

A file is read twice at most and never held in memory: :func:`open_source` first
looks at it (the encoding, from a byte-order mark, a strict UTF-8 pass over the
whole file, or charset-normalizer on the lines that are not ASCII; the delimiter,
from ``csv.Sniffer`` on the first lines), then :meth:`Source.rows` streams it row by
row with the line number each row starts on, which is how rejects and reports name
a row. Blank lines and rows of empty cells are skipped; quoted newlines stay inside
their cell.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import charset_normalizer

from crm_core.errors import ImportRefused

#: Delimiters a CSV file may use, in the order a tie is broken.
DELIMITERS = ",;\t|"
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK = 1 << 20
# How much of the non-ASCII text charset-normalizer is shown (it is slow on more).
_SAMPLE = 256 * 1024
# csv's own limit is 128 KiB per cell; a notes cell may be longer.
csv.field_size_limit(16 * 1024 * 1024)


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
        with _text(self.path, self.encoding) as stream:
            self._raw, self._size = stream.raw, self.path.stat().st_size
            reader = csv.reader(stream, delimiter=self.delimiter or ",")
            next(reader, None)  # the header
            line = reader.line_num
            for cells in reader:
                start, line = line + 1, reader.line_num
                if any(c.strip() for c in cells):
                    yield start, cells

    def _xlsx_rows(self) -> Iterator[tuple[int, list[Any]]]:
        with _sheet(self.path, self.sheet) as sheet:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                if number == 1:
                    continue
                cells = [_xlsx_cell(v) for v in values]
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
        head = f.read(8)
    if head.startswith(b"PK\x03\x04"):
        return _xlsx_source(path, sheet)
    if sheet is not None:
        raise FileError(f"{path}: --sheet is for XLSX files; this one is text")
    if encoding is None:
        encoding = detect_encoding(path)
    else:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise FileError(f"{path}: unknown encoding {encoding!r}") from None
    try:
        with _text(path, encoding) as stream:
            sample = stream.read(64 * 1024)
    except UnicodeDecodeError as exc:
        raise FileError(f"{path}: not readable as {encoding}: {exc.reason}") from None
    if not sample.strip():
        raise FileError(f"{path}: the file is empty")
    if delimiter is None:
        delimiter = detect_delimiter(sample)
    elif len(delimiter) != 1:
        raise FileError(f"{path}: the delimiter must be one character, not {delimiter!r}")
    header = next(csv.reader(io.StringIO(sample), delimiter=delimiter), [])
    columns, renamed = _header(header)
    if not any(header):
        raise FileError(f"{path}: the first line is no header (it is empty)")
    return Source(path, "csv", columns, encoding, delimiter, renamed=renamed)


def detect_encoding(path: Path) -> str:
    """The encoding of a text file: its byte-order mark; else UTF-8 when the whole file
    decodes as UTF-8; else what charset-normalizer reads in its non-ASCII lines."""
    with path.open("rb") as f:
        start = f.read(4)
        for bom, name in _BOMS:
            if start.startswith(bom):
                return name
        f.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        sample = bytearray()
        utf8 = True
        while chunk := f.read(_CHUNK):
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            if not chunk.isascii() and len(sample) < _SAMPLE:
                sample += b"\n".join(line for line in chunk.split(b"\n") if not line.isascii())
            if not utf8 and len(sample) >= _SAMPLE:
                break
        if utf8:
            try:
                decoder.decode(b"", final=True)
                return "utf-8"
            except UnicodeDecodeError:
                pass
    best = charset_normalizer.from_bytes(bytes(sample[:_SAMPLE])).best()
    if best is None:
        raise FileError(f"{path}: cannot tell the file's encoding; give it with --encoding")
    return str(best.encoding)


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
    if not any(c not in (None, "") for c in header):
        raise FileError(f"{path}: the sheet {title!r} has no header in its first row")
    columns, renamed = _header(list(header))
    return Source(path, "xlsx", columns, sheet=title, renamed=renamed)


@contextmanager
def _sheet(path: Path, name: str | None) -> Iterator[Any]:
    """The sheet ``name`` (default: the first) of the workbook at ``path``, read-only."""
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
            yield book.worksheets[0] if name is None else book[name]
        finally:
            book.close()


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
