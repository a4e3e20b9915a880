"""Cells of a rejects file: written so that no spreadsheet runs them as formulas, and
read back as they were when the fixed file is imported again.

A CSV cell that a spreadsheet would run as a formula (``=...``, ``@...``, or ``+``/``-``
followed by more than a number) gets a leading apostrophe (OWASP's advice on CSV
injection); phones and signed numbers are left as they are, and a cell whose own
leading apostrophe would be taken for crmbook's gets one more.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

#: The columns a rejects file adds after the input's own.
EXTRA = ("line", "field", "value", "reason")
# A phone or a signed number: "+92 300 1234567", "-12.5", "(021) 3456-7890".
_NUMBERLIKE = re.compile(r"[+-][\d\s().\-/]*")


def safe_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet runs as a formula."""
    if not isinstance(value, str) or not value:
        return value
    first = value[0]
    if first in "=@\t\r" or (first in "+-" and not _NUMBERLIKE.fullmatch(value)):
        return "'" + value
    if first == "'" and unescaped_cell(value) != value:
        # The file's own apostrophe before a formula-like cell ("'=keep"): one more, so
        # that taking off the one crmbook added gives the cell back as it was.
        return "'" + value
    return value


def unescaped_cell(value: str) -> str:
    """The cell :func:`safe_cell` made ``value`` from (a cell it would not have
    escaped is given back as it is)."""
    if value.startswith("'") and safe_cell(value[1:]) == value:
        return value[1:]
    return value


def extra_columns(columns: Sequence[str]) -> list[str]:
    """The names of the columns a rejects file adds after the input's ``columns``:
    :data:`EXTRA`, each with ``_`` put before it while the input (or an earlier added
    column) has that name already (an input with its own ``line`` column gets
    ``_line``). The one rule :class:`~crm_core.imports.rejects.Rejects` writes by and
    :func:`is_rejects_header` reads by."""
    taken = set(columns)
    extra: list[str] = []
    for name in EXTRA:
        while name in taken:
            name = "_" + name
        taken.add(name)
        extra.append(name)
    return extra


def is_rejects_header(columns: Sequence[str]) -> bool:
    """Whether a header is a rejects file's: the input's columns, then the columns
    :func:`extra_columns` adds to them (:data:`EXTRA`, perhaps ``_``-prefixed)."""
    n = len(EXTRA)
    return len(columns) > n and list(columns[-n:]) == extra_columns(columns[:-n])
