"""``crmbook sync``: run a sync with Odoo, show past runs and open conflicts, decide them.

Registered into the ``crmbook`` command through the ``crmbook.cli`` entry point. The
password or API key comes from ``CRMBOOK_ODOO_PASSWORD`` or a hidden prompt: never
an argument (it would show in the process list and shell history), never stored.
"""

from __future__ import annotations

import os
from typing import Annotated

import pandas as pd
import typer
from rich.progress import Progress, TaskID
from sqlalchemy import select

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, console, err, existing, fail
from crm_core.models import SyncConflict, SyncRun

sync_app = typer.Typer(help="Two-way sync with an ERP (Odoo).", no_args_is_help=True)


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
    timeout: Annotated[float, typer.Option(help="Seconds per call.")] = 60.0,
) -> None:
    """Synchronise the workspace with an Odoo database, both ways."""
    from erp_bridge import sync
    from erp_bridge.adapter import RemoteError
    from erp_bridge.odoo.adapter import OdooAdapter

    secret = _secret(user)
    if policy not in ("last_writer", "erp", "crm"):
        fail(f"--policy {policy!r}: use last_writer, erp or crm")
    try:
        adapter = OdooAdapter(url, db, user, secret, protocol=protocol, timeout=timeout)
    except ValueError as exc:
        fail(str(exc))
    with existing(workspace) as ws, Progress(console=err, transient=True) as bar:
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
                models=models.split(",") if models else None,
                progress=progress,
            )
        except (RemoteError, ValueError) as exc:
            fail(str(exc))
    console.print(str(report))
    for line in report.plan:
        console.print(f"  plan: {line}")
    for line in report.errors:
        err.print(f"  [red]{line}[/]", highlight=False)


@sync_app.command("status")
def status(workspace: WorkspaceOption = DEFAULT_WORKSPACE, last: int = 5) -> None:
    """The last runs (with their lag) and the open conflicts."""
    with existing(workspace) as ws, ws.transaction() as s:
        runs = s.scalars(select(SyncRun).order_by(SyncRun.id.desc()).limit(last)).all()
        now = ws.clock()
        rows = [
            {
                "run": r.id,
                "backend": r.backend,
                "started": r.started_at.strftime("%Y-%m-%d %H:%M"),
                "status": r.status,
                "seconds": round(float(r.report.get("seconds", 0)), 1),
                "lag": _ago(now - (r.finished_at or r.started_at)),
                "errors": sum(
                    len(m.get("errors", [])) for m in r.report.get("models", {}).values()
                ),
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
                "crm": c.local_value,
                "erp": c.remote_value,
                "kept": c.winner,
                "rule": c.rule,
            }
            for c in conflicts
        ]
    console.print(pd.DataFrame(rows).to_string(index=False) if rows else "no sync run yet")
    console.print(f"\n{len(open_rows)} open conflict(s)")
    if open_rows:
        console.print(pd.DataFrame(open_rows).to_string(index=False))


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
    from erp_bridge.conflicts import decide
    from erp_bridge.odoo.adapter import OdooAdapter

    if winner not in ("crm", "erp"):
        fail(f"winner {winner!r}: use crm or erp")
    adapter = OdooAdapter(url, db, user, _secret(user), protocol=protocol)
    with existing(workspace) as ws:
        try:
            decide(ws, adapter, conflict, winner)  # type: ignore[arg-type]
        except (CrmError, RemoteError) as exc:
            fail(str(exc))
    console.print(f"conflict {conflict}: kept the {winner} value on both sides")
