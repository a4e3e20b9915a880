"""Preparing an import's batches in other processes while this one writes.

Validating a row (its e-mail, its phones with phonenumbers, its linked records) costs
about as much as writing it. With ``workers`` > 0, each batch is prepared
(:meth:`~crm_core.imports.batch.Job.prepare`: names into ids, validation) in one of
that many worker processes, in a read-only transaction of its own, while this process
matches and writes the batches before it, in file order. At most ``workers + 1``
batches are in flight, so memory stays bounded whatever the size of the file.

Workers start with "spawn": a clean interpreter with no copy of this process's
connections, the same in a notebook (a script using workers needs the usual
``if __name__ == "__main__":`` guard). Matching and writing stay in this process: what
a batch finds depends on what the batches before it wrote.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError

from crm_core.loaders import BatchError, database_reason
from crm_core.workers import watch_parent

if TYPE_CHECKING:
    from crm_core.imports.batch import Row
    from crm_core.imports.records import RecordJob
    from crm_core.workspace import Workspace

Lines = list[tuple[int, list[Any]]]


def shareable(ws: Workspace) -> bool:
    """Whether another process can open this workspace's database (not in-memory)."""
    url = ws.engine.url
    if url.get_backend_name() != "sqlite":
        return True
    return url.database not in (None, "", ":memory:") and "mode=memory" not in str(url)


def prepared(
    job: RecordJob, batches: Iterable[Lines], workers: int
) -> Iterator[tuple[Lines, list[Row] | str]]:
    """Each batch with its prepared rows (or why the database refused to prepare
    them), in order."""
    url = job.ws.engine.url.render_as_string(hide_password=False)
    spec = (
        job.kind,
        job.columns,
        job.origin,
        job.plan,
        job.keys,
        job.mode,
        job.keep_invalid,
        job.pipeline_id,
    )
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start,
        initargs=(url, spec, os.getpid()),
    )
    pending: deque[tuple[Lines, Future[list[Row] | str]]] = deque()
    try:
        for lines in batches:
            pending.append((lines, pool.submit(_prepare, lines)))
            while len(pending) > workers:
                lines, future = pending.popleft()
                yield lines, future.result()
        while pending:
            lines, future = pending.popleft()
            yield lines, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


_WORKER: dict[str, RecordJob] = {}


def _start(url: str, spec: tuple[Any, ...], parent: int | None = None) -> None:
    """Open the workspace in a worker process and build the same job there; with
    ``parent`` (the pid of the importing process), end the worker when that process
    dies (killed, it never shuts its pool down)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the importing process's
    if parent is not None:
        watch_parent(parent)
    from crm_core import db
    from crm_core.imports.records import RecordJob
    from crm_core.imports.report import ImportReport
    from crm_core.workspace import Workspace

    kind, columns, origin, plan, keys, mode, keep_invalid, pipeline_id = spec
    ws = Workspace(db.make_engine(url))
    report = ImportReport(entity=kind, source=origin)
    _WORKER["job"] = RecordJob(
        ws, kind, columns, origin, plan, keys, mode, keep_invalid, pipeline_id, report
    )


def _prepare(lines: Lines) -> list[Row] | str:
    """Prepare one batch in a worker: its rows, or why the database failed."""
    job = _WORKER["job"]
    rows = job.rows_of(lines)
    try:
        with job.ws.transaction() as s:
            job.prepare(s, rows)
    except (SQLAlchemyError, BatchError) as exc:
        return database_reason(exc)
    return rows
