"""The sixth round's tester on the small forms of a record page, tested without a
browser: the "New deal" form on a contact shows each refusal in red under its field,
named by the form's labels, in the page's language; "Log" with neither a subject nor
what was said saves nothing and says why under the field."""

from __future__ import annotations

import pytest

from widgets import i18n
from widgets.record_page import RecordPage


@pytest.fixture
def contact(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    bilal = ws.as_user("bilal")
    return bilal.contacts.create(name="Sana Tariq", phone="+923001234567", email="sana@example.com")


def _widgets(layout):
    def widget(css):
        return next(w for w in layout.select() if css in (getattr(w, "css_classes", None) or []))

    return widget


@pytest.mark.parametrize("language", ["en", "ur"])
def test_new_deal_refusals_stand_under_their_fields(ws, contact, language):
    with i18n.speaking(language):
        view = RecordPage(ws.as_user("bilal"))
        widget = _widgets(view.__panel__())
        view.model.open("contact", contact["id"])
        widget("crm-deal-amount").value = "-5"
        widget("crm-deal-save").clicks += 1
        name = widget("crm-deal-error-name").object
        amount = widget("crm-deal-error-expected_revenue").object
        message = view.model.message
        required, least = i18n._("is required"), i18n._("must be at least {minimum}")
        deal_name = i18n._("Deal name")
        amount_label = i18n._("Amount")
    assert name == f'<span class="crm-field-error">{required}</span>'
    assert least.format(minimum="0") in amount
    assert 'class="crm-field-error"' in amount
    assert widget("crm-deal-error-currency").object == ""
    # the alert names the fields by the form's labels, never crm_core's keys
    assert deal_name in message and amount_label in message
    assert "expected_revenue" not in message and not message.startswith("name:")
    if language == "ur":
        assert required != "is required" and deal_name != "Deal name"
    # two refusals, two panes: a wrong amount and a wrong currency each under its own
    with i18n.speaking(language):
        widget("crm-deal-name").value = "Uniforms"
        widget("crm-deal-amount").value = "abc"
        widget("crm-deal-currency").value = "XX"
        widget("crm-deal-save").clicks += 1
        number, code = i18n._("is not a number"), i18n._("is not an ISO 4217 currency code")
    assert number in widget("crm-deal-error-expected_revenue").object
    assert code not in widget("crm-deal-error-expected_revenue").object
    assert code in widget("crm-deal-error-currency").object
    assert widget("crm-deal-error-name").object == ""
    view.model.refresh()
    deals = view.model.detail.get("deals")
    assert deals is None or deals.empty


def test_an_empty_log_saves_nothing(ws, contact):
    view = RecordPage(ws.as_user("bilal"))
    widget = _widgets(view.__panel__())
    view.model.open("contact", contact["id"])
    before = len(view.model.detail["timeline"])
    widget("crm-log-subject").value = "  "
    widget("crm-log-save").clicks += 1
    assert "Write what was said, or a subject." in widget("crm-log-error-summary").object
    assert view.model.message_kind == "danger"
    view.model.refresh()
    assert len(view.model.detail["timeline"]) == before
    # with something said, it is logged
    widget("crm-log-summary").value = "Asked for a quote"
    widget("crm-log-save").clicks += 1
    assert widget("crm-log-error-summary").object == ""
    assert len(view.model.detail["timeline"]) == before + 1


def test_a_refused_email_names_its_fields_by_the_forms_labels(ws, contact):
    """Like the New deal form, the e-mail form said ``subject: is required``."""
    from widgets.compose import errors_html
    from widgets.compose_model import ComposeModel

    ws.mail.configure(
        smtp_host="127.0.0.1", smtp_port=1, smtp_security="none", sender="a@example.com"
    )
    form = ComposeModel(ws)
    form.open(contact["id"], "sana@example.com")
    form.subject, form.text = " ", ""
    with i18n.speaking("ur"):
        assert form.send() is None
        shown = errors_html(form.field_errors)
        subject, text = i18n._("Subject"), i18n._("Text")
    assert "subject:" not in shown and "text:" not in shown
    assert f"{subject}: " in shown and f"{text}: " in shown
    assert "subject" not in form.message and "text" not in form.message
