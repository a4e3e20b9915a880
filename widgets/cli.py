"""``crmbook serve``: the staff app. Registered on the ``crmbook`` command through the
``crmbook.cli`` entry point, so crm_core's command line imports no UI code."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from crm_core import cli as core_cli
from crm_core.errors import CrmError
from widgets import memory
from widgets.session_pool import DEFAULT_THREADS


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the command line and let ``crmbook demo`` serve the app."""
    core_cli.serve_hook = lambda location, address, port: serve(location, address, port)

    @app.command("serve")
    def serve_command(
        workspace: Annotated[
            str,
            typer.Argument(envvar="CRMBOOK_WORKSPACE", help="SQLite file or database URL."),
        ] = core_cli.DEFAULT_WORKSPACE,
        address: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 5006,
        num_procs: Annotated[
            int, typer.Option(help="Server processes (PostgreSQL workspaces only).")
        ] = 1,
        threads: Annotated[
            int,
            typer.Option(
                min=0,
                max=64,
                help="Worker threads for the sessions' callbacks in each process"
                " (0: on the event loop).",
            ),
        ] = DEFAULT_THREADS,
        behind_proxy: Annotated[
            bool,
            typer.Option(
                "--behind-proxy",
                help="Trust X-Forwarded-For/-Proto from a reverse proxy (HTTPS, client"
                " address); only when every request comes through one.",
            ),
        ] = False,
    ) -> None:
        """Serve the staff web app (log in with a user made by `crmbook user add`).

        Refuses a workspace at an older schema, naming `crmbook migrate`."""
        # Python's allocator keeps ended sessions' memory; the C one gives it back.
        memory.with_c_allocator(sys.orig_argv[1:])
        core_cli.existing(workspace).close()
        if num_procs > 1 and "://" not in workspace:
            core_cli.fail("--num-procs needs a PostgreSQL workspace (one SQLite file, one writer)")
        serve(
            workspace,
            address,
            port,
            num_procs=num_procs,
            threads=threads,
            behind_proxy=behind_proxy,
        )


def serve(
    location: str,
    address: str,
    port: int,
    *,
    num_procs: int = 1,
    threads: int = DEFAULT_THREADS,
    behind_proxy: bool = False,
) -> None:
    """Run the staff app on ``location`` until interrupted. A workspace that is missing
    or at an older schema ends the command with one line naming the command to run."""
    from widgets.app import serve_app

    core_cli.say(f"crmbook staff app: http://{address}:{port}/  (Ctrl+C to stop)")
    try:
        serve_app(
            location,
            address=address,
            port=port,
            num_procs=num_procs,
            threads=threads,
            threaded=False,
            behind_proxy=behind_proxy,
        )
    except CrmError as exc:
        core_cli.fail(str(exc))
