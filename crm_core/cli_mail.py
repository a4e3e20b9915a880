"""``crmbook mail``: IMAP mailboxes whose messages become interactions.

``crmbook mail add-mailbox NAME --address ADDRESS --host HOST --login LOGIN
--password-env VAR`` adds one; ``crmbook mail fetch [MAILBOX]`` reads what is new in
it (or in every active mailbox) with a progress bar and prints each run's report;
``crmbook mail status`` shows each mailbox's last run, lag and error, and why one is
not fetched (deactivated, its owner disabled); ``crmbook mail deactivate-mailbox
NAME`` stops fetching one, ``crmbook mail activate-mailbox NAME`` starts again.

E-mail out: ``crmbook mail send CONTACT --template NAME [--preview]`` queues (or only
shows) a templated message to a contact (an id or an e-mail address); ``crmbook mail
campaign CAMPAIGN --template NAME [--dry-run]`` queues it to a campaign's members;
``crmbook mail drain`` sends what is queued; ``crmbook mail outbox [--state failed]``
lists the outbox; ``crmbook mail retry ID`` queues a failed message again. A message a
crash left in ``sending`` is in doubt: ``crmbook mail check`` (and every drain, first)
looks for it in the Sent folder and settles it as sent when found; one not found stays
in doubt (never sent again on its own) until ``crmbook mail resolve ID
--sent/--not-sent`` settles it.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any

import pandas as pd
import typer

from crm_core.cli import DEFAULT_WORKSPACE, WorkspaceOption, _print_frame, acting, app, fail, say
from crm_core.errors import ValidationError

mail_app = typer.Typer(
    help="E-mail: IMAP mailboxes whose messages become interactions; sending over SMTP.",
    no_args_is_help=True,
)
app.add_typer(mail_app, name="mail")
#: The most skipped messages a fetch prints (the report says how many there were).
SHOWN_SKIPS = 20


@mail_app.command("add-mailbox")
def add_mailbox(
    name: Annotated[str, typer.Argument(help="A name for the mailbox, e.g. sales.")],
    address: Annotated[str, typer.Option(help="The mailbox's own e-mail address.")],
    host: Annotated[str, typer.Option(help="The IMAP server.")],
    login: Annotated[str, typer.Option(help="The IMAP login.")],
    port: Annotated[int, typer.Option(help="The IMAP port (993 for TLS, 143).")] = 993,
    security: Annotated[
        str, typer.Option(help="tls (implicit), starttls, or none (loopback only).")
    ] = "tls",
    password_env: Annotated[
        str | None,
        typer.Option(help="The environment variable holding the password (never stored)."),
    ] = None,
    store_password: Annotated[
        bool,
        typer.Option(help="Ask for the password and store it encrypted (needs $CRMBOOK_MAIL_KEY)."),
    ] = False,
    folder: Annotated[
        list[str] | None, typer.Option(help="A folder to read (repeat; default INBOX, Sent).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Import messages from this date on (YYYY-MM-DD).")
    ] = None,
    all_senders: Annotated[
        bool,
        typer.Option(
            "--all-senders",
            help="Import mail from unknown senders too, proposing them as contacts.",
        ),
    ] = False,
    owner: Annotated[
        str | None, typer.Option(help="The user (login) it belongs to; default: shared.")
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Add an IMAP mailbox whose messages with known contacts become interactions."""
    password = None
    if store_password:
        password = typer.prompt("IMAP password", hide_input=True)
    with acting(workspace) as ws:
        try:
            box = ws.mail.add_mailbox(
                name,
                address=address,
                host=host,
                login=login,
                port=port,
                security=security,
                password_env=password_env,
                password=password,
                folders=folder or ["INBOX", "Sent"],
                import_since=since,
                only_known=not all_senders,
                owner=owner,
            )
        except ValidationError as exc:
            fail(str(exc))
    say(
        f"mailbox {box['name']!r} added ({box['login']} at {box['host']}:{box['port']}, "
        f"folders {', '.join(box['folders'])}); fetch it with: crmbook mail fetch {box['name']}"
    )


@mail_app.command("fetch")
def fetch(
    mailbox: Annotated[
        str | None, typer.Argument(help="The mailbox (default: every active one).")
    ] = None,
    ask_password: Annotated[
        bool, typer.Option("--password", help="Ask for the password (not kept).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Draw a progress bar.")] = True,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Read what is new in the mailbox(es) into interactions; print each run's report.
    Exits 1 when a run stopped on an error."""
    from crm_core.mail.progress import progress_bar

    password = typer.prompt("IMAP password", hide_input=True) if ask_password else None
    with acting(workspace) as ws, progress_bar(file=sys.stderr, disable=not progress) as bar:
        reports = ws.mail.fetch(mailbox, password=password, progress=bar)
    failed = False
    for report in reports:
        say(str(report))
        for skip in report.skipped[:SHOWN_SKIPS]:
            say(f"  skipped {skip.folder} UID {skip.uid}: {skip.reason}")
        if len(report.skipped) > SHOWN_SKIPS:
            say(f"  ... and {len(report.skipped) - SHOWN_SKIPS} more (ws.mail.skipped)")
        failed = failed or report.error is not None
    if not reports:
        say("no active mailbox; add one with: crmbook mail add-mailbox")
    if failed:
        raise typer.Exit(1)


@mail_app.command("deactivate-mailbox")
def deactivate_mailbox(
    name: Annotated[str, typer.Argument(help="The mailbox.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Stop fetching a mailbox (what it stored stays) until it is activated again."""
    with acting(workspace) as ws:
        box = ws.mail.deactivate_mailbox(name)
    say(
        f"mailbox {box['name']!r} deactivated: no fetch reads it; start again with:"
        f" crmbook mail activate-mailbox {box['name']}"
    )


@mail_app.command("activate-mailbox")
def activate_mailbox(
    name: Annotated[str, typer.Argument(help="The mailbox.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Fetch a deactivated mailbox again."""
    with acting(workspace) as ws:
        box = ws.mail.activate_mailbox(name)
    say(f"mailbox {box['name']!r} is active: fetch it with: crmbook mail fetch {box['name']}")


@mail_app.command("status")
def status(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Each mailbox: its last run, lag since it was last read to the end, last error,
    and why a fetch leaves it alone (paused: deactivated, owner disabled)."""
    with acting(workspace) as ws:
        frame = ws.mail.status()
    shown = frame.drop(columns=["last_report", "owner_id", "active"])
    shown["last_run_at"] = [_when(x) for x in shown["last_run_at"]]
    shown["lag"] = [_lag(x) for x in shown["lag"]]
    _print_frame(shown)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if isinstance(value, dt.datetime) else "never"


def _lag(value: object) -> str:
    if value is None or pd.isna(value):  # type: ignore[call-overload]
        return "never read"
    seconds = int(pd.Timedelta(value).total_seconds())
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60:02d}m"


# -- e-mail out -------------------------------------------------------------------------
def _contact_id(ws: Any, ref: str) -> int:
    if ref.isdigit():
        return int(ref)
    found = ws.contacts.search(email=ref, limit=2)
    if len(found) != 1:
        fail(f"contact {ref!r}: {'no' if found.empty else 'more than one'} contact has it")
    return int(found["id"].iloc[0])


def _extra(values: list[str] | None) -> dict[str, str]:
    extra: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.isidentifier():
            fail(f"--set {item!r}: write NAME=VALUE")
        extra[key] = value
    return extra


SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="A template value NAME=VALUE (repeat).")
]


@mail_app.command("send")
def send(
    contact: Annotated[str, typer.Argument(help="The contact: an id or an e-mail address.")],
    template: Annotated[str, typer.Option(help="The e-mail template, e.g. follow_up.")],
    preview: Annotated[
        bool, typer.Option("--preview", help="Only show the message; queue nothing.")
    ] = False,
    values: SetOption = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Queue a templated e-mail to a contact (send it with: crmbook mail drain)."""
    with acting(workspace) as ws:
        contact_id = _contact_id(ws, contact)
        extra = _extra(values)
        if preview:
            shown = ws.mail.compose(contact_id, template, **extra)
            # say() escapes a line break (user data): one line at a time
            say(f"To: {shown['recipient']}")
            say(f"From: {shown['sender'] or '(not set)'}")
            say(f"Subject: {shown['subject']}")
            say(f"Language: {shown['language']}")
            say("")
            for line in str(shown["text"] or "").splitlines():
                say(line)
            return
        row = ws.mail.send(contact_id, template, **extra)
    say(f"queued #{row['id']} to {row['recipient']}: {row['subject']} ({row['message_id']})")
    say("send it with: crmbook mail drain")


@mail_app.command("campaign")
def campaign(
    name: Annotated[str, typer.Argument(help="The campaign (its name or id).")],
    template: Annotated[str, typer.Option(help="The e-mail template, e.g. newsletter.")],
    segment: Annotated[
        str | None, typer.Option(help="A segment whose contacts the campaign targets.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say who would get it; queue nothing.")
    ] = False,
    values: SetOption = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Queue a templated e-mail to a campaign's members, skipping opted-out and
    bouncing addresses (and saying how many)."""
    ref: int | str = int(name) if name.isdigit() else name
    with acting(workspace) as ws:
        report = ws.mail.send_campaign(
            ref, template, segment=segment, dry_run=dry_run, **_extra(values)
        )
    say(str(report))
    for preview in report.previews:
        say(f"  {preview['recipient']} [{preview['language']}]: {preview['subject']}")
    if not dry_run and report.queued:
        say("send them with: crmbook mail drain")


@mail_app.command("outbox")
def outbox(
    state: Annotated[
        str | None, typer.Option(help="Only this state: queued, sending, sent, failed, bounced.")
    ] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """The outbox, newest first, with each failure's reason."""
    with acting(workspace) as ws:
        frame = ws.mail.outbox(state)
    if frame.empty:
        say("the outbox is empty" if state is None else f"no message is {state}")
        return
    shown = frame[["id", "state", "recipient", "subject", "attempts", "reason"]].copy()
    unchecked = (shown["state"] == "sending") & shown["reason"].isna()
    shown.loc[unchecked, "reason"] = IN_DOUBT_NOTE
    held = frame["held"].notna()
    shown.loc[held, "reason"] = frame.loc[held, "held"]
    _print_frame(shown)


IN_DOUBT_NOTE = "unknown unless a drain is running: crmbook mail check, then resolve"


@mail_app.command("check")
def check(workspace: WorkspaceOption = DEFAULT_WORKSPACE) -> None:
    """Look for the messages a crash left in doubt (sending) in the Sent folder: found
    ones are settled as sent; the others stay in doubt (never sent again on their own).
    Exits 1 when a message is still in doubt."""
    with acting(workspace) as ws:
        report = ws.mail.check_in_doubt()
    say(str(report))
    _say_doubts(report.settled, report.in_doubt)
    if report.in_doubt:
        raise typer.Exit(1)


def _say_doubts(settled: dict[int, str], doubts: dict[int, str]) -> None:
    for ident, where in settled.items():
        say(f"  sent #{ident}: {where}")
    for ident, note in doubts.items():
        say(f"  in doubt #{ident}: {note}")
        say(f"    once you know: crmbook mail resolve {ident} --sent (or --not-sent to send it)")


@mail_app.command("retry")
def retry(
    message: Annotated[int, typer.Argument(help="The outbox message's id.")],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Queue a failed message again (same Message-ID)."""
    with acting(workspace) as ws:
        row = ws.mail.retry(message)
    say(f"#{row['id']} to {row['recipient']} queued again; send it with: crmbook mail drain")


@mail_app.command("resolve")
def resolve(
    message: Annotated[int, typer.Argument(help="The outbox message's id (in sending).")],
    sent: Annotated[
        bool,
        typer.Option(
            "--sent/--not-sent", help="It is in the Sent folder / it was not sent: queue it."
        ),
    ],
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Settle a message a crash left in doubt."""
    with acting(workspace) as ws:
        row = ws.mail.resolve(message, sent=sent)
    say(f"#{row['id']} is {row['state']}")


@mail_app.command("drain")
def drain(
    limit: Annotated[int | None, typer.Option(help="Send at most this many.")] = None,
    workspace: WorkspaceOption = DEFAULT_WORKSPACE,
) -> None:
    """Send what is queued over SMTP, within the rate limit. Exits 1 when a message
    failed or bounced (listed with the server's reason), got no answer after it was
    sent or is still in doubt from a run that stopped (``crmbook mail resolve``), or
    the server could not be reached."""
    with acting(workspace) as ws:
        report = ws.mail.drain(limit=limit)
    say(str(report))
    for ident, reason in report.failed.items():
        say(f"  failed #{ident}: {reason}")
    for ident, reason in report.bounced.items():
        say(f"  bounced #{ident} (the address is marked bouncing): {reason}")
    for ident, reason in report.deferred.items():
        say(f"  queued again #{ident} (temporary failure, the next drain tries it): {reason}")
    for ident, reason in report.held.items():
        say(f"  #{ident} {reason}")
    _say_doubts(report.settled, report.doubts)
    if report.failed or report.bounced or report.unanswered or report.in_doubt or report.stopped:
        raise typer.Exit(1)
