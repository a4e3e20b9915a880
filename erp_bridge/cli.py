"""``crmbook sync``: run a sync with Odoo, show past runs, failed records, open
conflicts and ambiguous matches, decide conflicts, answer matches.

Registered into the ``crmbook`` command through the ``crmbook.cli`` entry point. The
password or API key comes from ``CRMBOOK_ODOO_PASSWORD`` or a hidden prompt: never
an argument (it would show in the process list and shell history), never stored.

``crmbook sync odoo`` exits 0 when the run was clean, 1 when it failed (the ERP could
not be reached, refused the login, timed out; nothing past what was applied is marked
as read) and 3 when it finished but some records failed (they are listed by
``crmbook sync status`` and retried by every later run).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Annotated, Any

import pandas as pd
import typer
from rich.progress import Progress, TaskID
from sqlalchemy import select

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, console, err, existing, fail
from crm_core.models import SyncConflict, SyncRun
from crm_core.terminal import printable

sync_app = typer.Typer(help="Two-way sync with an ERP (Odoo).", no_args_is_help=True)

#: Exit code of a run that stopped (the ERP unreachable, refusing, timing out).
EXIT_FAILED = 1
#: Exit code of a run that finished with records that failed (listed, retried later).
EXIT_RECORD_ERRORS = 3


def register(app: typer.Typer) -> None:
    """Add ``sync`` to the crmbook command line."""
    app.add_typer(sync_app, name="sync")


def _secret(user: str) -> str:
    """The Odoo password or API key: from the environment, else a hidden prompt."""
    secret = os.environ.get("CRMBOOK_ODOO_PASSWORD")
    if not secret:
        if not os.isatty(0):
            fail("set CRMBOOK_ODOO_PASSWORD (no terminal to ask for the password)")
        secret = typer.prompt(f"Odoo password or API key for {user}", hide_input=True)
    return secret


@sync_app.command("odoo")
def sync_odoo(
    url: Annotated[str, typer.Option(help="Odoo address, e.g. http://erp.example.com:8069.")],
    db: Annotated[str, typer.Option(help="Odoo database name.")],
    user: Annotated[str, typer.Option(help="Odoo login.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    protocol: Annotated[str, typer.Option(help="xmlrpc, jsonrpc, or json2 (Odoo 19+).")] = "xmlrpc",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan; write nothing.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read everything; find deletions.")
    ] = False,
    models: Annotated[
        str | None, typer.Option(help="Comma-separated, e.g. company,contact.")
    ] = None,
    policy: Annotated[
        str, typer.Option(help="Shared fields both sides changed: last_writer, erp, crm.")
    ] = "last_writer",
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for each answer (not retried).")
    ] = 30.0,
    resync_from: Annotated[
        str | None,
        typer.Option(
            "--resync-from",
            help="Re-read everything the ERP changed since this date (YYYY-MM-DD).",
        ),
    ] = None,
) -> None:
    """Synchronise the workspace with an Odoo database, both ways.

    Exit code: 0 clean, 1 the run failed, 3 it finished but some records failed."""
    from erp_bridge import resync_from as resync
    from erp_bridge import sync
    from erp_bridge.adapter import RemoteError
    from erp_bridge.backends import resolve
    from erp_bridge.odoo.adapter import OdooAdapter
    from erp_bridge.runs import RunBusy

    secret = _secret(user)
    if policy not in ("last_writer", "erp", "crm"):
        fail(f"--policy {policy!r}: use last_writer, erp or crm")
    since = _date(resync_from, "--resync-from") if resync_from else None
    try:
        adapter = OdooAdapter(url, db, user, secret, protocol=protocol, timeout=timeout)
    except ValueError as exc:
        fail(str(exc))
    chosen = models.split(",") if models else None
    with existing(workspace) as ws, Progress(console=err, transient=True) as bar:
        if since is not None and not dry_run:
            try:
                # The backend as this workspace knows it, whatever the URL's spelling.
                resolve(ws, adapter)
                resync(ws, adapter.backend, since, chosen)
            except (ValueError, RemoteError) as exc:
                fail(str(exc))
        tasks: dict[str, TaskID] = {}

        def progress(key: str, n: int) -> None:
            name = key.removeprefix("pull:")
            if name not in tasks:
                tasks[name] = bar.add_task(name, total=None)
            bar.update(tasks[name], advance=n)

        try:
            report = sync(
                ws,
                adapter,
                dry_run=dry_run,
                full=full,
                policy=policy,  # type: ignore[arg-type]
                models=chosen,
                progress=progress,
            )
        except RunBusy as exc:
            fail(str(exc))
        except (RemoteError, ValueError) as exc:
            bar.stop()
            fail(f"the sync failed: {exc}; what was applied is kept, run it again to go on")
    _show(str(report))
    for line in report.plan:
        _show(f"  plan: {line}")
    if report.kept:
        _show(
            f"{len(report.kept)} value(s) from the ERP kept marked as not validated (not "
            "failures, nothing to retry): `crmbook quality` lists them"
        )
    for line in report.errors:
        err.print(printable(f"  {line}"), style="red", highlight=False, markup=False)
    if report.errors:
        err.print(
            f"{len(report.errors)} record(s) failed; `crmbook sync status` lists them and "
            "every later run tries them again",
            highlight=False,
        )
        raise typer.Exit(EXIT_RECORD_ERRORS)


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r}: give a date as YYYY-MM-DD")


def _shown(s: Any, field: str, stored: str | None) -> str | None:
    """A conflict's stored value (JSON) as ``sync status`` prints it: a linked record
    (a stage, an owner) by its name."""
    from erp_bridge.local import shown_value

    if stored is None:
        return None
    value = json.loads(stored)
    shown = shown_value(s, field, value)
    return stored if shown == value else json.dumps(shown, ensure_ascii=False)


@sync_app.command("status")
def status(workspace: WorkspaceOption = DEFAULT_WORKSPACE, last: int = 5) -> None:
    """The last runs (with their lag and how they ended), the records waiting to be
    retried and the open conflicts."""
    from erp_bridge.failures import listed
    from erp_bridge.review import open_matches
    from erp_bridge.runs import shown_status

    with existing(workspace) as ws:
        with ws.transaction() as s:
            runs = s.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(last)).all()
            now = ws.clock()
            rows = [
                {
                    "run": r.id,
                    "backend": r.backend,
                    "started": r.started_at.strftime("%Y-%m-%d %H:%M"),
                    "status": shown_status(r, now),
                    "seconds": round(float(r.report.get("seconds", 0)), 1),
                    "lag": _ago(now - (r.finished_at or r.heartbeat_at or r.started_at)),
                    "errors": sum(
                        len(m.get("errors", [])) for m in r.report.get("models", {}).values()
                    ),
                    "reason": r.reason or "",
                }
                for r in runs
            ]
            conflicts = s.scalars(
                select(SyncConflict).where(SyncConflict.status == "open").order_by(SyncConflict.id)
            ).all()
            open_rows = [
                {
                    "id": c.id,
                    "record": f"{c.entity} #{c.local_id}",
                    "field": c.field,
                    "crm": _shown(s, c.field, c.local_value),
                    "erp": _shown(s, c.field, c.remote_value),
                    "kept": c.winner,
                    "rule": c.rule,
                }
                for c in conflicts
            ]
        waiting = listed(ws)
        queued = open_matches(ws)
    _show(pd.DataFrame(rows).to_string(index=False) if rows else "no sync run yet")
    _show(f"\n{len(waiting)} record(s) waiting to be retried")
    if len(waiting):
        frame = waiting.drop(columns=["backend"]).head(50)
        frame["since"] = frame["since"].dt.strftime("%Y-%m-%d %H:%M")
        frame["last"] = frame["last"].dt.strftime("%Y-%m-%d %H:%M")
        _show(frame.to_string(index=False))
        _show(
            "every `crmbook sync odoo` run tries them again; "
            "--resync-from YYYY-MM-DD re-reads everything changed since a date"
        )
    _show(f"\n{len(open_rows)} open conflict(s)")
    if open_rows:
        _show(pd.DataFrame(open_rows).to_string(index=False))
    _show(f"\n{len(queued)} ambiguous match(es) to review")
    if len(queued):
        _show(queued.drop(columns=["backend"]).to_string(index=False))
        _show(
            "`crmbook sync match ID CANDIDATE` says which candidate a record is "
            "(`new`: none, it is a record of its own); the next run applies it"
        )


def _show(text: str) -> None:
    """Print text that holds ERP and user data, line by line: no markup, no raw
    control character."""
    for line in text.split("\n"):
        console.print(printable(line), highlight=False, markup=False, soft_wrap=True)


def _ago(delta: object) -> str:
    seconds = int(getattr(delta, "total_seconds", lambda: 0)())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


@sync_app.command("decide")
def decide_conflict(
    conflict: Annotated[int, typer.Argument(help="Conflict id, as `sync status` lists it.")],
    winner: Annotated[str, typer.Argument(help="crm or erp: whose value to keep.")],
    url: Annotated[str, typer.Option(help="Odoo address, e.g. http://erp.example.com:8069.")],
    db: Annotated[str, typer.Option(help="Odoo database name.")],
    user: Annotated[str, typer.Option(help="Odoo login.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    protocol: Annotated[str, typer.Option(help="xmlrpc, jsonrpc, or json2.")] = "xmlrpc",
) -> None:
    """Settle a conflict: write the chosen side's value on both sides."""
    from crm_core.errors import CrmError
    from erp_bridge.adapter import RemoteError
    from erp_bridge.backends import resolve
    from erp_bridge.conflicts import decide
    from erp_bridge.odoo.adapter import OdooAdapter

    if winner not in ("crm", "erp"):
        fail(f"winner {winner!r}: use crm or erp")
    adapter = OdooAdapter(url, db, user, _secret(user), protocol=protocol)
    with existing(workspace) as ws:
        try:
            resolve(ws, adapter)  # the conflict's backend, whatever the URL's spelling
            decide(ws, adapter, conflict, winner)  # type: ignore[arg-type]
        except (CrmError, RemoteError) as exc:
            fail(str(exc))
    console.print(f"conflict {conflict}: kept the {winner} value on both sides")


@sync_app.command("match")
def answer_match(
    match: Annotated[int, typer.Argument(help="Match id, as `sync status` lists it.")],
    candidate: Annotated[
        str, typer.Argument(help="The candidate's id, or `new`: a record of its own.")
    ],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Answer an ambiguous match: which candidate the record is, or `new`. The next run
    links the two (and merges their fields), or creates the record on the other side."""
    from crm_core.errors import CrmError
    from erp_bridge.review import decide

    choice: int | None = None
    if candidate != "new":
        if not candidate.isdigit():
            fail(f"candidate {candidate!r}: give a candidate's id or `new`")
        choice = int(candidate)
    with existing(workspace) as ws:
        try:
            decide(ws, match, choice)
        except CrmError as exc:
            fail(str(exc))
    said = "a record of its own" if choice is None else f"#{choice}"
    console.print(f"match {match}: {said}; the next sync applies it")
