"""The form that writes an e-mail to a contact (on their record page): a template,
the subject and text (editable), a safe preview, "Send". The state and actions are
:class:`widgets.compose_model.ComposeModel`'s."""

from __future__ import annotations

import html
from pathlib import Path

import panel as pn
import param

from widgets.base import ComponentView, message_alert
from widgets.compose_model import ERROR_LABELS, PARTS, ComposeModel
from widgets.i18n import _
from widgets.reasons import field_label

#: The styles of the form's panes (the app's sheet: errors, the preview's frame).
CSS = (Path(__file__).parent / "static" / "app.css").read_text(encoding="utf-8")
#: The fields crm_core may refuse a message by, shown under the form.
ERROR_FIELDS = ("recipient", "sender", *PARTS, "template")


def errors_html(errors: dict[str, str]) -> str:
    """The refused fields of a message, escaped, each named by the form's label in the
    page's language."""
    return " ".join(
        '<span class="crm-field-error">{}</span>'.format(
            html.escape(
                _("{field}: {reason}").format(field=field_label(f, ERROR_LABELS), reason=errors[f])
            )
        )
        for f in ERROR_FIELDS
        if f in errors
    )


class ComposeForm(ComponentView):
    """Writing an e-mail: ``ComposeForm(ws)`` alone, or ``ComposeForm(model=...)``."""

    model = param.ClassSelector(class_=ComposeModel, doc="The view-model shown.")
    model_class = ComposeModel

    def _build(self) -> pn.viewable.Viewable:
        m = self.model
        none = _("(no template)")
        template = pn.widgets.Select(
            label=_("Template"), options={none: ""}, css_classes=["crm-compose-template"]
        )

        def fill_templates() -> None:
            names = m.load_templates()
            options = {none: ""}
            options.update({f"{n} ({', '.join(langs)})": n for n, langs in sorted(names.items())})
            template.options = options

        fill_templates()

        def chosen(event: param.parameterized.Event) -> None:
            if not m.choose(event.new):  # refused: the choice goes back to what is used
                template.value = m.template

        template.param.watch(chosen, "value")
        # The template's choice follows the model (a send clears it).
        m.param.watch(
            lambda e: (
                template.param.update(value=e.new) if e.new in template.options.values() else None
            ),
            "template",
        )
        to = pn.pane.HTML(
            pn.bind(
                lambda r: "{}: <b>{}</b>".format(html.escape(_("To")), html.escape(r)),
                m.param.recipient,
            ),
            css_classes=["crm-compose-to"],
        )
        answering = pn.pane.HTML(
            pn.bind(
                lambda s: (
                    "<i>{}</i>".format(html.escape(_("In reply to: {subject}").format(subject=s)))
                    if s
                    else ""
                ),
                m.param.replying_to,
            ),
            visible=pn.bind(bool, m.param.in_reply_to),
            css_classes=["crm-compose-reply-to"],
        )
        subject = pn.widgets.TextInput.from_param(
            m.param.subject,
            label=_("Subject"),
            description=None,
            sizing_mode="stretch_width",
            css_classes=["crm-compose-subject"],
        )
        text = pn.widgets.TextAreaInput.from_param(
            m.param.text,
            label=_("Text"),
            description=None,
            height=180,
            sizing_mode="stretch_width",
            css_classes=["crm-compose-text-input"],
        )
        preview = pn.pane.HTML(
            pn.bind(lambda *_a: m.preview(), m.param.html, m.param.text, m.param.template),
            sizing_mode="stretch_width",
            css_classes=["crm-compose-preview"],
            stylesheets=[CSS],
        )
        note = pn.pane.HTML(
            pn.bind(
                lambda *_a: (
                    "<i>{}</i>".format(
                        html.escape(
                            _("The text was edited: the message goes as plain text, as shown.")
                        )
                    )
                    if m.text_edited
                    else ""
                ),
                m.param.text,
                m.param.template,
            ),
            css_classes=["crm-compose-note"],
        )
        send = pn.widgets.Button(label=_("Send"), color="primary", css_classes=["crm-compose-send"])
        send.on_click(lambda _e: m.send())
        return pn.Column(
            pn.pane.HTML("<b>" + html.escape(_("Write e-mail")) + "</b>"),
            to,
            answering,
            template,
            subject,
            text,
            pn.pane.HTML("<b>" + html.escape(_("Preview")) + "</b>"),
            note,
            preview,
            pn.pane.HTML(
                pn.bind(errors_html, m.param.field_errors),
                css_classes=["crm-compose-errors"],
                stylesheets=[CSS],
            ),
            send,
            message_alert(m, css="crm-compose-alert"),
            sizing_mode="stretch_width",
            css_classes=["crm-compose"],
        )
