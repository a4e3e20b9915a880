"""Record pages: addresses, the record model's reads and actions (edit with field errors,
log, plan, new deal, move/win/lose/reopen), the page's HTML, and the app's routing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from widgets.app import StaffApp
from widgets.record_model import RecordModel
from widgets.record_page import RecordPage, heading_html, sections_html
from widgets.routes import Route, parse, record_hash

XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def base(ws):
    ws.set_setting("phone_region", "PK")
    ws.pipeline.ensure_default()
    for name, login, role in (
        ("بلال احمد", "bilal", "sales"),
        ("Ольга Смирнова", "olga", "sales"),
        ("عائشہ صدیقی", "ayesha", "manager"),
    ):
        ws.users.add(name, login, role=role)
    ws.custom_fields.define("opportunity", "incoterm", "choice", choices=["EXW", "FOB"])
    ws.custom_fields.define("contact", "visits", "number")
    indus = ws.companies.create(name="Indus Textiles", city="Karachi", country="PK")
    imran = ws.contacts.create(
        name="عمران خان", email="imran@indus.example.com", company=indus["id"], country="PK"
    )
    bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
    mine = bilal.pipeline.create(
        "Uniforms 2027", company=indus["id"], contact=imran["id"], expected_revenue="1500000"
    )
    theirs = olga.pipeline.create("Towels", company=indus["id"], expected_revenue="900000")
    return {"indus": indus, "imran": imran, "mine": mine, "theirs": theirs}


# -- addresses --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fragment", "expected"),
    [
        ("#/contacts/123", Route("contacts", 123)),
        ("#/deals/45", Route("deals", 45)),
        ("#/companies/7", Route("companies", 7)),
        (
            "#/pipeline?owner=bilal&tag=VIP",
            Route("pipeline", None, {"owner": "bilal", "tag": "VIP"}),
        ),
        ("#/contacts?q=%D8%B9%D9%85%D8%B1%D8%A7%D9%86", Route("contacts", None, {"q": "عمران"})),
        ("#/Dashboard", Route("dashboard")),
        ("", None),
        ("#", None),
        ("#/", None),
        ("#/deals/abc", None),
        ("#/deals/-1", None),
        ("#/deals/0", None),
        ("#/deals/99999999999999999999999", None),
        ("#/pipeline/3", None),  # only records have ids
        ("#/a/b/c", None),
        ("#/<script>", None),
        ("#/deals/١٢", None),  # Arabic-Indic digits are not an id here
    ],
)
def test_addresses_parse_to_routes_or_to_nothing(fragment, expected):
    assert parse(fragment) == expected


def test_routes_write_the_addresses_they_parse_from():
    route = Route("contacts", None, {"q": "عمران خان", "kind": "company", "city": ""})
    assert parse(route.to_hash()) == Route("contacts", None, {"q": "عمران خان", "kind": "company"})
    assert Route("deals", 45).to_hash() == record_hash("deal", 45) == "#/deals/45"
    assert Route("deals", 45).kind == "deal" and Route("deals").kind is None
    assert record_hash("company", 7) == "#/companies/7"


# -- the record model ---------------------------------------------------------------------
def test_a_contacts_page_reads_everything_about_it(ws, base):
    imran = base["imran"]
    ws.interactions.log("call", "in", contact=imran["id"], subject="Sizes")
    done = ws.activities.schedule("todo", "Send samples", "2026-05-10", contact=imran["id"])
    ws.activities.complete(done["id"])
    ws.activities.schedule("call", "Call back", "2026-05-20", contact=imran["id"])
    page = RecordModel(ws)
    assert page.open("contact", imran["id"]) is True
    d = page.detail
    assert d["record"]["company"] == "Indus Textiles" and d["kind"] == "contact"
    assert d["timeline"]["subject"].tolist() == ["Sizes"]
    assert d["activities"]["subject"].tolist() == ["Call back"]
    assert d["done"]["subject"].tolist() == ["Send samples"]
    assert sorted(d["opportunities"]["name"]) == ["Uniforms 2027"]  # deals with the contact
    assert not d["journal"].empty  # the manager sees the record's changes
    assert [f for f, *_ in page.fields()][-1] == "custom.visits"
    html = heading_html(d) + sections_html(d)
    assert f'href="{record_hash("company", base["indus"]["id"])}"' in html
    assert f'href="{record_hash("deal", base["mine"]["id"])}"' in html


def test_a_sales_user_cannot_open_anothers_deal_and_sees_only_their_own(ws, base):
    page = RecordModel(ws.as_user("bilal"))
    assert page.open("deal", base["theirs"]["id"]) is False
    assert "may not see" in page.message and page.detail == {}
    assert page.open("company", base["indus"]["id"]) is True
    assert page.detail["opportunities"]["id"].tolist() == [base["mine"]["id"]]
    assert page.open("deal", 10**9) is False and "does not exist" in page.message
    assert page.open("planet", 1) is False


def test_editing_sends_only_what_changed_and_errors_land_on_their_fields(ws, base):
    page = RecordModel(ws.as_user("bilal"))
    page.open("deal", base["mine"]["id"])
    version = page.detail["record"]["version"]
    form = {f: page.value(f) for f, *_ in page.fields()}
    assert page.save(form) is None and page.message == "Nothing changed."
    bad = {**form, "expected_revenue": "twelve", "probability": "140", "custom.incoterm": "CIP"}
    assert page.save(bad) is None
    assert {"expected_revenue", "probability", "custom.incoterm"} <= set(page.field_errors)
    assert page.error_source == "edit"
    assert ws.pipeline.get(base["mine"]["id"])["version"] == version  # nothing written
    good = {
        **form,
        "expected_revenue": "1750000.50",
        "currency": "pkr",
        "expected_close": dt.date(2027, 1, 31),
        "tags": "Export, VIP",
        "custom.incoterm": "FOB",
    }
    assert page.save(good) is not None and page.field_errors == {}
    deal = ws.pipeline.get(base["mine"]["id"])
    assert deal["expected_revenue"] == Decimal("1750000.50") and deal["currency"] == "PKR"
    assert deal["expected_close"] == dt.date(2027, 1, 31) and deal["tags"] == ["Export", "VIP"]
    assert deal["custom"] == {"incoterm": "FOB"}
    # giving the deal away is refused for a sales user; a stale form is refused too
    assert page.save({"owner": "olga"}) is None and "may not" in page.message
    other = RecordModel(ws.as_user("bilal"))
    other.open("deal", base["mine"]["id"])
    page.save({"name": "Uniforms 2027-28"})
    assert other.save({"name": "Uniforms"}) is None and other.message_kind == "warning"
    assert ws.pipeline.get(base["mine"]["id"])["name"] == "Uniforms 2027-28"


def test_a_company_that_names_two_is_refused_at_the_company_field(ws, base):
    page = RecordModel(ws)
    page.open("contact", base["imran"]["id"])
    ws.companies.create(name="Twin")
    ws.companies.create(name="Twin")
    assert page.save({"company": "Twin"}) is None
    assert "2 companies" in page.field_errors["company"]
    assert page.save({"company": "Nowhere"}) is None
    assert page.field_errors["company"] == "is not the name of a company"
    assert page.save({"company": "", "custom.visits": "3"}) is not None
    contact = ws.contacts.get(base["imran"]["id"])
    assert contact["company_id"] is None and contact["custom"] == {"visits": Decimal("3")}


def test_log_plan_and_deal_from_a_record_then_win_lose_and_reopen(ws, base):
    page = RecordModel(ws.as_user("bilal"))
    page.open("deal", base["mine"]["id"])
    logged = page.log_interaction("meeting", "out", "Visit", "Agreed sizes")
    assert (logged["opportunity_id"], logged["contact_id"], logged["company_id"]) == (
        base["mine"]["id"],
        base["imran"]["id"],
        base["indus"]["id"],
    )
    assert page.detail["timeline"]["subject"].tolist() == ["Visit"]
    both = page.log_interaction("call", "out", "Price", None, "meeting", "Visit", "2026-06-02")
    assert both["next"]["opportunity_id"] == base["mine"]["id"]
    assert page.message == "Logged the call; next: Visit on 2026-06-02."
    before = ws.info()
    assert page.log_interaction("call", "out", "Lost", None, "dance", "Visit", None) is None
    assert {"kind", "due_date"} <= set(page.field_errors) and ws.info() == before
    planned = page.schedule_activity("call", "Confirm order", "2026-06-01", note="before noon")
    assert planned["note"] == "before noon" and planned["opportunity_id"] == base["mine"]["id"]
    assert page.schedule_activity("call", "", None) is None
    assert {"subject", "due_date"} <= set(page.field_errors) and page.error_source == "plan"
    assert page.create_deal("Another") is None  # from a contact or a company only

    assert page.move("Qualified")["stage"] == "Qualified"
    assert page.lose("") is None and "reason" in page.field_errors
    assert ws.pipeline.get(base["mine"]["id"])["status"] == "open"
    assert page.lose("Price too high", "went to a rival")["status"] == "lost"
    assert page.detail["record"]["lost_reason"] == "Price too high"
    assert page.reopen("Proposition")["stage"] == "Proposition"
    assert page.win()["status"] == "won" and page.message.startswith("Won")
    assert page.reopen()["status"] == "open"

    page.open("company", base["indus"]["id"])
    deal = page.create_deal("Bedsheets", "250000", "PKR", dt.date(2026, 12, 1))
    assert deal["company_id"] == base["indus"]["id"] and deal["owner_id"] is not None
    assert "Bedsheets" in page.detail["opportunities"]["name"].tolist()


def test_user_content_on_a_record_page_stays_text(ws, base):
    bad = ws.contacts.create(name=XSS, notes="<script>alert(2)</script>")
    ws.interactions.log("note", "in", contact=bad["id"], subject="<b onmouseover=x>hi</b>")
    page = RecordModel(ws)
    page.open("contact", bad["id"])
    html = heading_html(page.detail) + sections_html(page.detail)
    assert "<img" not in html and "<b " not in html and "&lt;img src=x" in html


def test_the_page_draws_once_and_fills_in_place(ws, base):
    view = RecordPage(ws.as_user("bilal"))
    layout = view.__panel__()
    view.model.open("deal", base["mine"]["id"])

    def widget(css):
        return next(w for w in layout.select() if css in (getattr(w, "css_classes", None) or []))

    assert widget("crm-record-field-name").value == "Uniforms 2027"
    assert widget("crm-record-field-custom-incoterm").options == ["", "EXW", "FOB"]
    widget("crm-record-field-expected_revenue").value = "abc"
    widget("crm-record-save").clicks += 1
    assert "is not a number" in widget("crm-record-error-expected_revenue").object
    # Won asks first; the deal stays open until confirmed.
    widget("crm-record-won").clicks += 1
    assert ws.pipeline.get(base["mine"]["id"])["status"] == "open"
    widget("crm-record-confirm-won").clicks += 1
    assert ws.pipeline.get(base["mine"]["id"])["status"] == "won"
    assert widget("crm-record-reopen").visible is not False
    # a won deal is in no open stage: the choice beside Reopen says where it reopens
    assert (widget("crm-record-stage").name, widget("crm-record-stage").value) == (
        "Reopen in",
        "New",
    )
    view.model.open("contact", base["imran"]["id"])
    assert widget("crm-record-field-name").value == "عمران خان"
    assert view.__panel__() is layout
    layout.get_root()


# -- the app's routing ------------------------------------------------------------------------
def test_the_app_shows_what_the_address_names(ws, base):
    app = StaffApp(ws.as_user("bilal"))
    assert app.current == "Activities"  # no address: the first page
    app.route(f"#/deals/{base['mine']['id']}")
    assert app.current is None and app.record_page().model.record_id == base["mine"]["id"]
    app.route(f"#/deals/{base['theirs']['id']}")  # Olga's: refused, said on the page
    assert app.record_page().model.record_id is None
    assert "may not see" in app.record_page().model.message
    app.route("#/contacts?q=عمران&kind=company&archived=1")
    book = app.page("Contacts").model
    assert (book.query, book.entity, book.include_archived) == ("عمران", "company", True)
    assert app._params_of("Contacts") == {"q": "عمران", "kind": "company", "archived": "1"}
    app.route("#/contacts")  # the page as first built
    assert (book.query, book.entity, book.include_archived) == ("", "contact", False)
    app.route("#/contacts?kind=planet&order=bogus")  # values the page does not take
    assert book.entity == "contact" and book.order_by == "name"
    inbox = app.page("Activities").model
    app.route("#/activities?of=-")
    assert inbox.user == ""  # everyone's (a manager's view; crm_core narrows a sales user's)
    app.route("#/activities")
    assert inbox.user == "bilal"
    app.route("#/nowhere")
    assert app.current == "Activities"
    app.navigate(Route("pipeline"))
    assert app.current == "Pipeline" and app.shown == "#/pipeline"
    assert app.address.target == "#/pipeline" and app.address.sent >= 1
    app.open_record("contact", base["imran"]["id"])
    assert app.shown == record_hash("contact", base["imran"]["id"])
    assert app.shown_view is app._views["record"]
    assert [p.objects for p in app.main if p.visible] == [[app.shown_view]]  # others hidden
    app.navigate(Route("pipeline"))
    assert app.shown_view is app._views["Pipeline"]
    assert sum(len(place) for place in app.main) == len(app._views)


def test_the_overdue_badge_follows_the_inbox(ws, base, clock):
    bilal = ws.as_user("bilal")
    late = bilal.activities.schedule("call", "Late", ws.today() - dt.timedelta(days=3), company=1)
    app = StaffApp(bilal)
    assert "1 overdue" in app.badge.object and 'href="#/activities"' in app.badge.object
    app.page("Activities").model.complete(late["id"])
    assert app.badge.object == ""
