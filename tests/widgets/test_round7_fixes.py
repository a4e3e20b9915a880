"""The seventh round's tester on the staff app, tested without a browser: a deal is
lost with the reason picked from the suggestions, not the fragment typed before the
pick; the dashboard's by-stage chart converts what it can and names the currency it
could not; a record's Changes list shows the edit, not crm_core's internal sort key;
the contacts search box shows the query applied; the New contact and New company
forms keep their own values."""

from __future__ import annotations

import panel as pn
import pytest
from bokeh.models import HoverTool, Title

from crm_core.models import JournalEntry
from tests.widgets.test_dashboard import add_rate, deals  # noqa: F401 (its deals)
from widgets.contact_book import ContactBook
from widgets.dashboard import Dashboard, DashboardModel, by_stage_figure
from widgets.record_page import RecordPage, sections_html


def _widgets(layout):
    def widget(css):
        return next(w for w in layout.select() if css in (getattr(w, "css_classes", None) or []))

    return widget


@pytest.fixture
def bilal(ws):
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    return ws.as_user("bilal")


# -- 1. the lost reason picked is the one saved ----------------------------------------------
def test_a_deal_is_lost_with_the_reason_picked_not_the_fragment_typed(ws, bilal):
    deal = bilal.pipeline.create("Quick deal dbl", expected_revenue="1000", currency="PKR")
    reasons = ws.pipeline.lost_reasons()
    assert "Chose a competitor" in reasons
    view = RecordPage(bilal)
    widget = _widgets(view.__panel__())
    view.model.open("deal", deal["id"])
    widget("crm-record-lost").clicks += 1
    box = widget("crm-record-lost-reason")
    # what the browser sends: each key typed (value_input), then the suggestion picked
    # with Enter or the mouse (value only: Bokeh's AutocompleteInput)
    box.value_input = "Chose"
    box.value = "Chose a competitor"
    widget("crm-record-confirm-lost").clicks += 1
    lost = ws.pipeline.get(deal["id"])
    assert (lost["status"], lost["lost_reason"]) == ("lost", "Chose a competitor")
    assert view.model.message == "Lost 'Quick deal dbl': Chose a competitor."
    assert ws.pipeline.lost_reasons() == reasons  # no new shared reason "Chose"


def test_a_reason_typed_after_the_pick_is_the_one_saved(ws, bilal):
    deal = bilal.pipeline.create("Towels", expected_revenue="1000", currency="PKR")
    view = RecordPage(bilal)
    widget = _widgets(view.__panel__())
    view.model.open("deal", deal["id"])
    widget("crm-record-lost").clicks += 1
    box = widget("crm-record-lost-reason")
    box.value_input = "No"
    box.value = "No budget"
    box.value_input = "No budget this year"  # typed on after the pick, not yet left
    widget("crm-record-confirm-lost").clicks += 1
    assert ws.pipeline.get(deal["id"])["lost_reason"] == "No budget this year"


# -- 2. one currency without a rate leaves only its own deals out of the chart ---------------
def _notes(chart):
    return [t.text for t in chart.below if isinstance(t, Title)]


@pytest.mark.usefixtures("deals")
def test_the_by_stage_chart_converts_what_it_can_and_names_the_rest(ws):
    """USD 20,000 at 250 PKR a dollar is PKR 5,000,000; a KWD deal has no rate."""
    add_rate(ws, "PKR", "USD", "250")
    model = DashboardModel(ws)
    chart = by_stage_figure(model.by_stage, "PKR")
    assert chart.title.text == "Open pipeline now, by stage (all in PKR)"
    assert _notes(chart) == []
    ws.pipeline.create(
        "Kuwait towels", owner="bilal", expected_revenue="1.234", currency="KWD"
    )  # in New
    model.refresh()
    chart = by_stage_figure(model.by_stage, "PKR")
    data = chart.renderers[0].data_source.data
    assert list(data["stage"]) == ["New", "Qualified", "Proposition", "Negotiation"]
    # every stage keeps what converts: the USD deal is still PKR 5,000,000
    assert list(data["value"]) == [500000.0, 0.0, 1000000.0, 5000000.0]
    assert list(data["count"]) == [1, 0, 1, 1]  # the deals in the bars
    assert list(data["unconverted"]) == ["KWD", "", "", ""]
    assert chart.title.text == "Open pipeline now, by stage (PKR)"
    assert _notes(chart) == ["Not converted to PKR: no rate for KWD"]
    hover = next(t for t in chart.tools if isinstance(t, HoverTool))
    assert ("Not converted", "@unconverted") in hover.tooltips
    # the dashboard's own chart says so too
    dashboard = Dashboard(ws)
    pane = next(
        p
        for p in dashboard.__panel__().select(pn.pane.Bokeh)
        if "crm-chart-by-stage" in p.css_classes
    )
    assert _notes(pane.object) == ["Not converted to PKR: no rate for KWD"]


# -- 3. the Changes list shows the edit, not crm_core's sort key -----------------------------
def test_a_rename_shows_the_name_row_and_no_internal_field(ws, bilal):
    contact = bilal.contacts.create(name="Sana Khan", city="Multan")
    view = RecordPage(bilal)
    widget = _widgets(view.__panel__())
    view.model.open("contact", contact["id"])
    widget("crm-record-field-name").value = "Sana Tariq Khan"
    widget("crm-record-save").clicks += 1
    assert ws.contacts.get(contact["id"])["name"] == "Sana Tariq Khan"
    journal = view.model.detail["journal"]
    assert "sort_key" not in journal["field"].tolist()  # crm_core journals it no more
    with ws.transaction() as s:  # as an older journal holds it with each rename
        s.add(
            JournalEntry(
                at=ws.clock(),
                user_id=bilal.user_id,
                entity="contact",
                record_id=contact["id"],
                action="update",
                field="sort_key",
                old="661b101b",
                new="0c84385a",
            )
        )
    view.model.open("contact", contact["id"])
    changes = sections_html(view.model.detail).split('crm-section-journal"')[1]
    assert changes.count("<tr>") == 2  # the header and the one edit
    assert "<td>Name</td><td>Sana Khan</td><td>Sana Tariq Khan</td>" in changes
    assert "sort key" not in changes and "sort_key" not in changes
    # fifty renames later the list still holds fifty names, no sort key among them
    for n in range(30):
        bilal.contacts.update(contact["id"], {"name": f"Sana {n}"}, expected_version=n + 2)
    view.model.open("contact", contact["id"])
    changes = sections_html(view.model.detail).split('crm-section-journal"')[1]
    assert changes.count("<td>Name</td>") == 31 and "sort key" not in changes


# -- 4. the contacts search box shows the query applied --------------------------------------
def test_the_search_box_follows_the_address(ws, bilal):
    from widgets.app import StaffApp

    bilal.contacts.create(name="Михаил Петров", city="Казань")
    bilal.contacts.create(name="Imran Khan", city="Karachi")
    app = StaffApp(bilal)
    app.route("#/contacts?q=Михаил")
    book = app.page("Contacts")
    widget = _widgets(book.__panel__())
    box = widget("crm-contact-search")
    assert (book.model.query, box.value, book.model.total) == ("Михаил", "Михаил", 1)
    app.route("#/contacts")  # typed, or a bookmark: no query
    assert book.model.query == "" and book.model.total == 2
    assert (box.value, box.value_input) == ("", "")  # the box shows what is applied
    app.route("#/contacts?q=Михаил")  # and back: the box and what the page compares
    assert (box.value, box.value_input) == ("Михаил", "Михаил")
    app.route("#/contacts")
    assert (box.value, box.value_input) == ("", "")
    book.model.entity = "company"  # the Companies tab
    assert (box.value, box.value_input) == ("", "")
    assert app._params_of("Contacts") == {"kind": "company"}  # what the address says
    # typing searches as before, and the query typed stays in the box
    box.value_input = "Imran"
    assert book.model.query == "Imran" and box.value_input == "Imran"


def test_the_header_search_box_empties_with_its_query(ws, bilal):
    from widgets.global_search import GlobalSearch

    search = GlobalSearch(bilal)
    box = _widgets(search.__panel__())("crm-global-search")
    box.value_input = "Imran"
    assert search.model.query == "Imran"
    search.model.clear()  # a result opened, or another page
    assert search.model.query == "" and box.value_input == ""


# -- 5. New contact and New company: each form its own values --------------------------------
def test_the_new_company_form_is_not_filled_with_the_new_contact(ws, bilal):
    book = ContactBook(bilal)
    layout = book.__panel__()
    card = next(c for c in layout.select(pn.Card) if "crm-contact-new-form" in c.css_classes)
    card.collapsed = False  # "New contact" opened: the form is drawn
    widget = _widgets(layout)
    widget("crm-contact-new-name").value = "Sana Tariq"
    widget("crm-contact-new-phone").value = "+923001234567"
    book.model.entity = "company"  # the Companies tab, "New company"
    assert widget("crm-contact-new-name").value == ""
    assert widget("crm-contact-new-phone").value == ""
    assert widget("crm-contact-new-name").value_input == ""
    widget("crm-contact-new").clicks += 1  # one click creates nothing under her name
    assert ws.companies.search("Sana").empty
    widget("crm-contact-new-name").value = "Indus Textiles"
    book.model.entity = "contact"  # back: what was typed for the contact is there
    assert widget("crm-contact-new-name").value == "Sana Tariq"
    assert widget("crm-contact-new-phone").value == "+923001234567"
    book.model.entity = "company"
    assert widget("crm-contact-new-name").value == "Indus Textiles"


# -- 6. raw English on translated pages, a header that says Lost twice -----------------------
def test_a_deals_status_and_the_users_role_are_in_the_pages_language(ws, bilal):
    from widgets import i18n
    from widgets.app import StaffApp
    from widgets.record_model import RecordModel
    from widgets.record_page import heading_html

    contact = bilal.contacts.create(name="Sana Khan")
    deal = bilal.pipeline.create("Towels", contact=contact["id"], expected_revenue="10")
    page = RecordModel(bilal)
    with i18n.speaking("ur"):
        page.open("contact", contact["id"])
        deals = sections_html(page.detail).split('crm-section-opportunities"')[1]
        open_word = i18n.pgettext("deal status", "Open")
        app = StaffApp(bilal)
        user = next(o for o in app.template().header if "crm-user" in str(getattr(o, "object", "")))
        sales = i18n.pgettext("role", "sales")
    assert open_word != "Open" and f"<td>{open_word}</td>" in deals
    assert "<td>open</td>" not in deals
    assert sales != "sales" and f"bilal ({sales})" in user.object and "(sales)" not in user.object
    # a lost deal's header names Lost once (its stage is the Lost stage)
    bilal.pipeline.lose(deal["id"], "No budget")
    page.open("deal", deal["id"])
    heading = heading_html(page.detail)
    assert "Deal · Lost · <span" in heading and "Lost · Lost" not in heading
    assert "lost: No budget" in heading
    with i18n.speaking("ur"):
        page.open("deal", deal["id"])
        heading = heading_html(page.detail)
        lost_word = i18n.pgettext("deal status", "Lost")
    assert f"{lost_word} · {lost_word}" not in heading and "Lost" not in heading
    assert f"· {lost_word} · <span" in heading


def test_a_lost_deal_without_a_reason_is_refused_as_other_fields_are(ws, bilal):
    from widgets import i18n

    deal = bilal.pipeline.create("Towels", expected_revenue="10")
    view = RecordPage(bilal)
    widget = _widgets(view.__panel__())
    view.model.open("deal", deal["id"])
    widget("crm-record-lost").clicks += 1
    widget("crm-record-confirm-lost").clicks += 1
    assert view.model.message == "Lost reason: is required"
    assert "is required" in widget("crm-record-lost-reason-error").object
    with i18n.speaking("ur"):
        widget("crm-record-confirm-lost").clicks += 1
        expected = i18n._("{field}: {reason}").format(
            field=i18n._("Lost reason"), reason=i18n._("is required")
        )
    assert view.model.message == expected and "?:" not in expected
    assert ws.pipeline.get(deal["id"])["status"] == "open"
