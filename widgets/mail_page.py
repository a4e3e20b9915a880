"""The Mail page: the mailboxes with their last run, lag and errors, why one is not
fetched (deactivated, its owner disabled), "Fetch now" (not for such a mailbox) and
"Deactivate" / "Activate" (its owner, managers and admins);
the outbox (a message of a disabled author held, and why) with "Send now", "Retry" for a
failed message and, for managers and
admins, settling a message in doubt; the senders proposed as contacts (name and
company edited before one is added); a campaign send's preview with who it would
write to and who it skips, and why. The state and
actions are :class:`widgets.mail_model.MailModel`'s; the tables show text as text
(Tabulator's plain formatters: subjects and reasons are other people's words)."""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import panel as pn
import param

from widgets import i18n
from widgets.base import ComponentView, message_alert
from widgets.i18n import _
from widgets.mail_model import (
    MAILBOX_COLUMNS,
    OUTBOX_COLUMNS,
    PROPOSAL_COLUMNS,
    RECIPIENT_COLUMNS,
    SKIPPED_COLUMNS,
    TITLES,
    MailModel,
)
from widgets.row_clicks import RowClicks

#: The page's styles (the app's sheet).
CSS = (Path(__file__).parent / "static" / "app.css").read_text(encoding="utf-8")


#: The columns whose text wraps (a server's reason, an error, a subject).
WRAPPED = {
    "state",
    "subject",
    "reason",
    "errors",
    "recipient",
    "address",
    "name",
    "email",
    "why",
    "paused",
}


def _titles(columns: list[str]) -> dict[str, str]:
    return {name: _(TITLES[name]) for name in columns if name in TITLES}


def _heading(text: str) -> pn.pane.HTML:
    return pn.pane.HTML(f"<h3>{html.escape(text)}</h3>", margin=(10, 10, 0, 10))


def _table(
    value: Any,
    columns: list[str],
    css: str,
    widths: dict[str, int] | None = None,
    page_size: int = 20,
) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        value,
        titles=_titles(columns),
        hidden_columns=[] if css == "crm-mail-outbox" else ["id"],
        widths=widths or {},
        # Tabulator's "textarea" formatter: the text as text (escaped), wrapped.
        formatters={c: {"type": "textarea"} for c in columns if c in WRAPPED},
        disabled=True,
        show_index=False,
        sizing_mode="stretch_width",
        layout="fit_columns",
        pagination="local",
        page_size=page_size,
        configuration=i18n.table_pager(),
        visible=not value.empty,
        css_classes=[css],
    )


def _errors_html(errors: dict[str, str]) -> str:
    """A proposed contact's refused fields, each named, escaped."""
    names = {"name": _("Name"), "company": _("Company"), "email": _("E-mail")}
    return " ".join(
        '<span class="crm-field-error">{}</span>'.format(
            html.escape(f"{names.get(f, f)}: {reason}")
        )
        for f, reason in errors.items()
    )


def _note(text: str, css: str) -> pn.pane.HTML:
    return pn.pane.HTML(f"<i>{html.escape(text)}</i>", css_classes=[css])


def _campaign_section(m: MailModel) -> pn.Column:
    """The "Send a campaign" section: a campaign, a template and a segment to choose, "Preview" (a
    dry run) and "Queue campaign"; what it did below. Managers and admins only."""
    campaign = pn.widgets.Select(
        label=_("Campaign"),
        options=m.campaign_names(),
        width=240,
        css_classes=["crm-mail-campaign"],
    )
    template = pn.widgets.Select(
        label=_("Template"),
        options=m.template_names(),
        width=200,
        css_classes=["crm-mail-template"],
    )
    segment = pn.widgets.Select(
        label=_("Segment"), options=m.segment_choices(), width=240, css_classes=["crm-mail-segment"]
    )
    preview = pn.widgets.Button(
        label=_("Preview"), css_classes=["crm-mail-campaign-preview"], align="end"
    )
    preview.on_click(lambda _e: m.preview_campaign(campaign.value, template.value, segment.value))
    queue = pn.widgets.Button(
        label=_("Queue campaign"),
        color="primary",
        css_classes=["crm-mail-campaign-queue"],
        align="end",
    )
    queue.on_click(lambda _e: m.queue_campaign(campaign.value, template.value, segment.value))
    said = pn.pane.HTML(
        pn.bind(lambda text: html.escape(text), m.param.campaign_report),
        css_classes=["crm-mail-campaign-report"],
    )
    # The preview's lists: who would get the message, who is skipped and why.
    recipients = _table(
        m.campaign_recipients, RECIPIENT_COLUMNS, "crm-mail-campaign-recipients", page_size=10
    )
    skipped = _table(m.campaign_skipped, SKIPPED_COLUMNS, "crm-mail-campaign-skipped", page_size=10)
    recipients_title = pn.pane.HTML(
        "<b>{}</b>".format(html.escape(_("Would be written to"))),
        visible=False,
        css_classes=["crm-mail-campaign-recipients-title"],
    )
    skipped_title = pn.pane.HTML(
        "<b>{}</b>".format(html.escape(_("Skipped"))),
        visible=False,
        css_classes=["crm-mail-campaign-skipped-title"],
    )
    more = pn.pane.HTML(
        pn.bind(lambda text: f"<i>{html.escape(text)}</i>" if text else "", m.param.campaign_more),
        css_classes=["crm-mail-campaign-more"],
    )

    def lists(*_events: Any) -> None:
        recipients.param.update(
            value=m.campaign_recipients, visible=not m.campaign_recipients.empty
        )
        skipped.param.update(value=m.campaign_skipped, visible=not m.campaign_skipped.empty)
        recipients_title.visible = not m.campaign_recipients.empty
        skipped_title.visible = not m.campaign_skipped.empty

    m.param.watch(lists, ["campaign_recipients", "campaign_skipped"])
    nothing = _note(_("No campaign to send yet."), "crm-mail-no-campaign")
    has = bool(m.campaign_names())

    row = pn.Row(campaign, template, segment, preview, queue, visible=has)
    hint = pn.pane.HTML(
        "<i>{}</i>".format(
            html.escape(
                _(
                    'Preview queues nothing. Queued messages go with "Send now" or the '
                    "server's sender; opted-out, bouncing and already reached contacts "
                    "are skipped."
                )
            )
        ),
        visible=has,
    )
    nothing.visible = not has

    def reread(*_events: Any) -> None:  # "Refresh": campaigns or segments made since
        for select, options in (
            (campaign, m.campaign_names()),
            (template, m.template_names()),
            (segment, m.segment_choices()),
        ):
            wanted = select.value
            select.options = options
            values = options.values() if isinstance(options, dict) else options
            if wanted in values:
                select.value = wanted
        row.visible = hint.visible = bool(campaign.options)
        nothing.visible = not campaign.options

    section = pn.Column(
        _heading(_("Send a campaign")),
        row,
        hint,
        said,
        pn.Row(
            pn.Column(recipients_title, recipients, sizing_mode="stretch_width"),
            pn.Column(skipped_title, skipped, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        ),
        more,
        nothing,
        visible=m.may_manage,
        sizing_mode="stretch_width",
        css_classes=["crm-mail-campaigns"],
    )
    if m.may_manage:
        m.param.watch(reread, ["outbox"])
    return section


class MailPage(ComponentView):
    """The Mail page: ``MailPage(ws)`` in a notebook or the staff app."""

    model = param.ClassSelector(class_=MailModel, doc="The page's view-model.")
    model_class = MailModel
    #: The "Send a campaign" section (hidden for sales users), once built.
    campaign_section: pn.Column | None = None

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        mailboxes = _table(
            m.mailboxes, MAILBOX_COLUMNS, "crm-mail-mailboxes", {"last_run": 160, "fetching": 110}
        )
        outbox = _table(
            m.outbox,
            OUTBOX_COLUMNS,
            "crm-mail-outbox",
            {"id": 60, "state": 130, "queued": 150, "sent": 150},
        )
        proposals = _table(m.proposals, PROPOSAL_COLUMNS, "crm-mail-proposals")
        box = pn.widgets.Select(
            label=_("Mailbox"), options=m.mailbox_names(), width=220, css_classes=["crm-mail-box"]
        )
        fetch = pn.widgets.Button(
            label=_("Fetch now"), color="primary", css_classes=["crm-mail-fetch"], align="end"
        )
        fetch.on_click(lambda _e: m.fetch(box.value))
        # Switching the chosen mailbox off and on: its owner, managers and admins.
        deactivate = pn.widgets.Button(
            label=_("Deactivate"), css_classes=["crm-mail-deactivate"], align="end"
        )
        deactivate.on_click(lambda _e: m.deactivate(box.value))
        activate = pn.widgets.Button(
            label=_("Activate"), css_classes=["crm-mail-activate"], align="end"
        )
        activate.on_click(lambda _e: m.activate(box.value))
        paused_note = pn.pane.HTML("", css_classes=["crm-mail-paused"], align="center")
        drain = pn.widgets.Button(
            label=_("Send now"), color="primary", css_classes=["crm-mail-drain"], align="end"
        )
        drain.on_click(lambda _e: m.drain())
        bar = pn.indicators.Progress(
            value=m.progress,
            max=100,
            width=240,
            css_classes=["crm-mail-progress"],
            align="center",
            visible=m.running,
        )
        status = pn.pane.HTML("", css_classes=["crm-mail-progress-text"], align="center")
        report = pn.pane.HTML("", css_classes=["crm-mail-report"], stylesheets=[CSS])

        failed = pn.widgets.Select(
            label=_("Failed message"), options={}, width=320, css_classes=["crm-mail-failed"]
        )
        retry = pn.widgets.Button(label=_("Retry"), css_classes=["crm-mail-retry"], align="end")
        # Each button acts on the item chosen when clicked: acting takes it out of its
        # list and the next one comes into the choice, which the second half of a
        # double click must not act on (see widgets.row_clicks).
        failed_clicks, doubt_clicks, proposal_clicks = RowClicks(), RowClicks(), RowClicks()

        def once(clicks: RowClicks, chosen: Any, action: Callable[[], Any]) -> None:
            clicks.run(0, chosen.value, action)

        retry.on_click(lambda _e: once(failed_clicks, failed, lambda: m.retry(failed.value)))
        doubt = pn.widgets.Select(
            label=_("Message in doubt"), options={}, width=320, css_classes=["crm-mail-doubt"]
        )
        as_sent = pn.widgets.Button(
            label=_("It was sent"), css_classes=["crm-mail-resolve-sent"], align="end"
        )
        as_sent.on_click(
            lambda _e: once(doubt_clicks, doubt, lambda: m.resolve(doubt.value, sent=True))
        )
        again = pn.widgets.Button(
            label=_("Queue it again"), css_classes=["crm-mail-resolve-again"], align="end"
        )
        again.on_click(
            lambda _e: once(doubt_clicks, doubt, lambda: m.resolve(doubt.value, sent=False))
        )
        doubt_row = pn.Row(doubt, as_sent, again, css_classes=["crm-mail-doubt-row"])

        proposal = pn.widgets.Select(
            label=_("Proposed contact"), options={}, width=320, css_classes=["crm-mail-proposal"]
        )
        accept = pn.widgets.Button(
            label=_("Add as contact"), color="primary", css_classes=["crm-mail-accept"], align="end"
        )
        # What the contact is added as, edited first: the proposed name, a company.
        proposed_name = pn.widgets.TextInput(
            label=_("Name"), width=240, css_classes=["crm-mail-proposal-name"]
        )
        proposed_company = pn.widgets.TextInput(
            label=_("Company"),
            placeholder=_("(none)"),
            width=240,
            css_classes=["crm-mail-proposal-company"],
        )
        proposal_errors = pn.pane.HTML(
            pn.bind(_errors_html, m.param.proposal_errors),
            css_classes=["crm-mail-proposal-errors"],
            stylesheets=[CSS],
        )
        named: dict[str, Any] = {}  # the proposal whose name the field shows

        def name_of(event: param.parameterized.Event) -> None:
            named["id"] = event.new
            proposed_name.value = m.proposed_name(event.new)

        proposal.param.watch(name_of, "value")
        accept.on_click(
            lambda _e: once(
                proposal_clicks,
                proposal,
                lambda: (
                    m.accept(proposal.value, proposed_name.value, proposed_company.value)
                    and proposed_company.param.update(value="")
                ),
            )
        )
        dismiss = pn.widgets.Button(
            label=_("Dismiss"), css_classes=["crm-mail-dismiss"], align="end"
        )
        dismiss.on_click(
            lambda _e: once(proposal_clicks, proposal, lambda: m.dismiss(proposal.value))
        )

        failed_row = pn.Row(failed, retry, css_classes=["crm-mail-failed-row"])
        box_row = pn.Row(box, fetch, deactivate, activate, paused_note)
        none_in = _note(_("No mailbox you may see."), "crm-mail-no-mailbox")
        none_out = _note(_("Nothing in the outbox."), "crm-mail-empty-outbox")
        proposal_row = pn.Column(
            pn.Row(proposal, proposed_name, proposed_company),
            proposal_errors,
            pn.Row(accept, dismiss),
            css_classes=["crm-mail-proposal-row"],
        )
        none_proposed = _note(_("No sender waits to be added."), "crm-mail-no-proposal")

        def choices(select: pn.widgets.Select, options: dict[str, int]) -> None:
            kept = select.value if select.value in options.values() else None
            select.options = options
            select.value = kept if kept is not None else next(iter(options.values()), None)

        def update(names: set[str]) -> None:
            if "mailboxes" in names:
                mailboxes.param.update(value=m.mailboxes, visible=not m.mailboxes.empty)
                wanted = box.value
                box.options = m.mailbox_names()
                if wanted in box.options:
                    box.value = wanted
            if "outbox" in names or "work" in names:
                outbox.param.update(value=m.outbox, visible=not m.outbox.empty)
                choices(failed, m.failed())
                choices(doubt, m.in_doubt())
                retry.disabled = not m.failed()
                failed_row.visible = bool(m.failed())
                none_out.visible = m.outbox.empty
                doubt_row.visible = m.may_manage and bool(m.in_doubt())
            if "proposals" in names:
                proposals.param.update(value=m.proposals, visible=not m.proposals.empty)
                choices(proposal, m.proposal_choices())
                if proposal.value != named.get("id"):
                    # another sender: their proposed name (an edit of the same stays)
                    named["id"] = proposal.value
                    proposed_name.value = m.proposed_name(proposal.value)
                proposal_row.visible = not m.proposals.empty
                none_proposed.visible = m.proposals.empty
            if "progress" in names:
                bar.value = m.progress
            if "progress_text" in names:
                status.object = html.escape(m.progress_text)
            if "report" in names:
                report.object = (
                    "<b>{}</b> {}".format(html.escape(_("Last run here:")), html.escape(m.report))
                    if m.report
                    else ""
                )
            if "mailboxes" in names:
                box_row.visible = bool(m.mailbox_names())
                none_in.visible = not m.mailbox_names()
            if "running" in names:
                bar.visible = m.running
            if "running" in names or "mailboxes" in names or "box" in names:
                chosen = box.value
                why = m.paused(chosen)
                # a mailbox no fetch reads is not offered for "Fetch now"
                fetch.disabled = m.running or not m.may_manage or not chosen or bool(why)
                drain.disabled = m.running
                allowed = m.may_switch(chosen)
                active = m.is_active(chosen)
                deactivate.visible = activate.visible = allowed
                deactivate.disabled = not active
                activate.disabled = active
                paused_note.object = (
                    "<i>{}</i>".format(html.escape(_("Not fetched: {why}").format(why=why)))
                    if why
                    else ""
                )

        self.campaign_section = _campaign_section(m)
        watched = ["mailboxes", "outbox", "proposals", "progress", "progress_text", "report"]
        m.param.watch(lambda *e: update({x.name for x in e}), [*watched, "running", "work"])
        box.param.watch(lambda _e: update({"box"}), "value")
        update({"mailboxes", "outbox", "proposals", "running"})
        refresh = pn.widgets.Button(label=_("Refresh"), css_classes=["crm-mail-refresh"])
        refresh.on_click(lambda _e: m.refresh())
        fetch_note = pn.pane.HTML(
            "<i>{}</i>".format(
                html.escape(
                    _(
                        "Only managers and admins may fetch mailboxes (a fetch links mail "
                        "to every deal)."
                    )
                )
            ),
            visible=not m.may_manage,
            css_classes=["crm-mail-note"],
        )
        return pn.Column(
            pn.Row(_heading(_("Mail")), pn.Spacer(sizing_mode="stretch_width"), refresh),
            message_alert(m),
            pn.Row(bar, status),
            report,
            _heading(_("Mailboxes")),
            mailboxes,
            none_in,
            box_row,
            fetch_note,
            _heading(_("Outbox")),
            pn.Row(drain),
            outbox,
            none_out,
            failed_row,
            doubt_row,
            self.campaign_section,
            pn.Column(
                _heading(_("Proposed contacts")),
                proposals,
                none_proposed,
                proposal_row,
                visible=m.may_manage,
            ),
            sizing_mode="stretch_width",
            css_classes=["crm-mail"],
        )
