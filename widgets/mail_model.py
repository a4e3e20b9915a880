"""The Mail page, as state and actions: the mailboxes, the outbox, proposed contacts.

:class:`MailModel` reads what ``ws.mail`` shows the acting user (the mailboxes with
their last run, lag and errors; the outbox, a sales user's own messages only; the
senders proposed as contacts, for managers and admins) and carries out what is done
from the page: fetch a mailbox now and send what is queued now (long work, in a
thread when served: :mod:`widgets.long_work`), deactivate or activate a mailbox (its
owner, a manager or an admin), retry a failed message, settle a
message in doubt (managers and admins), accept a proposed contact (its name and
company edited first) or dismiss it, preview a campaign send (its recipients and the
contacts it skips, listed) and queue it.
crm_core decides who may do what; a refusal is reported in ``message``. A mailbox no
fetch reads (deactivated, or its owner disabled: crm_core's ``paused``) says so, and
a queued message of a disabled author shows as held, with crm_core's reason, in the
page's language.
Tested without a browser; :mod:`widgets.mail_page` draws it.
"""

from __future__ import annotations

import ast
import datetime as dt
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import param
from babel import Locale, UnknownLocaleError
from babel.dates import format_timedelta

from crm_core import Workspace, access, text
from crm_core.errors import AccessDenied, CrmError, ValidationError
from widgets import i18n, reasons
from widgets.i18n import N_, _, ngettext
from widgets.long_work import LongWorkModel

#: Why a contact is left out of a campaign send, as shown (crm_core's reasons,
#: :data:`crm_core.mail.campaigns.SKIP_REASONS`, are the keys).
SKIP_REASONS = {
    "opted out": N_("opted out"),
    "bouncing": N_("address bounces"),
    "no e-mail address": N_("no e-mail address"),
    "archived": N_("archived"),
    "already sent": N_("already sent this campaign"),
}

#: The mailboxes table's columns.
MAILBOX_COLUMNS = ["id", "name", "address", "last_run", "lag", "errors", "fetching", "paused"]
#: The outbox table's columns.
OUTBOX_COLUMNS = ["id", "state", "recipient", "subject", "queued", "sent", "reason"]
#: The proposed contacts table's columns.
PROPOSAL_COLUMNS = ["id", "email", "name", "messages"]
#: A campaign preview's tables: who would get the message, and who is skipped and why.
RECIPIENT_COLUMNS = ["name", "recipient", "language"]
SKIPPED_COLUMNS = ["name", "recipient", "why"]
#: How many recipients (and skipped contacts) a campaign preview lists; "and N more"
#: says how many it leaves out.
PREVIEW_ROWS = 200

#: The tables' headings (the frames keep their column names).
TITLES = {
    "id": N_("No."),
    "name": N_("Name"),
    "address": N_("Address"),
    "last_run": N_("Last run"),
    "lag": N_("Read to the end"),
    "errors": N_("Errors of the last run"),
    "fetching": N_("Fetching now"),
    "paused": N_("Not fetched"),
    "state": N_("State"),
    "recipient": N_("To"),
    "subject": N_("Subject"),
    "queued": N_("Queued"),
    "sent": N_("Sent"),
    "reason": N_("Server's reason"),
    "email": N_("E-mail"),
    "messages": N_("Messages waiting"),
    "language": N_("Language"),
    "why": N_("Why skipped"),
}
#: The outbox's states as shown (crm_core stores the keys).
STATES = {
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "bounced": N_("bounced"),
}
#: What a message left in "sending" longer than a send takes is shown as.
IN_DOUBT = N_("in doubt (check the Sent folder)")
#: What a queued message of a disabled author is shown as (crm_core's ``held``).
HELD = N_("held")

#: Why no fetch reads a mailbox, as crm_core's ``status()`` says it (``paused``,
#: :func:`crm_core.mail.service.paused`), and as shown; ``{login}`` as written.
DEACTIVATED = N_("deactivated")
_OWNER_DISABLED = re.compile(r"owner (?P<login>'.*'|\".*\") disabled", re.DOTALL)
OWNER_DISABLED = N_("its owner '{login}' is disabled")
#: A held message's reason as crm_core writes it
#: (:func:`crm_core.mail.outbox.held_reason`), and as shown.
_HELD_REASON = re.compile(
    r"held: its author (?P<login>'.*'|\".*\") is disabled; it stays queued, not sent, until"
    r" they are enabled again",
    re.DOTALL,
)
HELD_REASON = N_(
    "held: its author '{login}' is disabled; it stays queued, not sent, until they are"
    " enabled again"
)
#: A mailbox action a user may not take (crm_core's refusal names the rule).
MAILBOX_DENIED = {
    "activate": N_("You may not activate mailboxes other than your own: {why}"),
    "deactivate": N_("You may not deactivate mailboxes other than your own: {why}"),
    "fetch": N_("You may not fetch mailboxes other than your own: {why}"),
}
#: A fetch of a mailbox no fetch reads now.
NOT_FETCHED = N_("Mailbox {name} is not fetched: {why}.")
#: What crm_core's refused fetch of such a mailbox says, by field (``_refuse_paused``).
_PAUSED_REFUSALS = {"active": "is deactivated:", "owner": "is disabled:"}


def may_manage(ws: Workspace) -> bool:
    """Whether the acting user sees the whole team's mail (managers, admins, the
    owner): fetching, settling messages in doubt and proposed contacts are theirs
    (crm_core's own rule, :func:`crm_core.access.own_only`)."""
    return access.own_only(ws) is None


def when_text(value: Any, timezone: str | None = None) -> str:
    """A stored time in the workspace's ``timezone``, as the session's locale writes
    it ('' for none)."""
    if value is None or pd.isna(value):
        return ""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        if timezone:
            aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            value = aware.astimezone(ZoneInfo(timezone))
        return i18n.format_date(value, "short")
    return str(value)


def lag_text(value: Any) -> str:
    """How long ago a mailbox was last read to the end ("never" when it was not)."""
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return _("never")
    if isinstance(value, pd.Timedelta):
        value = value.to_pytimedelta()
    return _("{time} ago").format(
        time=format_timedelta(value, threshold=0.9, locale=i18n.current_locale())
    )


def errors_text(last_error: Any, report: Any) -> str:
    """The errors of a mailbox's last run: the error that stopped it, and how many
    messages it skipped ('' when none)."""
    parts = []
    if isinstance(last_error, str) and last_error:
        parts.append(last_error)
    skipped = int((report or {}).get("skipped") or 0) if isinstance(report, dict) else 0
    if skipped:
        parts.append(
            ngettext("{n} message skipped", "{n} messages skipped", skipped).format(
                n=i18n.format_number(skipped)
            )
        )
    return "; ".join(parts)


def _login(quoted: str) -> str:
    """A login as crm_core quoted it (``repr``), as written."""
    try:
        value = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return quoted
    return value if isinstance(value, str) else quoted


def paused_text(value: Any) -> str:
    """Why no fetch reads a mailbox (crm_core's ``paused``: "deactivated", "owner 'x'
    disabled"), in the page's language; '' when it is fetched; as crm_core wrote it
    when it says something else."""
    if not isinstance(value, str) or not value:
        return ""
    if value == "deactivated":
        return _(DEACTIVATED)
    found = _OWNER_DISABLED.fullmatch(value)
    if found:
        return _(OWNER_DISABLED).format(login=_login(found["login"]))
    return value


def held_text(value: Any) -> str:
    """Why a queued message is held (crm_core's ``held``), in the page's language, the
    author's login as written; '' when it is not held."""
    if not isinstance(value, str) or not value:
        return ""
    found = _HELD_REASON.fullmatch(value)
    if found:
        return _(HELD_REASON).format(login=_login(found["login"]))
    return value


def mailbox_refusal(exc: Exception) -> str | None:
    """crm_core's refusal of a mailbox action in the page's language (None: not one of
    those; the page says it as it says the others)."""
    if isinstance(exc, AccessDenied):
        entry = MAILBOX_DENIED.get(exc.action)
        if entry is None or exc.record != "mailboxes other than their own":
            return None
        why = getattr(exc, "rule", None) or reasons.RULE
        return _(entry).format(why=reasons.reason_text(why))
    if isinstance(exc, ValidationError) and len(exc.errors) == 1:
        error = exc.errors[0]
        start = _PAUSED_REFUSALS.get(error.field)
        if start is None or not error.record.startswith("mailbox "):
            return None
        if not error.reason.startswith(start):
            return None
        name = _login(error.record[len("mailbox ") :])
        why = (
            _(DEACTIVATED)
            if error.field == "active"
            else _(OWNER_DISABLED).format(login=str(error.value))
        )
        return _(NOT_FETCHED).format(name=name, why=why)
    return None


#: What :meth:`MailModel.attempt` returns for a mailbox refusal it has said.
_SAID = object()


def language_text(code: Any) -> str:
    """A language code as the session's language names it, the code beside it
    (``Urdu (ur)``); the code alone when babel does not know it."""
    if not isinstance(code, str) or not code:
        return ""
    try:
        named = Locale.parse(code.replace("-", "_")).get_display_name(i18n.current_locale())
    except (ValueError, TypeError, UnknownLocaleError):
        return code
    return f"{named} ({code})" if named else code


class MailModel(LongWorkModel):
    """The Mail page's state and actions."""

    mailboxes = param.DataFrame(doc="The mailboxes the user sees (MAILBOX_COLUMNS).")
    outbox = param.DataFrame(doc="The outbox, newest first (OUTBOX_COLUMNS).")
    proposals = param.DataFrame(doc="Senders proposed as contacts (PROPOSAL_COLUMNS).")
    report = param.String(default="", doc="The report of the last fetch or send run here.")
    work = param.String(default="", doc="What runs in the background: fetch, drain or ''.")
    campaign_report = param.String(
        default="", doc="What the last campaign preview or queueing here did, as text."
    )
    campaign_recipients = param.DataFrame(
        doc="Who the last campaign preview would write to (RECIPIENT_COLUMNS; the first "
        "PREVIEW_ROWS)."
    )
    campaign_skipped = param.DataFrame(
        doc="Who the last campaign preview skips, and why (SKIPPED_COLUMNS; the first "
        "PREVIEW_ROWS)."
    )
    campaign_more = param.String(
        default="", doc="How many recipients and skipped contacts the preview leaves out."
    )
    proposal_errors = param.Dict(
        default={}, doc="Field -> reason of the last refused proposed contact ('' none)."
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        #: The outbox as crm_core gives it (the table shows a part of it).
        self.outbox_rows: pd.DataFrame = pd.DataFrame()
        #: The mailboxes shown, as crm_core's ``status()`` gives them.
        self.mailbox_rows: pd.DataFrame = pd.DataFrame()
        self.campaign_recipients = pd.DataFrame(columns=RECIPIENT_COLUMNS)
        self.campaign_skipped = pd.DataFrame(columns=SKIPPED_COLUMNS)
        self.refresh()

    @property
    def may_manage(self) -> bool:
        """Whether the user sees the whole team's mail (see :func:`may_manage`)."""
        return may_manage(self.ws)

    def attempt(self, action: Callable[[], Any], done: str = "") -> Any:
        """As :meth:`ViewModel.attempt`; crm_core's refusals of a mailbox action (fetch,
        activate, deactivate) said in the page's language (:func:`mailbox_refusal`)."""
        said: list[str] = []

        def run() -> Any:
            try:
                return action()
            except (AccessDenied, ValidationError) as exc:
                text = mailbox_refusal(exc)
                if text is None:
                    raise
                said.append(text)
                return _SAID

        result = super().attempt(run, done)
        if result is _SAID:
            self.field_errors = {}
            self._say(said[0], "danger")
            return None
        return result

    # -- reading --------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read the mailboxes, the outbox and the proposals again."""
        return bool(self.attempt(self._load))

    def _load(self) -> bool:
        self.mailboxes = self._mailboxes()
        self.outbox_rows = self.ws.mail.outbox()
        self.outbox = self._outbox(self.outbox_rows)
        self.proposals = (
            self.ws.mail.proposals() if self.may_manage else pd.DataFrame(columns=PROPOSAL_COLUMNS)
        )
        return True

    def _mailboxes(self) -> pd.DataFrame:
        found = self.ws.mail.status()
        tz = self.ws.setting("timezone")
        if not self.may_manage:  # a sales user: the shared mailboxes and their own
            found = found[found["owner_id"].isna() | (found["owner_id"] == self.ws.user_id)]
        self.mailbox_rows = found
        rows = [
            {
                "id": int(b["id"]),
                "name": b["name"],
                "address": b["address"],
                "last_run": when_text(b["last_run_at"], tz) or _("never"),
                "lag": lag_text(b["lag"]),
                "errors": errors_text(b["last_error"], b["last_report"]),
                "fetching": _("yes") if bool(b["fetching"]) else "",
                "paused": paused_text(b["paused"]),
            }
            for b in found.to_dict("records")
        ]
        return pd.DataFrame(rows, columns=MAILBOX_COLUMNS)

    def _outbox(self, found: pd.DataFrame) -> pd.DataFrame:
        tz = self.ws.setting("timezone")
        rows = []
        for m in found.to_dict("records"):
            held = held_text(m.get("held"))
            reason = m["reason"] if isinstance(m["reason"], str) else ""
            rows.append(
                {
                    "id": int(m["id"]),
                    "state": _(HELD) if held else self.state_text(m["state"], bool(m["in_doubt"])),
                    "recipient": m["recipient"] or "",
                    "subject": m["subject"] or "",
                    "queued": when_text(m["queued_at"], tz),
                    "sent": when_text(m["sent_at"], tz),
                    # held: why first; a reason from an earlier try after it
                    "reason": "; ".join(t for t in (held, reason) if t),
                }
            )
        return pd.DataFrame(rows, columns=OUTBOX_COLUMNS)

    def state_text(self, state: str, in_doubt: bool = False) -> str:
        """An outbox state as shown: a message in "sending" for longer than a send
        takes is in doubt (a send that stopped between the server and the outbox;
        crm_core decides, :func:`crm_core.mail.outbox.is_in_doubt`)."""
        if in_doubt:
            return _(IN_DOUBT)
        return _(STATES.get(state, state))

    def mailbox_names(self) -> list[str]:
        """The names of the mailboxes shown (for the page's choice)."""
        return [str(n) for n in self.mailboxes["name"]] if self.mailboxes is not None else []

    def _mailbox(self, name: Any) -> dict[str, Any] | None:
        """The row of the mailbox called ``name`` among those shown (None: not shown)."""
        rows = self.mailbox_rows
        if rows is None or rows.empty or not name:
            return None
        found = rows[rows["name"] == name].to_dict("records")
        return found[0] if found else None

    def paused(self, name: Any) -> str:
        """Why no fetch reads mailbox ``name`` now, as shown ('' when one does)."""
        row = self._mailbox(name)
        return paused_text(row["paused"]) if row is not None else ""

    def is_active(self, name: Any) -> bool:
        """Whether mailbox ``name`` is active (not deactivated; its owner may still be
        disabled)."""
        row = self._mailbox(name)
        return row is not None and bool(row["active"])

    def may_switch(self, name: Any) -> bool:
        """Whether the user may deactivate or activate mailbox ``name``: its owner, a
        manager or an admin (crm_core's rule: it refuses anyone else)."""
        row = self._mailbox(name)
        if row is None:
            return False
        owner = row["owner_id"]
        mine = owner is not None and not pd.isna(owner) and int(owner) == self.ws.user_id
        return self.may_manage or mine

    def _ids(self, state: str | None = None) -> dict[str, int]:
        rows = self.outbox_rows
        if rows is None or rows.empty:
            return {}
        chosen = rows[rows["state"] == state] if state else rows[rows["in_doubt"].astype(bool)]
        return {
            f"#{int(r['id'])} · {r['recipient']} · {r['subject']}": int(r["id"])
            for r in chosen.to_dict("records")
        }

    def failed(self) -> dict[str, int]:
        """The failed messages, as their label -> id (what Retry offers)."""
        return self._ids("failed")

    def in_doubt(self) -> dict[str, int]:
        """The messages in doubt, as their label -> id (what can be settled)."""
        return self._ids()

    def proposal_choices(self) -> dict[str, int]:
        """The proposed contacts, as their label -> id."""
        found = self.proposals
        if found is None or found.empty:
            return {}
        return {
            f"{p['name'] if isinstance(p['name'], str) and p['name'] else p['email']} "
            f"<{p['email']}>": int(p["id"])
            for p in found.to_dict("records")
        }

    # -- long work ------------------------------------------------------------------
    def fetch(self, mailbox: Any) -> Any:
        """Fetch what is new in ``mailbox`` (a name or id). Returns its report when it
        ran here and then; None when refused, failed or running in the background
        (watch ``running``; the report lands in ``report``)."""
        if self._busy():
            return None
        if mailbox is None or mailbox == "":
            self._say(_("Choose a mailbox to fetch."), "warning")
            return None
        why = self.paused(mailbox)
        if why:  # no fetch reads it (crm_core would refuse): said, nothing run
            self._say(_(NOT_FETCHED).format(name=mailbox, why=why), "danger")
            return None
        self.param.update(
            running=True,
            work="fetch",
            progress=0,
            progress_text=_("Fetching {name}").format(name=mailbox),
        )
        self._say("", "info")
        return self._launch(self._fetch, mailbox, name="crmbook-mail-fetch")

    def _fetch(self, mailbox: Any) -> Any:
        done = self._finish(
            lambda: self.ws.mail.fetch(mailbox, progress=self._progress),
        )
        if done is None:
            return None
        report = done[0]
        self.report = str(report)
        self._say(
            _("Fetched {name}: the report is below.").format(name=report.mailbox),
            "success" if report.ok and not report.skipped else "warning",
        )
        return report

    def _progress(self, report: Any, done: int, total: int) -> None:
        percent = min(99, int(100 * done / total)) if total else 0
        self.param.update(
            progress=max(self.progress, percent),
            progress_text=ngettext(
                "{done} of {n} message read", "{done} of {n} messages read", total
            ).format(done=i18n.format_number(done), n=i18n.format_number(total)),
        )

    def drain(self, **options: Any) -> Any:
        """Send what is queued now (within the rate limit). Returns the report when it
        ran here and then; None when refused, failed or in the background."""
        if self._busy():
            return None
        self.param.update(running=True, work="drain", progress=0, progress_text=_("Sending"))
        self._say("", "info")
        return self._launch(self._drain, options, name="crmbook-mail-drain")

    def _drain(self, options: dict[str, Any]) -> Any:
        report = self._finish(lambda: self.ws.mail.drain(**options))
        if report is None:
            return None
        self.report = str(report)
        self._say(
            ngettext("{n} message sent.", "{n} messages sent.", len(report.sent)).format(
                n=i18n.format_number(len(report.sent))
            )
            + (" " + _("Some did not go: see the outbox.") if _not_all_went(report) else ""),
            "warning" if _not_all_went(report) else "success",
        )
        return report

    def _finish(self, work: Any) -> Any:
        """Run ``work`` (the long part), then show the page anew; a refusal or an error
        is said in ``message``."""
        try:
            result = self.attempt(work)
        except Exception as exc:  # a server that cannot be reached: said, never lost
            result = None
            self._say(_("Failed: {reason}").format(reason=exc), "danger")
        outcome = (self.message, self.message_kind)
        self.param.update(
            running=False, work="", progress=0 if result is None else 100, progress_text=""
        )
        self.attempt(self._load)
        self.param.update(message=outcome[0], message_kind=outcome[1])
        return result

    def _busy(self) -> bool:
        if self.running:
            self._say(_("Wait for the running fetch or send to finish."), "warning")
        return self.running

    # -- switching a mailbox off and on ---------------------------------------------------
    def deactivate(self, mailbox: Any) -> Any:
        """Stop fetching ``mailbox`` (a name) until it is activated again; what it stored
        stays. Its owner, a manager or an admin (crm_core refuses anyone else)."""
        return self._switch(
            mailbox,
            False,
            _("Mailbox {name} deactivated: it is not fetched until it is activated again."),
        )

    def activate(self, mailbox: Any) -> Any:
        """Fetch a deactivated ``mailbox`` (a name) again (as :meth:`deactivate`)."""
        return self._switch(mailbox, True, _("Mailbox {name} activated: it is fetched again."))

    def _switch(self, mailbox: Any, active: bool, done: str) -> Any:
        if mailbox is None or mailbox == "":
            self._say(_("Choose a mailbox."), "warning")
            return None
        row = self._mailbox(mailbox)
        # the id of a mailbox shown; a name not shown goes to crm_core, which decides
        key = int(row["id"]) if row is not None else str(mailbox)
        switch = self.ws.mail.activate_mailbox if active else self.ws.mail.deactivate_mailbox
        return self._act(lambda: switch(key), lambda r: done.format(name=r["name"]))

    # -- campaigns (managers and admins) -------------------------------------------------
    def campaign_names(self) -> list[str]:
        """The campaigns a manager may send, latest start first, then by name ([] for a sales
        user: crm_core lets only managers and admins send campaigns)."""
        if not self.may_manage:
            return []
        try:
            found = self.ws.campaigns.list()
        except CrmError as exc:  # said; the rest of the page still shows
            self._say(_("Failed: {reason}").format(reason=exc), "danger")
            return []
        return [str(n) for n in found["name"]]

    def segment_choices(self) -> dict[str, str]:
        """The segments a campaign may be sent to, label -> name; '' first: the
        campaign's own segment (with its members)."""
        if not self.may_manage:
            return {}
        found = self.ws.segments.list()
        chosen = {_("The campaign's own segment"): ""}
        if found is not None:
            chosen.update(
                {
                    str(g["name"]): str(g["name"])
                    for g in found.to_dict("records")
                    if g["entity"] == "contact"
                }
            )
        return chosen

    def template_names(self) -> list[str]:
        """The e-mail templates ([] for a sales user here)."""
        if not self.may_manage:
            return []
        found = self.ws.mail.templates()
        return sorted(found or {})

    def preview_campaign(self, campaign: Any, template: Any, segment: Any = None) -> Any:
        """What queueing ``template`` to ``campaign`` (and ``segment``, '' or None for the
        campaign's own) would do, queueing nothing: the report (None when refused),
        summed up in ``campaign_report``."""
        return self._campaign(campaign, template, segment, dry_run=True)

    def queue_campaign(self, campaign: Any, template: Any, segment: Any = None) -> Any:
        """Queue ``template`` to ``campaign``'s contacts (see :meth:`preview_campaign`);
        the outbox is read again. "Send now" or the server's sender sends them."""
        return self._campaign(campaign, template, segment, dry_run=False)

    def _campaign(self, campaign: Any, template: Any, segment: Any, dry_run: bool) -> Any:
        if self._busy():
            return None
        if not campaign:
            self._say(_("Choose a campaign."), "warning")
            return None
        if not template:
            self._say(_("Choose a template."), "warning")
            return None
        result = self._act(
            lambda: self.ws.mail.send_campaign(
                campaign, template, segment=segment or None, dry_run=dry_run
            ),
            lambda r: self.campaign_text(r),
        )
        self.campaign_report = "" if result is None else self.campaign_text(result)
        self._campaign_lists(result if result is not None and result.dry_run else None)
        return result

    def _campaign_lists(self, report: Any) -> None:
        """The preview's recipients and skipped contacts (emptied after a queueing or
        a refusal): the first PREVIEW_ROWS of each, "and N more" for the rest."""
        previews = report.previews if report is not None else []
        skipped = report.skipped_list if report is not None else []
        recipients = pd.DataFrame(
            [
                {
                    "name": p.get("name") or "",
                    "recipient": p.get("recipient") or "",
                    "language": language_text(p.get("language")),
                }
                for p in previews[:PREVIEW_ROWS]
            ],
            columns=RECIPIENT_COLUMNS,
        )
        left_out = pd.DataFrame(
            [
                {
                    "name": k.get("name") or "",
                    "recipient": k.get("recipient") or "",
                    "why": _(SKIP_REASONS.get(k["reason"], k["reason"])),
                }
                for k in skipped[:PREVIEW_ROWS]
            ],
            columns=SKIPPED_COLUMNS,
        )
        more = []
        if len(previews) > PREVIEW_ROWS:
            n = len(previews) - PREVIEW_ROWS
            more.append(
                ngettext("and {n} more recipient", "and {n} more recipients", n).format(
                    n=i18n.format_number(n)
                )
            )
        if len(skipped) > PREVIEW_ROWS:
            n = len(skipped) - PREVIEW_ROWS
            more.append(
                ngettext("and {n} more skipped contact", "and {n} more skipped contacts", n).format(
                    n=i18n.format_number(n)
                )
            )
        self.param.update(
            campaign_recipients=recipients,
            campaign_skipped=left_out,
            campaign_more="; ".join(more),
        )

    def campaign_text(self, report: Any) -> str:
        """A campaign send's report as said on the page: how many were (or would be)
        queued, how many skipped and why, and (a preview) the first subject."""
        n = report.to_send
        if report.dry_run:
            said = ngettext(
                "Campaign {name}: {n} message would be queued.",
                "Campaign {name}: {n} messages would be queued.",
                n,
            )
        else:
            said = ngettext(
                "Campaign {name}: {n} message queued.",
                "Campaign {name}: {n} messages queued.",
                n,
            )
        parts = [said.format(name=report.campaign, n=i18n.format_number(n))]
        skipped = sum(report.skipped.values())
        if skipped:
            why = ", ".join(
                i18n.format_number(count) + " " + _(SKIP_REASONS.get(reason, reason))
                for reason, count in sorted(report.skipped.items())
            )
            parts.append(
                ngettext(
                    "{n} contact skipped ({why}).", "{n} contacts skipped ({why}).", skipped
                ).format(n=i18n.format_number(skipped), why=why)
            )
        if report.dry_run and report.previews:
            parts.append(
                _("First subject: {subject}").format(subject=report.previews[0]["subject"])
            )
        return " ".join(parts)

    # -- the outbox and proposals -------------------------------------------------------
    def retry(self, message_id: int | None) -> Any:
        """Queue a failed message again."""
        if message_id is None:
            self._say(_("Choose a failed message to retry."), "warning")
            return None
        return self._act(
            lambda: self.ws.mail.retry(int(message_id)),
            lambda r: _("Queued again: {subject}.").format(subject=r["subject"]),
        )

    def resolve(self, message_id: int | None, sent: bool) -> Any:
        """Settle a message in doubt: ``sent`` when it is in the Sent folder, else it
        is queued again (managers and admins)."""
        if message_id is None:
            self._say(_("Choose a message in doubt."), "warning")
            return None
        done = _("Recorded as sent: {subject}.") if sent else _("Queued again: {subject}.")
        return self._act(
            lambda: self.ws.mail.resolve(int(message_id), sent=sent),
            lambda r: done.format(subject=r["subject"]),
        )

    def proposed_name(self, proposal_id: int | None) -> str:
        """The name a sender is proposed with ('' when their mail gave none)."""
        found = self.proposals
        if proposal_id is None or found is None or found.empty:
            return ""
        rows = found[found["id"] == proposal_id]["name"].tolist()
        return rows[0] if rows and isinstance(rows[0], str) else ""

    def _company_id(self, company: str) -> int | None:
        """The id of the company called ``company`` (any case); the refusal, naming
        the field, lands in ``proposal_errors`` when there is none or several."""
        wanted = text.fold(company)
        found = self.ws.companies.search(company, limit=50)
        same = [int(c["id"]) for c in found.to_dict("records") if text.fold(c["name"]) == wanted]
        if len(same) == 1:
            return same[0]
        reason = (
            _("no company is called {name!r}: add it first, or leave the field empty")
            if not same
            else _("several companies are called {name!r}: add the contact, then choose one")
        ).format(name=company)
        self.param.update(field_errors={"company": reason}, proposal_errors={"company": reason})
        self._say(_("Company") + ": " + reason, "danger")
        return None

    def accept(
        self, proposal_id: int | None, name: str | None = None, company: str | None = None
    ) -> Any:
        """Make a proposed sender a contact (their waiting messages join them), with
        ``name`` and ``company`` (a company's name) as edited, when given: the
        proposal's name otherwise, and no company. Refusals name the field
        (``proposal_errors``)."""
        self.proposal_errors = {}
        if proposal_id is None:
            self._say(_("Choose a proposed contact."), "warning")
            return None
        fields: dict[str, Any] = {}
        if name is not None:
            fields["name"] = name.strip()
        if company is not None and company.strip():
            found = self._company_id(company.strip())
            if found is None:
                return None
            fields["company"] = found
        result = self._act(
            lambda: self.ws.mail.accept_proposal(int(proposal_id), **fields),
            lambda r: _("Added {name} as a contact.").format(name=r["name"]),
        )
        if result is None:
            self.proposal_errors = {
                ("company" if f == "company_id" else f): reason
                for f, reason in self.field_errors.items()
            }
        return result

    def dismiss(self, proposal_id: int | None) -> Any:
        """Decline a proposed sender."""
        if proposal_id is None:
            self._say(_("Choose a proposed contact."), "warning")
            return None
        return self._act(
            lambda: self.ws.mail.dismiss_proposal(int(proposal_id)) or True,
            lambda _r: _("Dismissed."),
        )


def _not_all_went(report: Any) -> bool:
    """Whether a drain left messages unsent: failed, bounced, in doubt, put back in the
    queue after a temporary failure, or a stop before the queue was empty."""
    return bool(
        report.failed or report.in_doubt or report.bounced or report.deferred or report.stopped
    )
