"""``ws.importer``: a file (or DataFrame) of companies, contacts or deals into the
workspace, matched against what is already there (see :mod:`crm_core.imports.batch`
for what happens to each row).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm_core import access, db
from crm_core.errors import ImportRefused
from crm_core.imports import dates as date_orders
from crm_core.imports import mapping as m
from crm_core.imports import parallel
from crm_core.imports.batch import Job
from crm_core.imports.history import HistoryJob
from crm_core.imports.matching import DEFAULT_KEYS, check_keys
from crm_core.imports.reading import Source, frame_cell, open_source
from crm_core.imports.records import RecordJob
from crm_core.imports.rejects import Rejects, check_rejects_path, rejects_path
from crm_core.imports.report import ImportReport

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Progress = Callable[[ImportReport, float | None], None]
#: What a run may do with a row: create only, update only, or both.
MODES = ("create", "update", "upsert")
#: The entities an import takes, by the names the command line accepts.
ENTITIES = {
    "contacts": "contact",
    "contact": "contact",
    "companies": "company",
    "company": "company",
    "opportunities": "opportunity",
    "opportunity": "opportunity",
    "deals": "opportunity",
    "activities": "activity",
    "activity": "activity",
    "interactions": "interaction",
    "interaction": "interaction",
}
#: The field without which a row is nothing, per entity.
REQUIRED = {
    "contact": "name",
    "company": "name",
    "opportunity": "name",
    "activity": "subject",
    "interaction": "channel",
}


class Importer:
    """Imports rows into the workspace: ``ws.importer.run("customers.csv", "contacts")``."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def columns(
        self,
        source: str | Path | pd.DataFrame,
        entity: str,
        *,
        map: Mapping[str, str] | Sequence[str] | None = None,
        custom: bool = False,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
    ) -> pd.DataFrame:
        """What each column of ``source`` would fill, before anything is written: a
        DataFrame of column and field (or why it is ignored)."""
        kind = _entity(entity)
        src = _source(source, encoding, delimiter, sheet)
        plan = self._mapping(kind, src.columns, map, custom)
        frame = pd.DataFrame(plan.rows(), columns=["column", "field"])
        if src.file is not None and src.file.encoding is not None:
            # How the file was read, for the command line to say before the run.
            frame.attrs["encoding"] = src.file.encoding
            frame.attrs["delimiter"] = src.file.delimiter
        return frame

    def run(
        self,
        source: str | Path | pd.DataFrame,
        entity: str,
        *,
        map: Mapping[str, str] | Sequence[str] | None = None,
        match: Sequence[str] | str | None = None,
        mode: str = "upsert",
        dry_run: bool = False,
        rejects: str | Path | None = None,
        custom: bool = False,
        keep_invalid: bool = False,
        pipeline: int | str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
        batch_size: int = 5000,
        progress: Progress | None = None,
        workers: int = 0,
        dates: str = "YMD",
    ) -> ImportReport:
        """Import ``source`` (a CSV or XLSX path, or a DataFrame) as ``entity`` rows
        (contacts, companies, opportunities, activities or interactions) and return
        what happened.

        ``map`` maps columns to fields by hand ({"Mobile No": "mobile"}, or specs as
        the command line takes them); the rest is guessed from the headers.
        ``match`` names the keys existing records are found by (default: erp_id,
        email, phone and name for contacts; erp_id, vat, email, phone, name for
        companies; erp_id and name for deals). ``mode`` "create" only adds records,
        "update" only changes matched ones, "upsert" does both. Rejected rows go to
        ``rejects`` (default: beside the file, ``<name>.rejects.<ext>``; a DataFrame's
        only when a path is given), as its name says (.csv or .xlsx; a CSV in the
        input's encoding), only when a row was rejected (an earlier file of that name
        is otherwise left alone, and the report says so); a DataFrame's
        are also on the report, ``report.rejects`` (a DataFrame). A DataFrame's cells
        are read as a spreadsheet's: numbers as their text (a whole float, such as a
        phone pandas read, as its digits), a Timestamp at midnight as its date, NaN,
        None and NaT as empty. ``custom``
        keeps unknown columns as new text custom fields; ``keep_invalid`` keeps text
        a person could not have typed as written (see ``ws.quality``). ``progress``
        is called after each batch with the report so far and the share of the input
        read (None when unknown). ``workers`` > 0 validates batches in that many
        other processes while this one writes (companies, contacts and deals; see
        :mod:`crm_core.imports.parallel`). A dry run writes nothing, not even a rejects
        file unless ``rejects`` names one. A ``rejects`` path that is the input
        itself, a folder or a symbolic link, whose folder does not exist, or that is
        named neither .csv nor .xlsx, is refused before anything is read. ``dates``
        is the order the file writes its dates in: "YMD" (ISO, 2026-12-25; also
        2026/12/25), "DMY" (25/12/2026, 25.12.2026) or "MDY" (12/25/2026); see
        :mod:`crm_core.imports.dates`.
        """
        kind = _entity(entity)
        access.check_unrestricted(self.ws, "import", f"{kind} rows")
        if mode not in MODES:
            raise ImportRefused(f"mode {mode!r}: one of {', '.join(MODES)}")
        if batch_size < 1:
            raise ImportRefused("batch_size must be at least 1")
        if workers < 0:
            raise ImportRefused("workers must be 0 or more")
        try:
            order = date_orders.check_order(dates)
        except ValueError as exc:
            raise ImportRefused(str(exc)) from None
        if isinstance(match, str):
            match = match.split(",")
        history = kind not in DEFAULT_KEYS
        if history and (match is not None or custom):
            raise ImportRefused(
                f"{kind} rows are matched on what they are (see crm_core.imports.history) "
                "and have no custom fields: leave out --match and --custom"
            )
        try:
            keys = (
                ()
                if history
                else (check_keys(kind, match) if match is not None else DEFAULT_KEYS[kind])
            )
        except ValueError as exc:
            raise ImportRefused(str(exc)) from None
        input_path = None if isinstance(source, pd.DataFrame) else Path(source)
        if rejects is not None:
            # Before the input is read: the rejects must never overwrite it.
            check_rejects_path(Path(rejects), input_path)
        src = _source(source, encoding, delimiter, sheet)
        plan = self._mapping(kind, src.columns, map, custom)
        plan.dates = order
        if src.file is not None:
            src.file.date_columns = plan.date_columns  # an XLSX date column's serials
        needed = REQUIRED[kind]
        if needed not in plan.fields.values() and not (
            kind == "contact" and {"first_name", "last_name"} & set(plan.fields.values())
        ):
            raise ImportRefused(
                f"{src.label}: no column gives the {kind}'s {needed}; columns: "
                f"{', '.join(src.columns)} (map one with --map 'Column={needed}')"
            )
        # A dry run writes nothing: no rejects file unless one was asked for by name.
        out_path = (
            Path(rejects)
            if rejects is not None
            else (rejects_path(src.path) if src.path is not None and not dry_run else None)
        )
        if out_path is not None and rejects is None:
            check_rejects_path(out_path, src.path)
        report = ImportReport(
            entity=kind,
            source=src.label,
            dry_run=dry_run,
            mode=mode,
            match=tuple(keys),
            mapping=plan.rows(),
            ignored_columns=[*plan.unknown, *plan.overridden, *plan.repeated],
            rejects_path=out_path,
            encoding=src.file.encoding if src.file is not None else None,
            delimiter=src.file.delimiter if src.file is not None else None,
        )
        columns, label = src.columns, src.label
        job: Job = (
            HistoryJob(self.ws, kind, columns, label, plan, mode, keep_invalid, report)
            if history
            else RecordJob(
                self.ws, kind, columns, label, plan, keys, mode, keep_invalid, pipeline, report
            )
        )
        started = time.perf_counter()
        out = Rejects(out_path, src.columns, src.file, keep=src.frame is not None)
        try:
            with job.transactions(dry_run) as each_batch:
                if plan.new_custom:
                    report.custom_fields_defined = job.define_custom(plan.new_custom, each_batch)
                batches = _batches(src.rows(), batch_size)
                ready: Iterator[tuple[Any, Any]] = (
                    parallel.prepared(job, batches, workers)
                    if workers
                    and isinstance(job, RecordJob)
                    and parallel.shareable(self.ws)
                    # a worker cannot see the fields a dry run defines and will roll back
                    and not (dry_run and plan.new_custom)
                    else ((lines, None) for lines in batches)
                )
                written: dict[str, int] = {}
                try:
                    with _CtrlC() as ctrl_c:
                        for lines, rows in ready:
                            job.batch(each_batch, lines, out, rows)
                            written = dict(report.counts, line=lines[-1][0])
                            report.seconds = time.perf_counter() - started
                            if progress is not None:
                                progress(report, src.fraction())
                            if ctrl_c.pressed:
                                raise KeyboardInterrupt
                except KeyboardInterrupt:
                    if isinstance(ready, Iterator) and hasattr(ready, "close"):
                        ready.close()  # the workers stop here, not when collected
                    raise ImportInterrupted(report, {} if dry_run else written) from None
        finally:
            out.close()
            if out_path is not None and not out.written:
                # Nothing rejected: no file written, an earlier one left alone.
                report.rejects_path = None
                report.earlier_rejects = out_path if out_path.exists() else None
            report.rejects = out.frame()
            report.seconds = time.perf_counter() - started
        if src.error is not None:
            report.failures.append(src.error)
            raise ImportStopped(src.error, report)
        if report.created and not dry_run:
            db.refresh_statistics(self.ws.engine)
        return report

    def _mapping(
        self,
        kind: str,
        columns: list[str],
        given: Mapping[str, str] | Sequence[str] | None,
        custom: bool,
    ) -> m.ColumnMap:
        if given is None or isinstance(given, Mapping):
            by_hand = dict(given or {})
        else:
            by_hand = m.parse_map([given] if isinstance(given, str) else given)
        defined: dict[str, str | None] = {}
        dated = set(date_orders.DATE_FIELDS)
        if kind in ("contact", "company", "opportunity"):
            fields = self.ws.custom_fields.list(kind)
            defined = dict(zip(fields["name"], fields["label"], strict=True))
            dated |= {m.CUSTOM + n for n in fields["name"][fields["type"] == "date"]}
        plan = m.guess(kind, columns, defined, given=by_hand, keep_unknown=custom)
        plan.date_columns = frozenset(c for c, f in plan.fields.items() if f in dated)
        return plan


# -- the input ------------------------------------------------------------------------


@dataclass
class Input:
    """A file's or a DataFrame's rows, as the run reads them."""

    columns: list[str]
    label: str
    path: Path | None
    file: Source | None
    frame: pd.DataFrame | None = None

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        if self.file is not None:
            yield from self.file.rows()
            return
        assert self.frame is not None
        # Line numbers as if the frame were a file with a header line.
        for number, values in enumerate(self.frame.itertuples(index=False, name=None), 2):
            cells = [frame_cell(v) for v in values]
            if any(c != "" for c in cells):
                yield number, cells

    def fraction(self) -> float | None:
        return self.file.fraction() if self.file is not None else None

    @property
    def error(self) -> str | None:
        """Why the reading stopped before the end of the file, naming the line."""
        return self.file.error if self.file is not None else None


class ImportStopped(ImportRefused):
    """The file could not be read to its end (see :attr:`Source.error`): the rows
    before the line named were imported (in a dry run, nothing), in whole batches;
    ``report`` counts them."""

    def __init__(self, message: str, report: ImportReport):
        super().__init__(message)
        self.report = report


class _CtrlC:
    """Ctrl-C during an import run in the main thread stops it after the batch being
    written, so what it says was written is what was committed; a second Ctrl-C
    stops it at once. (Elsewhere, a KeyboardInterrupt stops it where it comes.)"""

    def __init__(self) -> None:
        self.pressed = False
        self._before: Any = None

    def __enter__(self) -> _CtrlC:
        if threading.current_thread() is threading.main_thread():
            self._before = signal.signal(signal.SIGINT, self._press)
        return self

    def _press(self, *_: Any) -> None:
        if self.pressed:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *_: object) -> None:
        if self._before is not None:
            signal.signal(signal.SIGINT, self._before)


class ImportInterrupted(KeyboardInterrupt):
    """The import was interrupted (Ctrl-C): the batches written before stay written.
    ``written`` counts them by outcome, with the last ``line`` they hold (empty: none,
    or a dry run); running the same import again goes on, those rows unchanged."""

    def __init__(self, report: ImportReport, written: Mapping[str, int]):
        self.report, self.written = report, dict(written)
        if not written:
            said = "interrupted: nothing was written"
        else:
            counts = ", ".join(f"{written.get(o, 0)} {o}" for o in report.counts)
            said = (
                f"interrupted: the rows up to line {written['line']} were written ({counts}); "
                "run the same import again to go on (those rows come back unchanged)"
            )
        super().__init__(said)


def _source(
    source: str | Path | pd.DataFrame,
    encoding: str | None,
    delimiter: str | None,
    sheet: str | None,
) -> Input:
    if isinstance(source, pd.DataFrame):
        columns = [str(c) for c in source.columns]
        return Input(columns, "DataFrame", None, None, source)
    src = open_source(source, encoding=encoding, delimiter=delimiter, sheet=sheet)
    return Input(src.columns, str(src.path), src.path, src)


def _entity(entity: str) -> str:
    try:
        return ENTITIES[entity]
    except (KeyError, TypeError):
        raise ImportRefused(
            f"cannot import {entity!r}: contacts, companies, opportunities, activities "
            "or interactions"
        ) from None


def _batches(
    rows: Iterator[tuple[int, list[Any]]], size: int
) -> Iterator[list[tuple[int, list[Any]]]]:
    batch: list[tuple[int, list[Any]]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
