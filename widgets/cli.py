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
            int,
            typer.Option(
                hidden=True,
                help="Removed: run one `crmbook serve` per port behind nginx (proxy-config).",
            ),
        ] = 1,
        origin: Annotated[
            list[str] | None,
            typer.Option(
                help="An address users open the app at, host[:port], when it is not"
                " --address:--port (behind a proxy); repeat for several.",
            ),
        ] = None,
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
        no_background: Annotated[
            bool,
            typer.Option(
                "--no-background",
                help="Do not fetch mailboxes, send the outbox nor sync with the ERP on a"
                " timer in this process (extra processes behind a proxy; one process doing"
                " it is enough).",
            ),
        ] = False,
    ) -> None:
        """Serve the staff web app (log in with a user made by `crmbook user add`).

        Unless --no-background, it also fetches every mailbox every mail_fetch_minutes,
        sends the outbox every mail_drain_seconds and, with CRMBOOK_ODOO_* set, syncs
        with the ERP every sync_minutes (`crmbook setting`; 0: off).

        Refuses a workspace at an older schema, naming `crmbook migrate`."""
        # Python's allocator keeps ended sessions' memory; the C one gives it back.
        memory.with_c_allocator(sys.orig_argv[1:])
        if num_procs != 1:
            core_cli.fail(
                "--num-procs was removed: a page's websocket could reach another process"
                " than the one holding its session. Run one `crmbook serve --port P` per"
                " process on a PostgreSQL workspace, behind nginx: `crmbook proxy-config`"
                " writes its configuration (README: Several processes)."
            )
        from widgets.proxy import checked_origin

        try:
            origins = [checked_origin(o) for o in origin or []]
        except ValueError as exc:
            core_cli.fail(str(exc))
        core_cli.existing(workspace).close()
        serve(
            workspace,
            address,
            port,
            threads=threads,
            behind_proxy=behind_proxy,
            origins=origins,
            background=not no_background,
        )

    @app.command("proxy-config")
    def proxy_config_command(
        upstreams: Annotated[
            list[str],
            typer.Argument(help="Each `crmbook serve`: a port on 127.0.0.1, or host:port."),
        ],
        listen: Annotated[str, typer.Option(help="Where nginx listens: port or host:port.")] = "80",
        server_name: Annotated[
            str, typer.Option(help="The name users open the app at (_ for any).")
        ] = "_",
        certificate: Annotated[
            str | None, typer.Option(help="TLS certificate file (with --key): HTTPS.")
        ] = None,
        key: Annotated[str | None, typer.Option(help="The certificate's key file.")] = None,
    ) -> None:
        """Print the nginx configuration for several `crmbook serve` processes.

        Every request of one login goes to one process (its pages' sessions live
        there); logins are shared through the database. Serve each with
        --behind-proxy, and --origin with the address users open."""
        from widgets.proxy import nginx_config

        given = " ".join(upstreams) + f" --listen {listen} --server-name {server_name}"
        if certificate or key:
            given += f" --certificate {certificate} --key {key}"
        try:
            text = nginx_config(
                upstreams,
                listen=listen,
                server_name=server_name,
                certificate=certificate,
                key=key,
                command=given,
            )
        except ValueError as exc:
            core_cli.fail(str(exc))
        typer.echo(text, nl=False)


def serve(
    location: str,
    address: str,
    port: int,
    *,
    threads: int = DEFAULT_THREADS,
    behind_proxy: bool = False,
    origins: list[str] | None = None,
    background: bool = True,
) -> None:
    """Run the staff app on ``location`` until interrupted (``background``: with the
    mail jobs of :mod:`crm_core.background`). A workspace that is missing
    or at an older schema ends the command with one line naming the command to run."""
    from widgets.app import serve_app

    core_cli.say(f"crmbook staff app: http://{address}:{port}/  (Ctrl+C to stop)")
    try:
        serve_app(
            location,
            address=address,
            port=port,
            threads=threads,
            threaded=False,
            behind_proxy=behind_proxy,
            origins=origins,
            background=background,
        )
    except CrmError as exc:
        core_cli.fail(str(exc))
