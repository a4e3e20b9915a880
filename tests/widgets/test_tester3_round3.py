"""The third tester's second round on the staff app, fixed: a refused Save keeps what
the user typed, a double click on a list's button acts once, filters in the page
address survive a reload, a bookmarked record survives the login, the page fits a
phone, refusals read in the page's language, and an action acts only on rows shown."""

from __future__ import annotations

import panel as pn
import pytest
from panel.models.tabulator import CellClickEvent

from crm_core.reports.labels import title as report_title
from widgets import i18n
from widgets.activity_inbox import ActivityInbox
from widgets.app import StaffApp
from widgets.auth import safe_next
from widgets.contact_book import ContactBook
from widgets.reasons import reason_text
from widgets.record_model import RecordModel
from widgets.record_page import RecordPage
from widgets.reports_page import ReportsPage
from widgets.row_clicks import REPEAT_SECONDS, RowClicks


@pytest.fixture
def base(ws):
    ws.pipeline.ensure_default()
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Ayesha Siddiqui", "ayesha", role="manager")
    ws.custom_fields.define("opportunity", "incoterm", "choice", choices=["EXW", "DDP"])
    bilal = ws.as_user("bilal")
    deal = bilal.pipeline.create("Uniforms 2027", expected_revenue="1500000", description="Old")
    contact = bilal.contacts.create(name="Imran Khan", job_title="Buyer", city="Karachi")
    return {"deal": deal, "contact": contact}


def _widgets(layout):
    def widget(css):
        return next(w for w in layout.select() if css in (getattr(w, "css_classes", None) or []))

    return widget


# -- 1. a refused Save keeps the other edits ---------------------------------------------
def test_a_refused_save_keeps_what_was_typed_on_a_deal(ws, base):
    view = RecordPage(ws.as_user("bilal"))
    widget = _widgets(view.__panel__())
    view.model.open("deal", base["deal"]["id"])
    widget("crm-record-field-custom-incoterm").value = "DDP"
    widget("crm-record-field-description").value = "Desc edited"
    widget("crm-record-field-probability").value = "150"
    widget("crm-record-save").clicks += 1
    assert "at most 100" in widget("crm-record-error-probability").object
    assert widget("crm-record-field-custom-incoterm").value == "DDP"
    assert widget("crm-record-field-description").value == "Desc edited"
    assert widget("crm-record-field-probability").value == "150"
    assert ws.pipeline.get(base["deal"]["id"])["description"] == "Old"
    # corrected, the same form saves everything typed
    widget("crm-record-field-probability").value = "90"
    widget("crm-record-save").clicks += 1
    saved = ws.pipeline.get(base["deal"]["id"])
    assert (saved["description"], str(saved["probability"])) == ("Desc edited", "90.00")
    assert widget("crm-record-error-probability").object == ""


def test_a_refused_save_keeps_what_was_typed_on_a_contact(ws, base):
    view = RecordPage(ws.as_user("bilal"))
    widget = _widgets(view.__panel__())
    view.model.open("contact", base["contact"]["id"])
    widget("crm-record-field-job_title").value = "Head buyer"
    widget("crm-record-field-city").value = "Lahore"
    widget("crm-record-field-email").value = "not-an-address"
    widget("crm-record-save").clicks += 1
    assert "e-mail" in widget("crm-record-error-email").object
    assert widget("crm-record-field-job_title").value == "Head buyer"
    assert widget("crm-record-field-city").value == "Lahore"
    assert widget("crm-record-field-email").value == "not-an-address"
    assert ws.contacts.get(base["contact"]["id"])["city"] == "Karachi"


# -- 2. a double click on a row button acts once -----------------------------------------
def _table(layout, css):
    return next(w for w in layout.select(pn.widgets.Tabulator) if css in w.css_classes)


def test_a_double_click_on_done_completes_one_activity(ws, base):
    bilal = ws.as_user("bilal")
    first = bilal.activities.schedule(
        "call", "Call Indus", "2026-05-10", opportunity=base["deal"]["id"]
    )["id"]
    second = bilal.activities.schedule(
        "call", "Call Karim", "2026-05-11", opportunity=base["deal"]["id"]
    )["id"]
    view = ActivityInbox(bilal)
    overdue = _table(view.__panel__(), "crm-inbox-overdue")
    assert overdue.value["id"].tolist() == [first, second]
    # Both halves of the double click name row 0: the second arrives after the first's
    # action took "Call Indus" out and put "Call Karim" at row 0.
    overdue._process_event(CellClickEvent(model=None, column="done", row=0))
    assert overdue.value["id"].tolist() == [second]
    overdue._process_event(CellClickEvent(model=None, column="done", row=0))
    assert ws.activities.get(first)["done_at"] is not None
    assert ws.activities.get(second)["done_at"] is None
    assert overdue.value["id"].tolist() == [second]


def test_a_repeat_click_is_ignored_only_for_another_record_and_only_at_once():
    now = [100.0]
    clicks, done = RowClicks(clock=lambda: now[0]), []
    assert clicks.run(0, "a", lambda: done.append("a"))
    assert not clicks.run(0, "b", lambda: done.append("b"))  # "b" moved under the pointer
    assert clicks.run(1, "c", lambda: done.append("c"))  # another row: a click of its own
    assert clicks.run(1, "c", lambda: done.append("c"))  # the same record again: its action
    now[0] += REPEAT_SECONDS
    assert clicks.run(1, "d", lambda: done.append("d"))  # later: the user saw "d"
    assert done == ["a", "c", "c", "d"]


# -- 4. a bookmarked record through the login --------------------------------------------
@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/#/deals/601", "/#/deals/601"),
        ("/crm/#/contacts?country=PK&tag=VIP", "/crm/#/contacts?country=PK&tag=VIP"),
        ("//evil.example/#/deals/601", "/"),
        ("https://evil.example/#/deals/601", "/"),
        ("#/deals/601", "/"),
        ("/#/deals/ 601", "/"),
    ],
)
def test_next_keeps_an_address_of_the_app_with_its_fragment(asked, kept):
    assert safe_next(asked) == kept


# -- 6. refusals in the page's language --------------------------------------------------
#: Reasons as crm_core writes them (crm_core/validation.py, crm_core/services).
CORE_REASONS = [
    "is required",
    "must be at least 0",
    "must be at most 100",
    "is longer than 300 characters",
    "is not a valid e-mail address (The email address is not valid. It must have one @-sign.)",
    "is not a phone number (The string supplied did not seem to be a phone number.)",
    "is not a valid phone number for region PK",
    "is not an ISO 4217 currency code",
    "is not a date in YYYY-MM-DD form",
    "is out of range: dates run from 1900-01-01 to 9999-12-31",
    "has 3 decimal places, but PKR amounts have 2 decimal places (such as 1500.50)",
    "has 1 decimal place, but JPY amounts have none (such as 1500)",
    "is too large: PKR amounts are kept exactly only below 10,000,000,000,000 "
    "(15 significant digits with the 2 decimals)",
    "is too large (more than 28 significant digits)",
    "is not a number",
    "a sales user works only on their own deals and activities",
]


@pytest.mark.parametrize("language", ["ur", "sd", "bn", "ta", "ru"])
def test_every_reason_crm_core_gives_reads_in_the_pages_language(language):
    with i18n.speaking(language):
        for reason in CORE_REASONS:
            shown = reason_text(reason)
            assert shown != reason and "{" not in shown, (language, reason, shown)
            # the reason's own values survive
            for number in ("100", "300", "PK", "4217", "1500.50", "10,000,000,000,000"):
                if f" {number}" in reason or f"({number}" in reason:
                    assert number in shown, (language, reason, shown)
    with i18n.speaking("en"):  # English: crm_core's words exactly
        assert [reason_text(r) for r in CORE_REASONS] == CORE_REASONS
    assert reason_text("is something crm_core will say one day") == (
        "is something crm_core will say one day"
    )


def test_a_refused_save_names_the_field_and_the_reason_in_russian(ws, base):
    page = RecordModel(ws.as_user("bilal"))
    with i18n.speaking("ru"):
        page.open("deal", base["deal"]["id"])
        page.save({"probability": "150", "expected_revenue": "-5"})
        assert page.field_errors["probability"] == "должно быть не больше 100"
        assert page.field_errors["expected_revenue"] == "должно быть не меньше 0"
        assert "Сумма: должно быть не меньше 0" in page.message
        assert "expected_revenue" not in page.message and "must be" not in page.message
        page.save({"currency": "XXQ"})
        assert page.message == "Валюта: не является кодом валюты ISO 4217"


def test_a_refused_record_reads_in_urdu(ws, base):
    other = ws.as_user("ayesha").pipeline.create("Towels", owner="ayesha")
    page = RecordModel(ws.as_user("bilal"))
    with i18n.speaking("ur"):
        assert not page.open("deal", other["id"])
    assert page.message.startswith(f"سودا #{other['id']}: ")
    assert "may not" not in page.message and "سیلز صارف" in page.message
    with i18n.speaking("en"):
        assert not page.open("deal", other["id"])
    assert "may not see" in page.message


# -- 7. an action acts only on a selection the user sees ---------------------------------
def test_a_search_that_hides_the_selected_contact_lets_it_go(ws, base):
    other = ws.contacts.create(name="Karim Uddin", city="Dhaka")
    view = ContactBook(ws.as_user("bilal"))
    layout = view.__panel__()
    table = _table(layout, "crm-contact-table")
    m = view.model
    row = table.value["id"].tolist().index(other["id"])
    table.selection = [row]
    assert m.selected_id == other["id"]
    archive = _widgets(layout)("crm-contact-archive")
    assert archive.disabled is False
    m.query = "zzzzqqq"  # nothing matches: the table is empty
    assert len(table.value) == 0 and table.selection == []
    assert m.selected_id is None and m.detail == {}
    assert archive.disabled is True
    assert not m.toggle_archived()  # nothing is archived behind the user's back
    assert ws.contacts.get(other["id"])["active"]
    m.query = ""  # the rows come back (the address /#/contacts): no IndexError
    assert other["id"] in table.value["id"].tolist() and table.selection == []
    # a selection the new rows still list stays, and is selected in the table
    table.selection = [table.value["id"].tolist().index(other["id"])]
    m.city = "Dhaka"
    assert m.selected_id == other["id"]
    assert table.value["id"].iloc[table.selection[0]] == other["id"]


# -- 8. smaller findings --------------------------------------------------------------------
def test_lost_without_a_reason_says_so_under_the_reason(ws, base):
    view = RecordPage(ws.as_user("bilal"))
    widget = _widgets(view.__panel__())
    view.model.open("deal", base["deal"]["id"])
    widget("crm-record-lost").clicks += 1
    widget("crm-record-confirm-lost").clicks += 1
    assert "is required" in widget("crm-record-lost-reason-error").object
    assert widget("crm-record-lost-note-error").object == ""
    assert view.model.message == "Lost reason: is required"  # named as other refusals
    asking = widget("crm-record-confirm")
    order = [(o.css_classes or [None])[0] for o in asking.objects]
    assert order.index("crm-record-lost-reason-error") == order.index("crm-record-lost-reason") + 1


def test_a_sales_user_asking_for_data_quality_is_told_it_is_for_managers(ws, base):
    app = StaffApp(ws.as_user("bilal"))
    app.route("#/data-quality")
    assert app.current == "Activities"
    assert app.notice.visible and "for managers and admins" in app.notice.object
    app.route("#/contacts")  # the next page: the notice goes
    assert not app.notice.visible
    manager = StaffApp(ws.as_user("ayesha"))
    manager.route("#/data-quality")
    assert manager.current == "Data quality" and not manager.notice.visible


def test_the_reports_title_and_pager_read_in_urdu(ws, base):
    with i18n.speaking("ur"):
        page = ReportsPage(ws.as_user("ayesha"))
        layout = pn.panel(page)
        heading = _widgets(layout)("crm-reports-title").object
        title = page.model.title
        assert title and report_title(title, "ur") != title
        assert heading == f"<h3>{report_title(title, 'ur')}</h3>"
        table = _table(layout, "crm-reports-table")
        pager = table._configuration["langs"]["ur"]["pagination"]
        assert pager["first"] == i18n._("First") != "First"
        assert report_title(title, "ur") in _widgets(layout)("crm-reports-select").options


def test_the_contacts_table_says_active_in_words(ws, base):
    with i18n.speaking("ru"):
        view = ContactBook(ws.as_user("bilal"))
        table = _table(view.__panel__(), "crm-contact-table")
        assert set(table.value["active"]) == {i18n._("yes")} != {"True", True}


def test_a_double_click_on_create_makes_one_company_and_no_refusal(ws, base):
    view = ContactBook(ws.as_user("bilal"), entity="company")
    layout = view.__panel__()
    card = _widgets(layout)("crm-contact-new-form")
    card.collapsed = False
    widget = _widgets(layout)
    widget("crm-contact-new-name").value = "Acme Looms"
    widget("crm-contact-new").clicks += 1
    widget("crm-contact-new").clicks += 1  # the second half of the double click
    assert len(ws.companies.search("Acme Looms")) == 1
    assert view.model.field_errors == {} and "Acme Looms" in view.model.message
