"""What an import did (or, in a dry run, would do): counts, examples and the mapping.

Every row read is counted exactly once: ``rows == created + updated + unchanged +
rejected``. A report prints as a short summary (``str``), shows as a table in a
notebook (``_repr_html_``) and turns into a DataFrame (:meth:`ImportReport.frame`).
"""

from __future__ import annotations

import html
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

#: The outcomes of a row, in the order a report lists them.
OUTCOMES = ("created", "updated", "unchanged", "rejected")
#: How many example rows a report keeps per outcome.
EXAMPLES = 5
#: The most characters of a value an example shows.
SHOWN = 80
_CUT = re.compile(r"^… \([\d,]+ characters\)$")


@dataclass
class Example:
    """One row as an example of its outcome."""

    line: int
    outcome: str
    name: str
    record_id: int | None = None
    detail: str = ""


@dataclass
class ImportReport:
    """Counts, examples and what the file's columns filled."""

    entity: str
    source: str
    dry_run: bool = False
    mode: str = "upsert"
    match: tuple[str, ...] = ()
    counts: Counter[str] = field(default_factory=Counter)
    #: How the matched rows were matched: key -> rows.
    matched_by: Counter[str] = field(default_factory=Counter)
    #: Companies created for contact or deal rows naming one that did not exist.
    companies_created: int = 0
    #: Custom fields defined for columns kept with ``custom``.
    custom_fields_defined: list[str] = field(default_factory=list)
    mapping: list[tuple[str, str]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    examples: dict[str, list[Example]] = field(default_factory=dict)
    #: The rejects file this run wrote (None when it rejected no row: none is written).
    rejects_path: Path | None = None
    #: A rejects file of the name this run would have written, left from an earlier
    #: run: this one rejected nothing and left it as it was.
    earlier_rejects: Path | None = None
    #: How a CSV file was read: its encoding (given, or found) and delimiter.
    encoding: str | None = None
    delimiter: str | None = None
    seconds: float = 0.0
    #: The rejected rows of a DataFrame's import (its columns, then line, field, value
    #: and reason), whether or not they also went to a rejects file.
    rejects: pd.DataFrame | None = field(default=None, repr=False)
    #: Why batches the database refused were refused (their rows are in ``rejected``).
    failures: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows read (blank lines are not rows)."""
        return sum(self.counts[o] for o in OUTCOMES)

    @property
    def created(self) -> int:
        return self.counts["created"]

    @property
    def updated(self) -> int:
        return self.counts["updated"]

    @property
    def unchanged(self) -> int:
        return self.counts["unchanged"]

    @property
    def rejected(self) -> int:
        return self.counts["rejected"]

    @property
    def rate(self) -> float:
        """Rows per second."""
        return self.rows / self.seconds if self.seconds else 0.0

    def add(self, outcome: str, example: Example | None = None) -> None:
        """Count one row's outcome, keeping it as an example while there are few."""
        self.counts[outcome] += 1
        if example is not None:
            kept = self.examples.setdefault(outcome, [])
            if len(kept) < EXAMPLES:
                # A 16 MiB name is not kept whole for an example.
                example.name = shorten(example.name)
                example.detail = shorten(example.detail, 300)
                kept.append(example)

    def frame(self) -> pd.DataFrame:
        """One line per outcome: its count and its examples."""
        return pd.DataFrame(
            [
                {
                    "outcome": o,
                    "rows": self.counts[o],
                    "examples": "; ".join(_example(e) for e in self.examples.get(o, [])),
                }
                for o in OUTCOMES
            ]
        )

    def summary(self) -> str:
        """A few lines for a person: what happened, where the rejects are."""
        verb = "would be" if self.dry_run else "were"
        head = f"{self.source}: {self.rows} {self.entity} row(s) read in {self.seconds:.1f} s" + (
            " (dry run: nothing written)" if self.dry_run else ""
        )
        lines = [head]
        if self.encoding is not None:
            lines.append(f"  {read_as(self.encoding, self.delimiter)}")
        for o in OUTCOMES:
            label = o if o == "rejected" else f"{verb} {o}"
            lines.append(f"  {self.counts[o]:>9} {label}")
        if self.matched_by:
            by = ", ".join(f"{n} by {k}" for k, n in self.matched_by.most_common())
            lines.append(f"  matched existing records: {by}")
        if self.companies_created:
            lines.append(
                f"  {self.companies_created} new company(ies) named by rows {verb} created"
            )
        if self.custom_fields_defined:
            defined = "would be defined" if self.dry_run else "defined"
            lines.append(f"  custom fields {defined}: {', '.join(self.custom_fields_defined)}")
        if self.ignored_columns:
            lines.append(f"  ignored columns: {', '.join(self.ignored_columns)}")
        if self.rejected and self.rejects_path is not None:
            lines.append(f"  rejected rows, with the reason, are in {self.rejects_path}")
        elif self.rejected and self.rejects is not None:
            lines.append("  rejected rows, with the reason, are in the report's .rejects")
        elif self.rejected and self.dry_run:
            lines.append(
                "  a dry run writes no rejects file (examples below); --rejects PATH writes one"
            )
        if not self.rejected and self.earlier_rejects is not None:
            lines.append(
                f"  no row rejected, so no rejects file written: {self.earlier_rejects} is "
                "an earlier run's, left as it was"
            )
        lines.extend(f"  {f}" for f in self.failures)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def _repr_html_(self) -> str:
        table = self.frame().to_html(index=False, escape=True)
        notes = html.escape(self.summary()).replace("\n", "<br>")
        return f"<div><p>{notes}</p>{table}</div>"

    def as_dict(self) -> dict[str, Any]:
        """The counts as plain values (JSON-ready)."""
        return {
            "entity": self.entity,
            "source": self.source,
            "dry_run": self.dry_run,
            "rows": self.rows,
            **{o: self.counts[o] for o in OUTCOMES},
            "matched_by": dict(self.matched_by),
            "companies_created": self.companies_created,
            "rejects": None if self.rejects_path is None else str(self.rejects_path),
            "encoding": self.encoding,
            "delimiter": self.delimiter,
        }


def shorten(value: str, width: int = SHOWN) -> str:
    """``value`` cut to ``width`` characters for showing (``…`` and the length said;
    a value cut already is left as it is)."""
    if len(value) <= width or _CUT.search(value[width - 1 :]):
        return value
    return f"{value[: width - 1]}… ({len(value):,} characters)"


def read_as(encoding: str, delimiter: str | None) -> str:
    """How a CSV file was read, for a person to check: ``read as cp1252, delimiter
    ';' (another encoding: --encoding)``."""
    shown = {"\t": "tab", " ": "space"}.get(delimiter or "", repr(delimiter))
    return (
        f"read as {encoding}"
        + (f", delimiter {shown}" if delimiter else "")
        + " (if names look wrong, give the file's encoding with --encoding)"
    )


def _example(e: Example) -> str:
    ref = f" #{e.record_id}" if e.record_id is not None else ""
    detail = f": {shorten(e.detail, 200)}" if e.detail else ""
    return f"line {e.line} {shorten(e.name)!r}{ref}{detail}"
