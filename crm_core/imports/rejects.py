"""The rejects file: every row an import refused, as it was, with why.

It is written in the input's own format (CSV in the input's encoding and delimiter,
or XLSX), with the input's columns followed by ``line``, ``field``, ``value`` and
``reason``, so that a person can fix the rows in a spreadsheet and import the file
again. A CSV cell that a spreadsheet would run as a formula (``=...``, ``@...``, or
``+``/``-`` followed by more than a number) is written with a leading apostrophe;
XLSX cells are written as text, which a spreadsheet never runs.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from crm_core.imports.reading import Source

#: The columns added after the input's own.
EXTRA = ("line", "field", "value", "reason")
# A phone or a signed number: "+92 300 1234567", "-12.5", "(021) 3456-7890".
_NUMBERLIKE = re.compile(r"[+-][\d\s().\-/]*")


def rejects_path(source: Path) -> Path:
    """Where the rejects of ``source`` go by default: beside it, ``<name>.rejects.<ext>``."""
    return source.with_name(f"{source.stem}.rejects{source.suffix or '.csv'}")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs as a formula (OWASP's advice,
    but phones and signed numbers are left as they are)."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first in "=@\t\r" or (first in "+-" and not _NUMBERLIKE.fullmatch(value)):
        return "'" + value
    return value


class Rejects:
    """Writes rejected rows as they come; the file exists (with its header) once the
    import ends, even when nothing was rejected, so that an old one is never mistaken
    for this run's."""

    def __init__(self, path: Path | None, columns: Sequence[str], source: Source | None):
        self.path = path
        self.columns = list(columns)
        extra = []
        for name in EXTRA:
            while name in self.columns or name in extra:
                name = "_" + name
            extra.append(name)
        self.header = [*self.columns, *extra]
        self.xlsx = source is not None and source.format == "xlsx"
        self.encoding = (source.encoding if source is not None else None) or "utf-8-sig"
        if self.encoding.lower().replace("_", "-") in ("utf-8", "utf8"):
            # Excel reads UTF-8 without a mark as the local code page: keep Urdu readable.
            self.encoding = "utf-8-sig"
        self.delimiter = (source.delimiter if source is not None else None) or ","
        self.count = 0
        self._file: TextIO | None = None
        self._writer: Any = None
        self._book: Any = None
        self._sheet: Any = None
        self._row = 0

    def _open(self) -> None:
        assert self.path is not None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.xlsx:
            import xlsxwriter

            self._book = xlsxwriter.Workbook(
                str(self.path), {"constant_memory": True, "strings_to_formulas": False}
            )
            self._sheet = self._book.add_worksheet("rejects")
            self._write_xlsx(self.header)
        else:
            # A value the input's encoding cannot hold (it came from the input, so only a
            # reason could) is written as an escape rather than stop the import.
            self._file = self.path.open(
                "w", newline="", encoding=self.encoding, errors="backslashreplace"
            )
            self._writer = csv.writer(self._file, delimiter=self.delimiter)
            self._writer.writerow(self.header)

    def write(
        self, cells: Sequence[Any], line: int, field: str | None, value: Any, reason: str
    ) -> None:
        """Add one refused row: its cells as read, and why."""
        self.count += 1
        if self.path is None:
            return
        if self._file is None and self._book is None:
            self._open()
        padded = list(cells) + [""] * (len(self.columns) - len(cells))
        row = [*padded, line, field or "", "" if value is None else str(value), reason]
        if self.xlsx:
            self._write_xlsx(row)
        else:
            self._writer.writerow([safe_cell(c) for c in row])

    def _write_xlsx(self, row: Sequence[Any]) -> None:
        for col, value in enumerate(row):
            if isinstance(value, int):
                self._sheet.write_number(self._row, col, value)
            else:
                self._sheet.write_string(self._row, col, "" if value is None else str(value))
        self._row += 1

    def close(self) -> None:
        """Finish the file (creating it with its header alone when nothing was refused)."""
        if self.path is None:
            return
        if self._file is None and self._book is None:
            self._open()
        if self._book is not None:
            self._book.close()
        if self._file is not None:
            self._file.close()
