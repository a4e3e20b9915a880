"""Writing an e-mail to one contact, as state and actions.

:class:`ComposeModel` holds the message being written from a contact's record page:
the template chosen (``ws.mail.templates()``) fills subject and text through
``ws.mail.compose`` (both editable) and brings its HTML part, shown as a preview that
cannot run or reach anything (:func:`preview_html`); "Send" queues it with
``ws.mail.send`` (the outbox sends it: "Send now" on the Mail page, or the
background sender). A reply (:meth:`ComposeModel.reply`, from an e-mail on the
contact's timeline) starts from ``ws.mail.reply_draft`` and goes with the answered
message's Message-ID, so it threads in the customer's mail client and here.
Without a template the user writes subject and text. A text edited away from the
template's goes as plain text alone: the HTML part would say something else.
crm_core decides who may write to whom (a sales user: their own contacts); its
refusals land in ``message`` and ``field_errors``.
Tested without a browser; :mod:`widgets.compose` draws it.
"""

from __future__ import annotations

import html as html_lib
from typing import Any

import param

from crm_core import Workspace
from widgets.base import ViewModel
from widgets.i18n import N_, _

#: The parts of a message the form edits, in crm_core's names.
PARTS = ("subject", "text")
#: The form's names of the fields crm_core may refuse a message by.
ERROR_LABELS = {
    "recipient": N_("Recipient"),
    "sender": N_("Sender"),
    "subject": N_("Subject"),
    "text": N_("Text"),
    "template": N_("Template"),
}


def preview_html(part: str, text: str = "") -> str:
    """A preview of a message: its HTML part in a sandboxed frame (no script runs, no
    form is sent, nothing of the page is reachable from it; the HTML is escaped into
    the frame's ``srcdoc`` attribute, never put into the page), or, without one, its
    text as text."""
    if part:
        return (
            '<iframe class="crm-compose-frame" sandbox="" referrerpolicy="no-referrer" '
            'title="{title}" srcdoc="{doc}"></iframe>'
        ).format(title=html_lib.escape(_("Preview")), doc=html_lib.escape(part, quote=True))
    if not text:
        return ""
    return f'<pre class="crm-compose-text">{html_lib.escape(text)}</pre>'


class ComposeModel(ViewModel):
    """The e-mail being written to one contact."""

    contact_id = param.Integer(default=None, allow_None=True, doc="The contact written to.")
    recipient = param.String(default="", doc="The contact's e-mail address.")
    templates = param.Dict(default={}, doc="Template name -> the languages it has.")
    template = param.String(default="", doc="The template chosen ('' for none).")
    language = param.String(default="", doc="The language the template was written in.")
    subject = param.String(default="", doc="The subject, as edited.")
    text = param.String(default="", doc="The plain-text part, as edited.")
    html = param.String(default="", doc="The template's HTML part ('' for none).")
    queued = param.Dict(default={}, doc="The outbox row of the last message queued here.")
    in_reply_to = param.String(
        default="", doc="The Message-ID of the message this one answers ('' for none)."
    )
    replying_to = param.String(
        default="", doc="The subject of the message this one answers, as shown ('' for none)."
    )

    def __init__(self, ws: Workspace, **params: Any):
        super().__init__(ws, **params)
        #: The template's text as composed (an edit away from it drops the HTML part).
        self._composed_text = ""

    # -- what is written to whom -------------------------------------------------------
    def open(self, contact_id: int | None, recipient: str | None = None) -> None:
        """Write to contact ``contact_id`` (None: to no one). A draft for the same
        contact is kept (the record page is read again after each change)."""
        if contact_id is not None and contact_id == self.contact_id:
            self.recipient = recipient or ""
            return
        self._composed_text = ""
        self.param.update(
            contact_id=contact_id,
            recipient=recipient or "",
            template="",
            language="",
            subject="",
            text="",
            html="",
            queued={},
            in_reply_to="",
            replying_to="",
            field_errors={},
            message="",
        )

    def reply(self, draft: dict[str, Any]) -> None:
        """Answer one message: ``draft`` is ``ws.mail.reply_draft``'s (the contact,
        their address, ``Re:`` and the subject, the Message-ID answered). The message
        then goes with In-Reply-To and References, in the same thread."""
        self._composed_text = ""
        self.param.update(
            contact_id=int(draft["contact_id"]),
            recipient=draft.get("recipient") or "",
            template="",
            language="",
            subject=draft.get("subject") or "",
            text="",
            html="",
            queued={},
            in_reply_to=draft.get("in_reply_to") or "",
            replying_to=draft.get("original_subject") or draft.get("subject") or "",
            field_errors={},
            message="",
        )

    def stop_replying(self) -> None:
        """Write a new message instead of the reply (subject and text stay)."""
        self.param.update(in_reply_to="", replying_to="")

    def load_templates(self) -> dict[str, list[str]]:
        """The templates to choose from (read once, when the form is first shown)."""
        if not self.templates:
            found = self.attempt(self.ws.mail.templates)
            self.templates = dict(found or {})
        return self.templates

    def choose(self, template: str | None) -> bool:
        """Fill subject, text and the HTML part from ``template`` for the contact
        (``''``/None: no template; what was written stays). False when refused."""
        template = template or ""
        if not template:
            self.param.update(template="", language="", html="")
            self._composed_text = ""
            return True
        if self.contact_id is None:
            self._say(_("Open a contact first."), "warning")
            return False
        done = self.attempt(lambda: self.ws.mail.compose(self.contact_id, template))
        if done is None:
            return False
        self._composed_text = done["text"] or ""
        self.param.update(
            template=template,
            language=done.get("language") or "",
            # a reply keeps its "Re:" subject: the thread is named by it in mail clients
            subject=self.subject if self.in_reply_to else done["subject"] or "",
            text=self._composed_text,
            html=done.get("html") or "",
        )
        return True

    @property
    def text_edited(self) -> bool:
        """Whether the text was changed from the template's."""
        return bool(self.template) and self.text.strip() != self._composed_text.strip()

    def html_part(self) -> str:
        """The HTML part that goes with the message ('' when it goes as text alone)."""
        return "" if not self.template or self.text_edited else self.html

    def preview(self) -> str:
        """The preview of what goes (see :func:`preview_html`)."""
        return preview_html(self.html_part(), self.text)

    def field_labels(self) -> dict[str, str]:
        """A refused field named as the form labels it (see :mod:`widgets.reasons`)."""
        return dict(ERROR_LABELS)

    # -- sending ----------------------------------------------------------------------
    def send(self) -> dict[str, Any] | None:
        """Queue the message as edited; the outbox sends it. Returns the outbox row,
        None when refused (the reasons in ``field_errors``/``message``)."""
        if self.contact_id is None:
            self._say(_("Open a contact first."), "warning")
            return None
        template = self.template or None
        parts = {"subject": self.subject, "text": self.text}
        if template is not None:
            parts["html"] = self.html_part()
        if self.in_reply_to:
            parts["in_reply_to"] = self.in_reply_to
        row = self.attempt(lambda: self.ws.mail.send(self.contact_id, template, **parts))
        if row is None:
            return None
        self._composed_text = ""
        self.param.update(
            queued=row,
            template="",
            language="",
            subject="",
            text="",
            html="",
            in_reply_to="",
            replying_to="",
        )
        self._say(
            _(
                "Queued to {recipient}: {subject}. It goes with the next send "
                "(Send now on the Mail page)."
            ).format(recipient=row["recipient"], subject=row["subject"]),
            "success",
        )
        return row
