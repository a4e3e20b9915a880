"""``crmbook import``: companies, contacts or deals from a CSV or XLSX file.

Prints what each column will fill, imports with a progress bar (or, with
``--dry-run``, only says what it would do), then prints the counts and where the
rejected rows went.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, _print_frame, acting, err, fail, say
from crm_core.cli import app as _app
from crm_core.imports import MODES, ImportInterrupted, ImportReport, ImportStopped
from crm_core.imports.dates import check_order
from crm_core.imports.progress import progress_bar
from crm_core.imports.rejects import RejectsPathError, check_rejects_path
from crm_core.imports.report import read_as, shorten
from crm_core.imports.run import ENTITIES
from crm_core.terminal import markup


@_app.command("import")
def import_(
    entity: Annotated[
        str,
        typer.Argument(help="contacts, companies, opportunities, activities or interactions."),
    ],
    file: Annotated[Path, typer.Argument(help="A CSV (any encoding, any delimiter) or XLSX file.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="'Column=field' (repeatable), or a TOML file of column = \"field\" lines.",
        ),
    ] = None,
    match: Annotated[
        str | None,
        typer.Option(help="Keys that find existing records, e.g. email,phone (default: all)."),
    ] = None,
    mode: Annotated[
        str, typer.Option(help=f"{' | '.join(MODES)}: add new, change existing, or both.")
    ] = "upsert",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Say what would happen; write nothing (the rejects only to --rejects PATH).",
        ),
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Where rejected rows go (default: FILE.rejects.EXT).")
    ] = None,
    custom: Annotated[
        bool, typer.Option("--custom", help="Keep unknown columns as new text custom fields.")
    ] = False,
    keep_invalid: Annotated[
        bool,
        typer.Option(
            "--keep-invalid", help="Keep text a person could not type as written, marked."
        ),
    ] = False,
    sheet: Annotated[str | None, typer.Option(help="The XLSX sheet (default: the first).")] = None,
    encoding: Annotated[str | None, typer.Option(help="The CSV encoding (default: found).")] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="The CSV delimiter (default: found).")
    ] = None,
    pipeline: Annotated[
        str | None, typer.Option(help="Deals: the pipeline (default: the first).")
    ] = None,
    dates: Annotated[
        str,
        typer.Option(
            help="How the file writes dates: YMD (2026-12-25), DMY (25/12/2026) or MDY "
            "(12/25/2026).",
        ),
    ] = "YMD",
    workers: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Processes that validate rows while this one writes (default: 1 if "
            "the machine has two cores or more).",
        ),
    ] = None,
) -> None:
    """Import ENTITY rows from FILE, updating the records they match instead of
    duplicating them; every refused row goes to the rejects file with its reason.

    Blank cells leave a record's value alone; tags are added, never removed."""
    if entity not in ENTITIES:
        fail(
            f"cannot import {entity!r}: contacts, companies, opportunities, activities "
            "or interactions"
        )
    try:
        check_order(dates)
        if rejects is not None:  # before the file is read or its columns shown
            check_rejects_path(rejects, file)
    except (ValueError, RejectsPathError) as exc:
        fail(str(exc))
    with acting(workspace) as ws:
        options: dict[str, Any] = dict(
            map=map_ or None, custom=custom, encoding=encoding, delimiter=delimiter
        )
        plan = ws.importer.columns(file, entity, sheet=sheet, **options)
        if "encoding" in plan.attrs:
            say(f"{file}: {read_as(plan.attrs['encoding'], plan.attrs.get('delimiter'))}")
        _print_frame(plan, title="columns")
        stopped_by: ImportInterrupted | None = None
        with progress_bar(file=sys.stderr, disable=not sys.stderr.isatty()) as bar:
            try:
                report = ws.importer.run(
                    file,
                    entity,
                    match=match,
                    mode=mode,
                    dry_run=dry_run,
                    rejects=rejects,
                    keep_invalid=keep_invalid,
                    pipeline=int(pipeline) if pipeline and pipeline.isdecimal() else pipeline,
                    sheet=sheet,
                    progress=bar,
                    dates=dates,
                    workers=(1 if (os.cpu_count() or 1) > 1 else 0) if workers is None else workers,
                    **options,
                )
            except ImportInterrupted as interrupted:
                stopped_by = interrupted
            except ImportStopped as stopped:
                # What was read is counted; the line it stopped at is the error.
                _print_report(stopped.report, leave_out=str(stopped))
                fail(str(stopped))
        if stopped_by is not None:  # after the bar is closed: what was written stays
            err.print(
                f"[bold red]error:[/] {markup(str(stopped_by))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(130)
    _print_report(report)


def _print_report(report: ImportReport, leave_out: str | None = None) -> None:
    """The summary of a run, then a few example rows of each outcome (long values cut);
    ``leave_out``: a line the error that follows says."""
    for line in report.summary().splitlines():
        if leave_out is None or line.strip() != leave_out:
            say(line)
    for outcome, examples in report.examples.items():
        for e in examples[:3]:
            ref = f" #{e.record_id}" if e.record_id is not None else ""
            detail = shorten(e.detail, 300)
            say(f"  e.g. {outcome}: line {e.line} {shorten(e.name)!r}{ref} {detail}".rstrip())
