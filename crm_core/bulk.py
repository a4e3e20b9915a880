"""Bulk import: validated like the services, written like a database loader.

``import_contacts``, ``import_companies`` and ``import_opportunities`` take an iterable of
mappings (rows of a CSV file, records of a DataFrame, dicts) and write them in batches.
Each value goes through the same cleaners the services use, so an imported record is
exactly what ``ws.contacts.create(**row)`` would have stored; but valid rows are then
inserted with SQLAlchemy Core ``executemany`` instead of the ORM unit of work, which is
what makes a million rows a matter of minutes.

What the ORM journal listener would have written is written too, in the same
transaction (see :mod:`crm_core.loaders`, which also serves the ERP sync's batch creates
in :mod:`crm_core.party_writer`). This is the insert-only path the benches and tests seed
big workspaces with; files from people go through ``ws.importer`` (:mod:`crm_core.imports`),
which also matches, updates and reports.

Each batch is one transaction. A row refused by validation is not written and goes to
the rejects CSV file with the reason; if the database refuses a batch, that batch is
rolled back as a whole, its rows go to the rejects file too, and the import carries on
with the next batch. Nothing is half-written and nothing is silently dropped.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from crm_core import db
from crm_core.imports.parallel import shareable
from crm_core.loaders import (
    BatchError,
    Checked,
    CompanyLoader,
    ContactLoader,
    Loader,
    OpportunityLoader,
    blank,
    database_reason,
)
from crm_core.workers import watch_parent

if TYPE_CHECKING:
    from crm_core.workspace import Workspace

Progress = Callable[["ImportReport"], None]

# How many row rejections the report keeps as text (all of them go to the rejects file).
KEEP_MESSAGES = 50


@dataclass
class ImportReport:
    """What an import did.

    ``inserted`` rows were written; ``rejected`` rows failed validation; ``failed``
    rows were valid but in a batch the database refused (rolled back). Rejected and
    failed rows are all in the rejects file when one was given. ``messages`` holds
    every batch failure and the first rejection reasons, so a caller without a
    rejects file still sees why.
    """

    entity: str
    inserted: int = 0
    rejected: int = 0
    failed: int = 0
    seconds: float = 0.0
    rejects_path: Path | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Rows read so far."""
        return self.inserted + self.rejected + self.failed

    @property
    def rate(self) -> float:
        """Rows read per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def import_contacts(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
    keep_invalid: bool = False,
) -> ImportReport:
    """Import contacts: one row per contact, columns named like ``ws.contacts.create``.

    Columns: name (required), email, phone, mobile, street, street2, city, zip,
    state, country, notes, job_title, language, birthday, company_id (or company:
    the id of an existing company), owner_id (or owner: id, login or e-mail), tags
    (comma-separated names), custom fields as ``custom.<name>`` columns or a
    ``custom`` mapping. Empty cells mean "no value".

    Rows failing validation are written to ``rejects`` (a CSV file, overwritten) with
    their original columns and an ``error`` column naming row, field, value and
    reason. ``progress`` is called with the running :class:`ImportReport` after each
    batch of ``batch_size`` rows. ``workers`` > 0 validates batches in that many
    extra processes while this one writes: checking e-mails and phone numbers costs
    about as much as writing (one worker made a million-contact import about 1.3x
    faster on two cores; more cores leave room for more). (Workers are started with
    "spawn": a script using them needs
    the usual ``if __name__ == "__main__":`` guard. An in-memory SQLite workspace
    is always validated in this process.)

    ``keep_invalid`` keeps a text value a person could not have typed (a phone that is
    no valid number, an e-mail with a reserved domain, a name too long) as the file
    wrote it instead of rejecting its row, and marks it in the record's
    ``unvalidated`` (see ``ws.quality``). Missing names and values of the wrong kind
    (an unknown company id, a date that is no date) still reject the row.
    """
    loader = ContactLoader(ws, keep_invalid)
    return _run(loader, rows, rejects, batch_size, progress, workers)


def import_companies(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
    keep_invalid: bool = False,
) -> ImportReport:
    """Import companies, like :func:`import_contacts` (columns as ``ws.companies.create``)."""
    loader = CompanyLoader(ws, keep_invalid)
    return _run(loader, rows, rejects, batch_size, progress, workers)


def import_opportunities(
    ws: Workspace,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    *,
    pipeline: int | str | None = None,
    rejects: str | Path | None = None,
    batch_size: int = 5000,
    progress: Progress | None = None,
    workers: int = 0,
    keep_invalid: bool = False,
) -> ImportReport:
    """Import deals into ``pipeline`` (default: the first), like ``ws.pipeline.create``.

    Columns: name (required), stage (name or id of an open stage; default the first),
    type, company_id / company and contact_id / contact (ids of existing records),
    owner_id / owner, expected_revenue (a decimal string, never a float), currency
    (default: the workspace's), probability (default: the stage's), expected_close,
    priority, source, campaign_id, description, tags, ``custom.<name>``. Each deal
    gets its first stage-history row. The other arguments are as in
    :func:`import_contacts` (``keep_invalid`` keeps a name or description too long).
    """
    with ws.transaction() as s:
        # An unknown pipeline is the caller's mistake, not a row's: fail before any batch.
        pipeline_id = ws.pipeline.get_pipeline(s, pipeline).id
    loader = OpportunityLoader(ws, pipeline_id, keep_invalid)
    return _run(loader, rows, rejects, batch_size, progress, workers)


# -- rows in ----------------------------------------------------------------------------


def _records(rows: Iterable[Mapping[str, Any]] | pd.DataFrame) -> Iterator[Mapping[str, Any]]:
    if isinstance(rows, pd.DataFrame):
        columns = [str(c) for c in rows.columns]
        for values in rows.itertuples(index=False, name=None):
            yield dict(zip(columns, values, strict=True))
    else:
        yield from rows


def _batches(rows: Iterator[Mapping[str, Any]], size: int) -> Iterator[list[Mapping[str, Any]]]:
    while batch := list(islice(rows, size)):
        yield batch


# -- the run ------------------------------------------------------------------------------


class _Rejects:
    """The rejects CSV: the original columns of each refused row plus ``error``."""

    def __init__(self, path: Path | None):
        self.path = path
        self.file: TextIO | None = None
        self.writer: Any = None
        self.columns: list[str] = []
        self.known: set[str] = set()
        self.error_column = "error"

    def open(self, first_batch: Sequence[Mapping[str, Any]]) -> None:
        if self.path is None or self.file is not None:
            return
        columns: dict[str, None] = {}
        for row in first_batch:
            columns.update(dict.fromkeys(str(k) for k in row))
        self.columns = list(columns)
        self.known = set(self.columns)
        while self.error_column in columns:
            self.error_column = "_" + self.error_column
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # utf-8-sig so that Excel opens Urdu, Bengali and Cyrillic text correctly.
        # A refused value may hold a lone surrogate (that is why it was refused): it
        # is written as its escape, not left to stop the import.
        self.file = self.path.open("w", newline="", encoding="utf-8-sig", errors="backslashreplace")
        self.writer = csv.writer(self.file)
        self.writer.writerow([*self.columns, self.error_column])

    def write(self, raw: Mapping[str, Any], error: str) -> None:
        if self.writer is None:
            return
        extra = {str(k): v for k, v in raw.items() if str(k) not in self.known and not blank(v)}
        if extra:
            # A column the file's header does not have: keep its value, in the message.
            error += f" (columns not in the header: {extra!r})"
        cells = {str(k): v for k, v in raw.items()}
        self.writer.writerow([_cell(cells.get(c)) for c in self.columns] + [error])

    def close(self) -> None:
        if self.file is None and self.path is not None:
            self.open([])
        if self.file is not None:
            self.file.close()


def _cell(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return value


def _run(
    loader: Loader,
    rows: Iterable[Mapping[str, Any]] | pd.DataFrame,
    rejects: str | Path | None,
    batch_size: int,
    progress: Progress | None,
    workers: int,
) -> ImportReport:
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if workers < 0:
        raise ValueError("workers must be 0 or more")
    started = time.perf_counter()
    path = Path(rejects) if rejects is not None else None
    report = ImportReport(entity=loader.entity, rejects_path=path)
    out = _Rejects(path)
    batches = _numbered(_batches(_records(rows), batch_size), out)

    def done(batch: list[Mapping[str, Any]], first: int, checked: Any) -> None:
        _batch(loader, batch, first, report, out, checked)
        report.seconds = time.perf_counter() - started
        if progress is not None:
            progress(report)

    try:
        if workers and shareable(loader.ws):
            _run_parallel(loader, batches, workers, done)
        else:
            for batch, first in batches:
                done(batch, first, None)
    finally:
        out.close()
        if report.inserted:
            db.refresh_statistics(loader.ws.engine)
        report.seconds = time.perf_counter() - started
    return report


def _numbered(
    batches: Iterator[list[Mapping[str, Any]]], out: _Rejects
) -> Iterator[tuple[list[Mapping[str, Any]], int]]:
    number = 1
    for batch in batches:
        out.open(batch)  # the first batch names the rejects file's columns
        yield batch, number
        number += len(batch)


def _run_parallel(
    loader: Loader,
    batches: Iterator[tuple[list[Mapping[str, Any]], int]],
    workers: int,
    done: Callable[[list[Mapping[str, Any]], int, Any], None],
) -> None:
    """Validate batches in ``workers`` processes while this one writes, in order.

    At most ``workers + 1`` batches are in flight, so memory stays bounded whatever
    the size of the input. "spawn" gives each worker a clean interpreter: no copy of
    this process's database connections, and it works the same in notebooks.
    """
    url = loader.ws.engine.url.render_as_string(hide_password=False)
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(url, loader.entity, loader.options, os.getpid()),
    )
    pending: deque[tuple[list[Mapping[str, Any]], int, Future[Any]]] = deque()
    try:
        for batch, first in batches:
            plain = [dict(row) for row in batch]  # picklable whatever the mapping type
            pending.append((batch, first, pool.submit(_worker_validate, plain, first)))
            while len(pending) > workers:
                done(*pending.popleft())
        while pending:
            done(*pending.popleft())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, Loader] = {}


def _worker_start(url: str, entity: str, options: dict[str, Any], parent: int) -> None:
    """Open the workspace in a worker process and build the loader there; the worker
    ends when ``parent`` (the importing process) dies, killed or not."""
    from crm_core.workspace import Workspace

    watch_parent(parent)

    loaders: dict[str, Callable[..., Loader]] = {
        "contact": ContactLoader,
        "company": CompanyLoader,
        "opportunity": OpportunityLoader,
    }
    _WORKER["loader"] = loaders[entity](Workspace(db.make_engine(url)), **options)


def _worker_validate(batch: list[dict[str, Any]], first: int) -> tuple[list[Checked], str | None]:
    """Validate one batch in a worker: (results, None) or ([], why the database failed)."""
    loader = _WORKER["loader"]
    try:
        with loader.ws.transaction() as s:
            return loader.validate(s, batch, first), None
    except SQLAlchemyError as exc:
        return [], database_reason(exc)


def _batch(
    loader: Loader,
    batch: list[Mapping[str, Any]],
    first: int,
    report: ImportReport,
    out: _Rejects,
    validated: Future[tuple[list[Checked], str | None]] | None,
) -> None:
    """Validate (unless a worker did) and write one batch in one transaction."""
    refused: dict[int, str] = {}
    failure: str | None = None
    try:
        if validated is not None:
            checked, problem = validated.result()
            if problem is not None:
                raise BatchError(problem)
        with loader.ws.transaction() as s:
            if validated is None:
                checked = loader.validate(s, batch, first)
            refused = {i: error for i, (_, _, error) in enumerate(checked) if error}
            refused.update(loader.store(s, checked, first)[0])
    except (SQLAlchemyError, BatchError) as exc:
        loader.tag_ids.clear()  # tags created in the rolled-back batch are gone
        failure = (
            f"{loader.entity} rows {first}-{first + len(batch) - 1}: the database refused "
            f"the batch, none of it was written: {database_reason(exc)}"
        )
        report.messages.append(failure)
        report.failed += len(batch) - len(refused)
    else:
        report.inserted += len(batch) - len(refused)
    report.rejected += len(refused)
    for i, raw in enumerate(batch):
        error = refused.get(i, failure)
        if error is None:
            continue
        out.write(raw, error)
        if i in refused and len(report.messages) < KEEP_MESSAGES:
            report.messages.append(error)


__all__ = [
    "ImportReport",
    "import_companies",
    "import_contacts",
    "import_opportunities",
]
