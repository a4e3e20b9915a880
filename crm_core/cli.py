"""The ``crmbook`` command line.

``init`` and ``demo`` create workspaces (``demo`` then serves the staff app when the
widgets package is installed); ``info`` and ``contacts search`` read them; ``user``
manages staff logins; ``migrate`` upgrades a workspace made by an older crmbook (after a
backup), ``backup`` and ``restore`` save and bring back a whole workspace; ``setting`` shows and
changes its settings.
A workspace is a SQLite file path or a database URL; commands that read one take
``--workspace/-w`` (default: ``$CRMBOOK_WORKSPACE`` or ``crm.sqlite`` here). No command
but ``init`` and ``migrate`` changes a workspace's schema: the others refuse one at an
older schema and name the command to run.
Everything printed that comes from a workspace or a user goes through
:mod:`crm_core.terminal` (no raw control characters, no markup read from data).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

import crm_core
from crm_core.errors import CrmError
from crm_core.terminal import cell, markup

app = typer.Typer(
    help="crmbook: a CRM for businesses whose books live in an ERP.",
    no_args_is_help=True,
    add_completion=False,
    # Local variables in tracebacks could include credentials: never print them.
    pretty_exceptions_show_locals=False,
)
contacts_app = typer.Typer(help="Find and show contacts.", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")
user_app = typer.Typer(help="Staff users and their logins.", no_args_is_help=True)
app.add_typer(user_app, name="user")
#: A table piped to a file or another program is not wrapped at 80 columns (rich's
#: width when it sees no terminal): each row stays on one line, for grep, less -S or a
#: spreadsheet. A terminal, or $COLUMNS, still sets the width.
PIPED_WIDTH = 10_000


def _console(stream: TextIO, **options: Any) -> Console:
    piped = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(width=PIPED_WIDTH if piped else None, **options)


console = _console(sys.stdout)
err = _console(sys.stderr, stderr=True)

DEFAULT_WORKSPACE = "crm.sqlite"
WorkspaceOption = Annotated[
    str,
    typer.Option(
        "--workspace",
        "-w",
        envvar="CRMBOOK_WORKSPACE",
        help="SQLite file or database URL of the workspace.",
    ),
]


def fail(message: str) -> NoReturn:
    """Print one clear error line and exit 1 (no traceback); used by plugin commands too.

    The message is printed as text: control characters escaped, no markup read."""
    # soft_wrap: one line however narrow the terminal, as the message promises
    err.print(f"[bold red]error:[/] {markup(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def say(message: str) -> None:
    """Print a line that may hold user data: escaped (see :mod:`crm_core.terminal`),
    and not wrapped (a path or command in it stays whole, to copy)."""
    console.print(cell(message), soft_wrap=True)


def existing(location: str) -> crm_core.Workspace:
    """Open a workspace that must already exist, at this crmbook's schema.

    Reading commands never create or migrate one: a missing or empty one, or one at an
    older schema, ends the command with one line naming the command to run."""
    if "://" not in location and not Path(location).exists():
        fail(f"no workspace at {location}; create one with: crmbook init {location}")
    try:
        return crm_core.open(location, create=False)
    except CrmError as exc:
        fail(str(exc))


@contextmanager
def acting(location: str) -> Iterator[crm_core.Workspace]:
    """:func:`existing`, for a command whose every refusal (a :class:`CrmError` raised
    in its block: bad input, access, not found) ends it with one clear line."""
    with existing(location) as ws:
        try:
            yield ws
        except CrmError as exc:
            fail(str(exc))


def _print_frame(frame: pd.DataFrame, title: str | None = None) -> None:
    table = Table(title=None if title is None else cell(title), show_lines=False)
    for column in frame.columns:
        table.add_column(cell(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(cell("" if _missing(x) else x) for x in row))
    console.print(table)


def _missing(value: object) -> bool:
    if isinstance(value, list | tuple | set | dict):  # a contact's tags: a value
        return False
    return bool(pd.isna(value))


@app.command()
def init(
    path: Annotated[str, typer.Argument(help="SQLite file or database URL.")] = DEFAULT_WORKSPACE,
    region: Annotated[
        str, typer.Option(help="Phone region for numbers without +country, e.g. PK.")
    ] = "US",
    currency: Annotated[
        str, typer.Option(help="Reporting currency: money is converted to it, e.g. PKR.")
    ] = "USD",
    timezone: Annotated[
        str, typer.Option(help="Time zone that defines 'today', e.g. Asia/Karachi.")
    ] = "UTC",
) -> None:
    """Create a workspace with the default pipeline (one made by an older crmbook is
    upgraded after a backup, as by `crmbook migrate`), and set its region, currency and
    time zone."""
    try:
        settings = _init_settings(region, currency, timezone)
    except CrmError as exc:
        fail(str(exc))  # before anything is created or changed
    file = None if "://" in path else Path(path).expanduser()
    new = file is not None and not file.exists()
    try:
        saved = crm_core.migrate(path)
        if saved is not None:
            say(f"backup of the workspace before the upgrade: {saved}")
        with crm_core.open(path) as ws:
            for key, value in settings.items():
                ws.set_setting(key, value)
            say(f"workspace ready: {ws}")
    except CrmError as exc:
        if new and file is not None:  # refused: no half-made workspace is left behind
            for part in (file, *(file.with_name(file.name + s) for s in _SQLITE_SIDE_FILES)):
                part.unlink(missing_ok=True)
        fail(str(exc))


#: The files SQLite may keep beside a database file while it is open.
_SQLITE_SIDE_FILES = ("-journal", "-wal", "-shm")


def _init_settings(region: str, currency: str, timezone: str) -> dict[str, str]:
    """The settings ``crmbook init`` gives a workspace, checked as the workspace checks
    them (region, ISO 4217 currency, IANA time zone); every refusal at once."""
    from crm_core.errors import FieldError, ValidationError
    from crm_core.workspace import check_setting

    given = {"phone_region": region, "currency": currency, "timezone": timezone}
    settings: dict[str, str] = {}
    errors: list[FieldError] = []
    for key, value in given.items():
        try:
            settings[key] = check_setting(key, value)
        except ValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise ValidationError(errors)
    return settings


#: Set by the widgets package when it is installed: ``serve(location, address, port)``
#: runs the staff app until interrupted. crm_core itself knows no UI.
serve_hook: Callable[[str, str, int], None] | None = None


@app.command()
def demo(
    path: Annotated[str, typer.Argument(help="SQLite file or database URL.")] = "demo.sqlite",
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same base.")] = 7,
    serve: Annotated[
        bool, typer.Option(help="Serve the staff app on the demo base afterwards.")
    ] = True,
    address: Annotated[str, typer.Option(help="Address the app listens on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port the app listens on.")] = 5006,
) -> None:
    """Build a realistic demo base (200 companies, 1,000 contacts, 600 deals, 18 months)
    and serve the staff app on it; an existing demo base is served as it is."""
    from crm_core.demo import DEMO_PASSWORD, build_demo

    fresh = "://" in path or not Path(path).exists()
    try:
        with crm_core.open(path) as ws:
            if fresh or ws.info()["companies"] == 0:
                counts = build_demo(ws, seed=seed, progress=lambda m: err.print(cell(f"  {m}")))
                say(f"demo base written to {path}")
                _print_frame(pd.DataFrame(sorted(counts.items()), columns=["entity", "rows"]))
            users = ws.users.list()
    except CrmError as exc:
        fail(str(exc))
    say(f"try: crmbook contacts search -w {path} khan")
    if not serve:
        return
    if serve_hook is None:
        fail("the staff app needs the widgets extra: pip install 'crmbook[app]'")
    logins = users[users["active"]][["login", "role"]]
    console.print(f"demo logins (password for each: {DEMO_PASSWORD}):")
    _print_frame(logins)
    serve_hook(path, address, port)


@app.command()
def info(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Row counts per entity."""
    with existing(workspace) as ws:
        counts = ws.info()
    _print_frame(pd.DataFrame(list(counts.items()), columns=["entity", "rows"]), title=workspace)


@app.command("setting")
def setting(
    key: Annotated[str | None, typer.Argument(help="The setting (default: list them all).")] = None,
    value: Annotated[str | None, typer.Argument(help="Its new value (default: show it).")] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Show or change the workspace's settings: phone_region, timezone, currency,
    session_idle_minutes and session_max_hours (staff app logins)."""
    from crm_core.workspace import DEFAULT_SETTINGS

    with acting(workspace) as ws:
        if value is not None:
            ws.set_setting(str(key), value)
        keys = list(DEFAULT_SETTINGS) if key is None else [key]
        rows = [(name, ws.setting(name)) for name in keys]
    _print_frame(pd.DataFrame(rows, columns=["setting", "value"]))


@contacts_app.command("search")
def contacts_search(
    query: Annotated[str | None, typer.Argument(help="Words that start words of the name.")] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    email: Annotated[str | None, typer.Option(help="Exact e-mail (any case).")] = None,
    phone: Annotated[str | None, typer.Option(help="Phone or mobile, any format.")] = None,
    tag: Annotated[str | None, typer.Option(help="Tag name.")] = None,
    city: Annotated[str | None, typer.Option(help="City.")] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code.")] = None,
    company: Annotated[int | None, typer.Option(help="Company id.")] = None,
    archived: Annotated[bool, typer.Option(help="Include archived contacts.")] = False,
    order_by: Annotated[
        str, typer.Option(help="name, city, email, created, updated, id.")
    ] = "name",
    limit: Annotated[int, typer.Option(help="Rows per page.")] = 20,
    offset: Annotated[int, typer.Option(help="Rows to skip.")] = 0,
) -> None:
    """Search contacts by name, e-mail, phone, tag, city or country."""
    filters: dict[str, Any] = {
        "email": email,
        "phone": phone,
        "tag": tag,
        "city": city,
        "country": country,
        "include_archived": archived,
    }
    if company is not None:
        filters["company_id"] = company
    with acting(workspace) as ws:
        found = ws.contacts.search(query, order_by=order_by, limit=limit, offset=offset, **filters)
        total = ws.contacts.count(query, **filters)
    shown = found[["id", "name", "company", "email", "phone", "city", "country", "tags"]]
    _print_frame(shown, title=f"{total} contact(s)")
    if total > offset + len(found):
        console.print(f"more: --offset {offset + len(found)}")


@app.command()
def quality(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    entity: Annotated[
        str | None, typer.Option(help="company, contact, opportunity or activity.")
    ] = None,
    counts: Annotated[bool, typer.Option("--counts", help="Only how many, per field.")] = False,
) -> None:
    """Values kept as the ERP or a file wrote them although a person could not have
    typed them (a phone that is no valid number, a reserved e-mail domain): each with
    its record and the reason. Writing a valid value clears it."""
    with acting(workspace) as ws:
        frame = ws.quality.count(entity) if counts else ws.quality.issues(entity)
    if frame.empty:
        say("every value passed validation")
        return
    _print_frame(frame)


@app.command()
def migrate(
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    backup: Annotated[
        bool, typer.Option("--backup/--no-backup", help="Write a backup first (the default).")
    ] = True,
) -> None:
    """Upgrade a workspace made by an older crmbook to this one's schema: a backup
    first (its path is printed), then every step in one transaction."""
    from crm_core import db

    if "://" not in workspace and not Path(workspace).exists():
        fail(f"no workspace at {workspace}; create one with: crmbook init {workspace}")
    try:
        engine = db.make_engine(workspace)
        try:
            db.reachable(engine)
            before = db.current_revision(engine)
        finally:
            engine.dispose()
        if before == db.head_revision():
            say(f"{workspace} is at schema {before} already: nothing to do")
            return
        saved = crm_core.migrate(workspace, backup=backup)
    except CrmError as exc:
        fail(str(exc))
    if saved is not None:
        say(f"backup written to {saved}")
    say(f"{workspace} upgraded from schema {before} to {db.head_revision()}")


@app.command("backup")
def backup_command(
    target: Annotated[
        Path | None,
        typer.Argument(help="The backup file (default: beside the workspace, with the time)."),
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Write a backup of the workspace: SQLite's online backup (a consistent copy while
    others work), or a pg_dump custom-format dump of a PostgreSQL workspace."""
    if "://" not in workspace and not Path(workspace).exists():
        fail(f"no workspace at {workspace}")
    try:
        saved = crm_core.backup(workspace, target)
    except CrmError as exc:
        fail(str(exc))
    say(f"backup written to {saved}")


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A file written by `crmbook backup`.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a workspace that is not empty.")
    ] = False,
) -> None:
    """Replace the workspace with a backup, in one transaction. A workspace that holds
    anything is replaced only with --force."""
    from crm_core import db

    try:
        crm_core.restore(source, workspace, force=force)
        engine = db.make_engine(workspace)
        try:
            revision = db.current_revision(engine)
        finally:
            engine.dispose()
    except CrmError as exc:
        fail(str(exc))
    say(f"{workspace} restored from {source} (schema {revision})")
    if revision != db.head_revision() and db.known_revision(revision):
        say(f"it was made by an older crmbook: run `crmbook migrate -w {workspace}`")


@user_app.command("add")
def user_add(
    login: Annotated[str, typer.Argument(help="The login (a-z, 0-9, . _ - @).")],
    name: Annotated[str, typer.Option(help="Full name.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    role: Annotated[str, typer.Option(help="admin, manager or sales.")] = "sales",
    email: Annotated[str | None, typer.Option(help="E-mail address.")] = None,
    team: Annotated[str | None, typer.Option(help="Sales team (reports filter on it).")] = None,
) -> None:
    """Add a staff user who can log in to the app. The password comes from
    $CRMBOOK_USER_PASSWORD or a prompt (never an argument) and is stored hashed."""
    password = os.environ.get("CRMBOOK_USER_PASSWORD") or typer.prompt(
        "password", hide_input=True, confirmation_prompt=True
    )
    with acting(workspace) as ws:
        user = ws.users.add(name, login, email=email, role=role, team=team, password=password)
    say(f"user {user['login']!r} ({user['role']}) added")


@user_app.command("password")
def user_password(
    login: Annotated[str, typer.Argument(help="The user's login.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Set a user's password ($CRMBOOK_USER_PASSWORD or a prompt)."""
    password = os.environ.get("CRMBOOK_USER_PASSWORD") or typer.prompt(
        "new password", hide_input=True, confirmation_prompt=True
    )
    with acting(workspace) as ws:
        ended = ws.users.set_password(login, password)
    say(f"password of {login!r} changed; {_sessions_ended(ended)}")


@user_app.command("list")
def user_list(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Staff users with their roles."""
    with existing(workspace) as ws:
        _print_frame(ws.users.list(), title="users")


@user_app.command("disable")
def user_disable(
    login: Annotated[str, typer.Argument(help="The user's login.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Disable a user: no more logins, and every open login of theirs ends now (their
    pages in the app are closed within a second). Their records stay theirs."""
    with acting(workspace) as ws:
        ended = ws.users.disable(login)
    say(f"user {login!r} disabled; {_sessions_ended(ended)}")


@user_app.command("enable")
def user_enable(
    login: Annotated[str, typer.Argument(help="The user's login.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Let a disabled user log in again."""
    with acting(workspace) as ws:
        ws.users.enable(login)
    say(f"user {login!r} enabled")


@user_app.command("role")
def user_role(
    login: Annotated[str, typer.Argument(help="The user's login.")],
    role: Annotated[str, typer.Argument(help="admin, manager or sales.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Give a user another role; every open login of theirs ends (they log in again
    with the new role)."""
    with acting(workspace) as ws:
        ended = ws.users.set_role(login, role)
    say(f"user {login!r} is now {role}; {_sessions_ended(ended)}")


@user_app.command("language")
def user_language(
    login: Annotated[str, typer.Argument(help="The user's login.")],
    code: Annotated[
        str, typer.Argument(help="en, ur, bn, sd, ta or ru; 'default' for the workspace's.")
    ],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Set the language the staff app speaks to a user (from their next page)."""
    with acting(workspace) as ws:
        stored = ws.users.set_language(login, None if code == "default" else code)
    say(f"user {login!r} now sees the app in {stored or 'the default language'}")


@user_app.command("sessions")
def user_sessions(
    login: Annotated[str | None, typer.Argument(help="Only this user's (default: all).")] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
    revoke: Annotated[
        bool, typer.Option("--revoke", help="End them (the pages are closed within a second).")
    ] = False,
) -> None:
    """The live logins to the staff app (of LOGIN, or everyone's): when they started,
    were last used and end, from which address and browser. --revoke ends them."""
    with acting(workspace) as ws:
        if revoke:
            ended = ws.sessions.revoke(login)
            say(_sessions_ended(ended))
            return
        frame = ws.sessions.list(login)
    if frame.empty:
        say("no live session")
        return
    _print_frame(frame, title=f"{len(frame)} live session(s)")


def _sessions_ended(count: int) -> str:
    return "no login session ended" if count == 0 else f"{count} login session(s) ended"


# ``crmbook report`` and ``crmbook export``, ``crmbook import`` and ``crmbook duplicates``
# live in their own modules.
from crm_core import (  # noqa: E402,F401  (register their commands on app)
    cli_duplicates,
    cli_import,
    cli_mail,
    cli_rates,
    cli_reports,
)


def load_plugins() -> typer.Typer:
    """Add the commands other packages register under the ``crmbook.cli`` entry point
    group (erp_bridge adds ``sync``) and return the app. crm_core imports none of them:
    they are loaded when the command line starts, not when this module is imported."""
    if getattr(app, "_plugins_loaded", False):
        return app
    app._plugins_loaded = True  # type: ignore[attr-defined]
    for entry in entry_points(group="crmbook.cli"):
        try:
            register = entry.load()
        except ImportError as exc:  # an optional part whose dependencies are missing
            err.print(
                f"[yellow]note:[/] '{markup(entry.name)}' commands unavailable: {markup(exc)}"
            )
            continue
        register(app)
    return app


def main() -> None:  # pragma: no cover - console entry point
    """The ``crmbook`` command: the core commands plus the registered plugins."""
    load_plugins()(prog_name="crmbook")


if __name__ == "__main__":  # pragma: no cover
    # ``python -m crm_core.cli``: this file runs as __main__, a copy of the module the
    # plugins (report, rates, mail, ...) register their commands on; run that one.
    from crm_core.cli import main as crmbook

    crmbook()
