"""The rejects file: every row an import refused, as it was, with why.

It is written in the format its name asks for (``.csv``: CSV in the input's encoding,
byte-order mark included or not as the input had it, and delimiter; ``.xlsx``: a
workbook; another extension, ``.txt`` and ``.tsv`` included, is refused before
anything is read or written), and only when a row was rejected (a run that rejects
nothing leaves an earlier file of that name as it was), with the input's columns
followed by ``line``, ``field``, ``value`` and ``reason``, so that a person can fix
the rows in a spreadsheet and import the file again. A CSV cell that a spreadsheet
would run as a formula is written with a leading apostrophe
(:mod:`crm_core.imports.cells`), taken off again when the file is imported;
XLSX cells are written as text, which a spreadsheet never runs.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from crm_core.errors import ImportRefused
from crm_core.imports.cells import extra_columns, safe_cell
from crm_core.imports.reading import Source

#: A rejects file's format by its name's extension (any case): it is written as its
#: name says, whatever the input's format; another extension is refused.
FORMATS = {".csv": "csv", ".xlsx": "xlsx"}


def rejects_path(source: Path) -> Path:
    """Where the rejects of ``source`` go by default: beside it, ``<name>.rejects.<ext>``
    (``.csv`` for an input whose extension names no rejects format)."""
    suffix = source.suffix if source.suffix.lower() in FORMATS else ".csv"
    return source.with_name(f"{source.stem}.rejects{suffix}")


def rejects_format(path: Path) -> str:
    """``csv`` or ``xlsx``: the format ``path``'s extension asks for (see :data:`FORMATS`);
    :class:`RejectsPathError` for any other extension."""
    found = FORMATS.get(path.suffix.lower())
    if found is None:
        raise RejectsPathError(
            f"--rejects {path}: name the file .csv or .xlsx; the rejects are written "
            "in the format its name says"
        )
    return found


class RejectsPathError(ImportRefused):
    """The rejects file cannot go where it was asked to."""


def check_rejects_path(path: Path, source: Path | None) -> None:
    """Refuse a rejects path before anything is read or written: the input itself
    (by any name: resolved, through a symbolic or a hard link), a folder, a symbolic
    link (never followed), a path whose folder does not exist, a name that is not
    .csv or .xlsx (:func:`rejects_format`)."""
    if os.path.islink(path):
        raise RejectsPathError(
            f"--rejects {path}: is a symbolic link; give the path of a file, not a link"
        )
    if source is not None and (path.exists() or path.is_symlink()):
        try:
            same = os.path.samefile(path, source)
        except OSError:
            same = False
        if same:
            raise RejectsPathError(
                f"--rejects {path}: is the input file itself; writing the rejects there "
                "would destroy it: give another path"
            )
    if source is not None and path.resolve() == source.resolve():
        raise RejectsPathError(f"--rejects {path}: is the input file itself; give another path")
    if path.is_dir():
        raise RejectsPathError(
            f"--rejects {path}: is a folder; give the path of a file, e.g. {path / 'rejects.csv'}"
        )
    rejects_format(path)
    folder = path.parent
    if not folder.is_dir():
        raise RejectsPathError(
            f"--rejects {path}: the folder {folder} does not exist; create it first"
        )
    if path.exists() and not path.is_file():
        raise RejectsPathError(f"--rejects {path}: is no regular file")


class ExtraCells(list[Any]):
    """The cells of a row past its header's columns (a refused row's ``value``): the
    rejects file writes them in its ``value`` column as the file would write them, one
    line of cells with its delimiter (quoted where needed), never as a Python list."""

    def line(self, delimiter: str = ",") -> str:
        out = io.StringIO()
        csv.writer(out, delimiter=delimiter, lineterminator="").writerow(
            ["" if c is None else str(c) for c in self]
        )
        return out.getvalue()


class Rejects:
    """Writes rejected rows as they come: the file is made (or replaced) when the first
    row is rejected; a run that rejects nothing writes none and leaves an earlier file
    of that name alone (:attr:`written` says which; the report says so)."""

    def __init__(
        self,
        path: Path | None,
        columns: Sequence[str],
        source: Source | None,
        *,
        keep: bool = False,
    ):
        self.path = path
        #: With ``keep``, the rejected rows as well, for :meth:`frame` (a DataFrame's).
        self.kept: list[list[Any]] | None = [] if keep else None
        self.columns = list(columns)
        self.header = [*self.columns, *extra_columns(self.columns)]
        # Written as the file's name says (a .csv holds CSV even for an XLSX input).
        self.xlsx = path is not None and rejects_format(path) == "xlsx"
        # The input's encoding as it was (UTF-8 with its byte-order mark or without);
        # an XLSX or a DataFrame has none: UTF-8 with the mark, which Excel reads as
        # UTF-8 (without it, as the local code page).
        self.encoding = (source.encoding if source is not None else None) or "utf-8-sig"
        self.delimiter = (source.delimiter if source is not None else None) or ","
        self.count = 0
        self._file: TextIO | None = None
        self._writer: Any = None
        self._book: Any = None
        self._sheet: Any = None
        self._row = 0

    def _open(self) -> None:
        assert self.path is not None
        if os.path.islink(self.path):  # made since the run was checked: not followed
            raise RejectsPathError(f"--rejects {self.path}: is a symbolic link")
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
            flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
            self._file = open(  # noqa: SIM115 - closed by close()
                os.open(self.path, flags, 0o644),
                "w",
                newline="",
                encoding=self.encoding,
                errors="backslashreplace",
            )
            self._writer = csv.writer(self._file, delimiter=self.delimiter)
            # The header's cells too: a column named "=HYPERLINK(...)" is no formula
            # either (read back as it was: see reading.open_source).
            self._writer.writerow([safe_cell(c) for c in self.header])

    def write(
        self, cells: Sequence[Any], line: int, field: str | None, value: Any, reason: str
    ) -> None:
        """Add one refused row: its cells as read, and why."""
        self.count += 1
        padded = list(cells) + [""] * (len(self.columns) - len(cells))
        if isinstance(value, ExtraCells):
            value = value.line(self.delimiter)
        row = [*padded, line, field or "", "" if value is None else str(value), reason]
        if self.kept is not None:
            self.kept.append(row)
        if self.path is None:
            return
        if self._file is None and self._book is None:
            self._open()
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

    def frame(self) -> pd.DataFrame | None:
        """The rows kept (with ``keep``) as a DataFrame: the input's columns, then
        line, field, value and reason; None without ``keep``."""
        if self.kept is None:
            return None
        return pd.DataFrame(self.kept, columns=self.header)

    @property
    def written(self) -> bool:
        """Whether this run wrote the file (it rejected a row)."""
        return self._file is not None or self._book is not None

    def close(self) -> None:
        """Finish the file (none is written when nothing was refused)."""
        if self.path is None:
            return
        if self._book is not None:
            self._book.close()
        if self._file is not None:
            self._file.close()
