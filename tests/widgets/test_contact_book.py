"""ContactBook: search, paging, filters, inline edit, create, archive and the detail pane,
tested on the view-model (no browser), on SQLite and PostgreSQL; plus the view's build
and the escaping of user content; plus the crm_core queries the book relies on
(ws.accounts, exact-name and id lookups)."""

import datetime as dt
from decimal import Decimal

import pandas as pd
import panel as pn
import pytest

import crm_core
from crm_core.models import ExternalLink, Invoice, Product, SalesOrder
from widgets.base import md_text
from widgets.contact_book import ContactBook, ContactBookModel, table_rows
from widgets.record_page import error_html, heading_html, sections_html

FILLER = [f"Zafar Iqbal {i:02d}" for i in range(15)]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture
def base(ws):
    """3 companies and 23 contacts in Urdu, Bengali, Russian and Latin script."""
    ws.set_setting("phone_region", "PK")
    ws.users.add("Bilal Ahmed", "bilal", role="sales")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    indus = ws.companies.create(
        name="Indus Textiles", city="Karachi", country="PK", tags=["Textile"]
    )
    padma = ws.companies.create(name="পদ্মা ট্রেডার্স", city="ঢাকা", country="BD")
    volga = ws.companies.create(name="Волга Логистика", city="Москва", country="RU")
    named = [
        dict(
            name="عمران خان",
            email="imran@indus.pk",
            phone="0300 1234567",
            city="Karachi",
            country="PK",
            company=indus["id"],
            tags=["VIP"],
        ),
        dict(
            name="ثنا خان", email="sana@indus.pk", city="Lahore", country="PK", company=indus["id"]
        ),
        dict(
            name="আব্দুল করিম",
            email="karim@padma.bd",
            phone="+880 1712-345678",
            city="ঢাকা",
            country="BD",
            company=padma["id"],
            tags=["vip"],
        ),
        dict(name="রহিম উদ্দিন", city="ঢাকা", country="BD", company=padma["id"]),
        dict(
            name="Иван Петров",
            email="ivan@volga.ru",
            city="Москва",
            country="RU",
            company=volga["id"],
        ),
        dict(name="Ольга Смирнова", city="Москва", country="RU"),
        dict(name="Jürgen Straße", city="Berlin", country="DE"),
        dict(name="Ana Souza", city="Lisboa", country="PT"),
    ]
    people = {p["name"]: ws.contacts.create(**p) for p in named}
    for name in FILLER:
        ws.contacts.create(name=name, city="Multan", country="PK")
    return {"indus": indus, "padma": padma, "volga": volga, **people}


def names(model):
    return model.rows["name"].tolist()


# -- searching and paging ------------------------------------------------------------
def test_pages_hold_only_page_size_rows_and_stop_at_the_ends(ws, base):
    book = ContactBookModel(ws, page_size=10, order_by="id")
    all_ids = ws.contacts.search(order_by="id", limit=100)["id"].tolist()
    assert len(all_ids) == 23
    assert (book.total, book.pages, book.page) == (23, 3, 0)
    assert book.rows["id"].tolist() == all_ids[:10]
    assert book.summary() == "page 1 of 3 · 23 contacts"
    assert book.at_first_page() and not book.at_last_page()
    assert book.prev_page() is False and book.page == 0

    assert book.next_page() is True
    assert (book.page, book.rows["id"].tolist()) == (1, all_ids[10:20])
    assert book.next_page() is True
    assert (book.page, book.rows["id"].tolist()) == (2, all_ids[20:])
    assert book.summary() == "page 3 of 3 · 23 contacts"
    assert book.at_last_page()
    assert book.next_page() is False and book.page == 2 and len(book.rows) == 3
    assert book.goto(3) is False and book.goto(-1) is False and book.page == 2
    assert book.goto(0) is True and book.rows["id"].tolist() == all_ids[:10]
    assert book.prev_page() is False


def test_name_order_pages_are_consecutive_slices_of_one_ordering(ws, base):
    book = ContactBookModel(ws, page_size=10)
    pages = [names(book)]
    while book.next_page():
        pages.append(names(book))
    # which script sorts first is the database collation's choice; the pages must be
    # consecutive slices of that one order, none missing, none twice
    assert [len(p) for p in pages] == [10, 10, 3]
    in_order = [name for page in pages for name in page]
    assert in_order == ws.contacts.search(order_by="name", limit=100)["name"].tolist()
    book.descending = True
    assert names(book) == in_order[::-1][:10]


def test_pages_read_from_the_far_end_are_the_same_slices_ties_included(ws, base):
    # 15 of the 23 contacts live in Multan: ties broken by id, in both directions
    every = ws.contacts.search(order_by="city", limit=100)["id"].tolist()
    for descending, expected in ((False, every), (True, every[::-1])):
        book = ContactBookModel(ws, page_size=4, order_by="city", descending=descending)
        pages = [book.rows["id"].tolist()]
        while book.next_page():
            pages.append(book.rows["id"].tolist())
        assert [i for page in pages for i in page] == expected
        assert book.goto(2) and book.rows["id"].tolist() == expected[8:12]
    book = ContactBookModel(ws, page_size=4, query="zafar")  # the word-index path
    pages = [names(book)]
    while book.next_page():
        pages.append(names(book))
    assert [n for page in pages for n in page] == FILLER


def test_search_by_a_bengali_or_urdu_word_resets_to_the_first_page(ws, base):
    book = ContactBookModel(ws, page_size=10)
    book.next_page()
    assert book.page == 1
    book.query = "করিম"
    assert (book.page, book.total, names(book)) == (0, 1, ["আব্দুল করিম"])
    book.query = "خان"
    assert book.total == 2 and sorted(names(book)) == sorted(["عمران خان", "ثنا خان"])
    book.query = "ثنا خا"  # every word a prefix of a name word
    assert names(book) == ["ثنا خان"]
    book.query = "иван"  # case-folded Cyrillic
    assert names(book) == ["Иван Петров"]
    book.query = "Zafar"
    assert (book.total, len(book.rows), book.pages) == (15, 10, 2)
    book.query = "nobody"
    assert (book.total, len(book.rows), book.summary()) == (0, 0, "page 1 of 1 · 0 contacts")


def test_filters_by_city_country_tag_and_archived(ws, base):
    book = ContactBookModel(ws, page_size=50)
    book.city = "ঢাকা"
    assert sorted(names(book)) == sorted(["আব্দুল করিম", "রহিম উদ্দিন"])
    book.param.update(city="", country="ru")
    assert sorted(names(book)) == sorted(["Иван Петров", "Ольга Смирнова"])
    book.param.update(country="", tag="VIP")  # tags compare case-insensitively
    assert sorted(names(book)) == sorted(["عمران خان", "আব্দুল করিম"])
    book.city = "karachi"
    assert names(book) == ["عمران خان"]
    assert book.rows.iloc[0]["company"] == "Indus Textiles"
    assert book.rows.iloc[0]["tags"] == "VIP"

    book.param.update(city="", tag="", country="Atlantis")
    assert book.total == 0 and book.rows.empty
    assert book.error_source == "search" and "country" in book.field_errors
    assert book.message_kind == "danger"

    book.country = ""
    ws.contacts.archive(base["Ana Souza"]["id"])
    book.search()
    assert book.total == 22 and "Ana Souza" not in ws.contacts.search(limit=100)["name"].tolist()
    book.include_archived = True
    assert book.total == 23
    book.query = "ana"
    assert book.rows[["name", "active"]].values.tolist() == [["Ana Souza", False]]


def test_companies_are_a_second_entity_with_their_own_columns(ws, base):
    book = ContactBookModel(ws)
    book.select(base["عمران خان"]["id"])
    book.entity = "company"
    assert book.selected_id is None and book.detail == {}
    assert book.total == 3 and "website" in book.rows and "company" not in book.rows
    assert book.summary() == "page 1 of 1 · 3 companies"
    book.query = "পদ্মা"
    assert names(book) == ["পদ্মা ট্রেডার্স"]
    assert book.edit(base["padma"]["id"], "vat", "BD-123") is True
    assert ws.companies.get(base["padma"]["id"])["vat"] == "BD-123"


# -- inline edit ---------------------------------------------------------------------
def test_an_edit_is_saved_with_the_version_shown_and_the_row_refreshed(ws, base):
    imran = base["عمران خان"]
    book = ContactBookModel(ws, query="عمران")
    assert book.edit(imran["id"], "city", "Hyderabad") is True
    stored = ws.contacts.get(imran["id"])
    assert (stored["city"], stored["version"]) == ("Hyderabad", 2)
    row = book.rows.iloc[0]
    assert (row["city"], row["version"]) == ("Hyderabad", 2)
    assert book.message_kind == "success" and "city" in book.message
    # the next edit uses the new version: no false conflict
    assert book.edit(imran["id"], "phone", "0321 7654321") is True
    assert ws.contacts.get(imran["id"])["phone"] == "+923217654321"
    assert book.rows.iloc[0]["phone"] == "+923217654321"
    # an emptied optional cell clears the field
    assert book.edit(imran["id"], "job_title", "  ") is True
    assert ws.contacts.get(imran["id"])["job_title"] is None


def test_a_bad_email_is_refused_at_the_field_and_nothing_is_written(ws, base):
    imran = base["عمران خان"]
    book = ContactBookModel(ws, query="عمران")
    book.select(imran["id"])
    assert book.edit(imran["id"], "email", "imran@") is False
    assert list(book.field_errors) == ["email"]
    assert "not a valid e-mail address" in book.field_errors["email"]
    assert book.error_source == "edit" and book.message_kind == "danger"
    assert "imran@" in book.message  # what the user typed is named, not lost silently
    stored = ws.contacts.get(imran["id"])
    assert (stored["email"], stored["version"]) == ("imran@indus.pk", 1)
    assert book.rows.iloc[0]["email"] == "imran@indus.pk"
    assert book.detail["record"]["email"] == "imran@indus.pk"
    assert book.edit(imran["id"], "name", "") is False
    assert book.field_errors == {"name": "is required"}


def test_a_column_that_is_not_editable_is_refused(ws, base):
    imran = base["عمران خان"]
    book = ContactBookModel(ws, query="عمران")
    for field in ("company", "tags", "version", "id", "active"):
        assert book.edit(imran["id"], field, "x") is False
        assert list(book.field_errors) == [field]
    assert ws.contacts.get(imran["id"])["version"] == 1
    assert book.rows.iloc[0]["company"] == "Indus Textiles"


def test_a_stale_edit_is_refused_and_the_other_users_value_kept(ws, base, backend, clock):
    karim = base["আব্দুল করিম"]
    book = ContactBookModel(ws, query="করিম")
    assert book.rows.iloc[0]["version"] == 1
    other = crm_core.open(backend, clock=clock)  # another staff member's session
    try:
        other.contacts.update(karim["id"], {"city": "চট্টগ্রাম"}, expected_version=1)
    finally:
        other.close()

    assert book.edit(karim["id"], "city", "সিলেট") is False
    assert book.message_kind == "warning" and book.field_errors == {}
    assert "changed by someone else" in book.message and "সিলেট" in book.message
    stored = ws.contacts.get(karim["id"])
    assert (stored["city"], stored["version"]) == ("চট্টগ্রাম", 2)
    row = book.rows.iloc[0]
    assert (row["city"], row["version"]) == ("চট্টগ্রাম", 2)  # the row shows what is stored
    # re-applied on the current version, it goes through
    assert book.edit(karim["id"], "city", "সিলেট") is True
    assert ws.contacts.get(karim["id"])["city"] == "সিলেট"


# -- create, archive, restore --------------------------------------------------------
def test_create_reports_every_refused_field_and_writes_nothing(ws, base):
    book = ContactBookModel(ws)
    before = ws.contacts.count(include_archived=True)
    assert book.create(name=" ", email="nadia@", phone="12", company="Nowhere Ltd") is None
    assert set(book.field_errors) == {"name", "email", "phone", "company"}
    assert book.field_errors["name"] == "is required"
    assert book.field_errors["company"] == "is not the name of a company"
    assert book.error_source == "create" and book.message_kind == "danger"
    assert ws.contacts.count(include_archived=True) == before

    # a company name that would be the only error still writes nothing
    assert book.create(name="نادیہ شاہ", company="Nowhere Ltd") is None
    assert book.field_errors == {"company": "is not the name of a company"}
    assert ws.contacts.count(include_archived=True) == before


def test_create_selects_the_new_record_and_counts_it(ws, base):
    book = ContactBookModel(ws)
    created = book.create(
        name="نادیہ شاہ",
        email="nadia@indus.pk",
        phone="0333 1112223",
        city="Karachi",
        country="PK",
        company="indus  TEXTILES",  # exact name, any case and spacing
    )
    assert created is not None and book.field_errors == {}
    stored = ws.contacts.get(created["id"])
    assert (stored["company_id"], stored["phone"]) == (base["indus"]["id"], "+923331112223")
    assert book.total == 24 and book.selected_id == created["id"]
    assert book.detail["record"]["name"] == "نادیہ شاہ"
    assert book.detail["record"]["company"] == "Indus Textiles"
    assert book.message_kind == "success" and "نادیہ شاہ" in book.message
    by_id = book.create(name="Пётр Иванов", company=str(base["volga"]["id"]), email="")
    assert ws.contacts.get(by_id["id"])["company_id"] == base["volga"]["id"]
    assert ws.contacts.get(by_id["id"])["email"] is None

    ws.companies.create(name="Indus Textiles")  # now the name is ambiguous
    assert book.create(name="Ali", company="Indus Textiles") is None
    assert "2 companies" in book.field_errors["company"]

    book.entity = "company"
    company = book.create(name="Лена Трейд", country="rus", city="Казань")
    assert ws.companies.get(company["id"])["country"] == "RU"
    assert book.total == 5 and book.detail["kind"] == "company"


def test_archive_and_restore_the_selected_record(ws, base):
    ivan = base["Иван Петров"]
    book = ContactBookModel(ws, page_size=50)
    assert book.archive() is False and book.message == "Select a record first."
    book.select(ivan["id"])
    assert book.selected_active() is True
    assert book.toggle_archived() is True
    assert ws.contacts.get(ivan["id"])["active"] is False
    assert book.total == 22 and "Иван Петров" not in names(book)
    assert book.selected_active() is False and book.message_kind == "success"
    book.include_archived = True
    assert "Иван Петров" in names(book)
    assert book.toggle_archived() is True  # restores
    assert ws.contacts.get(ivan["id"])["active"] is True
    assert book.selected_active() is True and "Restored" in book.message


def test_archiving_a_record_changed_since_it_was_shown_is_a_conflict(ws, base):
    ana = base["Ana Souza"]
    book = ContactBookModel(ws, query="ana")
    ws.contacts.update(ana["id"], {"city": "Porto"}, expected_version=1)
    assert book.archive(ana["id"]) is False
    assert book.message_kind == "warning" and "changed by someone else" in book.message
    assert ws.contacts.get(ana["id"])["active"] is True
    assert book.rows.iloc[0]["city"] == "Porto"  # reloaded: the next try uses version 2
    assert book.archive(ana["id"]) is True


# -- the detail pane -----------------------------------------------------------------
def _synced_books(ws, company_id, contact_id):
    """Link the company to an ERP and copy in invoices as a sync would."""
    with ws.transaction() as s:
        s.add(
            ExternalLink(
                backend="odoo:test",
                entity="company",
                local_id=company_id,
                remote_model="res.partner",
                remote_id=501,
                synced={},
                synced_at=ws.clock(),
            )
        )

        def invoice(
            remote_id, number, move_type, total, residual, state, pay, currency="PKR", **kw
        ):
            return Invoice(
                backend="odoo:test",
                remote_id=remote_id,
                number=number,
                move_type=move_type,
                company_id=company_id,
                invoice_date=dt.date(2026, 1, remote_id % 28 + 1),
                due_date=dt.date(2026, 2, 1),
                currency=currency,
                amount_untaxed=Decimal(total),
                amount_total=Decimal(total),
                amount_residual=Decimal(residual),
                state=state,
                payment_state=pay,
                **kw,
            )

        s.add_all(
            [
                invoice(1, "INV/2026/0001", "out_invoice", "150000.00", "0.00", "posted", "paid"),
                invoice(
                    2, "INV/2026/0002", "out_invoice", "80000.10", "30000.10", "posted", "partial"
                ),
                invoice(
                    3,
                    "INV/2026/0003",
                    "out_invoice",
                    "12000.20",
                    "12000.20",
                    "posted",
                    "not_paid",
                    contact_id=contact_id,
                ),
                invoice(
                    4, "RINV/2026/0001", "out_refund", "5000.00", "5000.00", "posted", "not_paid"
                ),
                invoice(5, None, "out_invoice", "99999.00", "99999.00", "draft", "not_paid"),
                invoice(
                    6,
                    "INV/2026/0006",
                    "out_invoice",
                    "100.00",
                    "100.00",
                    "posted",
                    "not_paid",
                    currency="USD",
                ),
            ]
        )


def test_the_detail_pane_of_a_synced_company(ws, base, clock):
    indus, imran, sana = base["indus"], base["عمران خان"], base["ثنا خان"]
    t0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)
    ws.interactions.log("email", "in", contact=imran["id"], subject="قیمت کی درخواست", at=t0)
    ws.interactions.log(
        "call", "out", company=indus["id"], subject="Follow-up", at=t0 + dt.timedelta(days=2)
    )
    ws.interactions.log(
        "meeting", "out", contact=sana["id"], subject="Visit", at=t0 + dt.timedelta(days=1)
    )
    ws.interactions.log("note", "in", contact=base["আব্দুল করিম"]["id"], subject="Elsewhere", at=t0)
    call = ws.activities.schedule("call", "Call Indus back", "2026-05-20", company=indus["id"])
    done = ws.activities.schedule("todo", "Send samples", "2026-05-10", company=indus["id"])
    ws.activities.complete(done["id"])
    deal = ws.pipeline.create("Uniforms 2027", company=indus["id"], expected_revenue="1500000.00")
    ws.pipeline.create("Other", company=base["padma"]["id"])
    _synced_books(ws, indus["id"], imran["id"])

    book = ContactBookModel(ws, entity="company")
    assert book.select(indus["id"]) is True
    d = book.detail
    assert d["kind"] == "company" and d["record"]["name"] == "Indus Textiles"
    assert d["record"]["tags"] == ["Textile"]
    # newest first; the company's timeline includes its contacts' interactions
    assert d["timeline"]["subject"].tolist() == ["Follow-up", "Visit", "قیمت کی درخواست"]
    assert d["activities"]["id"].tolist() == [call["id"]]  # open ones only
    assert d["opportunities"]["id"].tolist() == [deal["id"]]
    assert sorted(d["contacts"]["name"]) == sorted(["عمران خان", "ثنا خان"])
    assert d["synced"] is True
    assert d["invoices"]["number"].tolist()[:1] == ["INV/2026/0006"]  # newest first
    assert len(d["invoices"]) == 6
    # posted invoices' residuals less posted credit notes, per currency; drafts excluded
    assert d["open_balance"] == {
        "PKR": Decimal("37000.30"),  # 0 + 30000.10 + 12000.20 - 5000.00
        "USD": Decimal("100.00"),
    }
    page = sections_html(d)
    assert "Open balance" in page and "PKR 37,000.30</span>" in page and "INV/2026/0002" in page

    # a contact's pane: only what is addressed to the person
    book.entity = "contact"
    book.select(imran["id"])
    d = book.detail
    assert d["record"]["company"] == "Indus Textiles" and d["contacts"] is None
    assert d["timeline"]["subject"].tolist() == ["قیمت کی درخواست"]
    assert d["invoices"]["number"].tolist() == ["INV/2026/0003"]
    assert d["open_balance"] == {"PKR": Decimal("12000.20")}
    assert d["synced"] is False  # the person has no link of their own
    assert d["activities"].empty and d["opportunities"].empty


def test_an_unsynced_record_has_no_books(ws, base):
    book = ContactBookModel(ws, entity="company")
    book.select(base["volga"]["id"])
    assert book.detail["synced"] is False
    assert book.detail["invoices"].empty and book.detail["open_balance"] == {}
    assert "Invoices" not in sections_html(book.detail)
    assert book.select(10_000) is False and book.detail == {}
    assert "does not exist" in book.message


def test_a_sales_user_sees_only_their_own_deals_and_activities(ws, base):
    imran = base["عمران خان"]
    bilal, olga = ws.as_user("bilal"), ws.as_user("olga")
    mine = bilal.pipeline.create("Uniforms 2027", contact=imran["id"])
    bilal.pipeline.create("Bedsheets", contact=base["ثنا خان"]["id"])
    olga.pipeline.create("Towels for Kazan", contact=imran["id"])
    call = bilal.activities.schedule("call", "Call Imran", "2026-05-20", contact=imran["id"])
    olga.activities.schedule("meeting", "Visit Imran", "2026-05-21", contact=imran["id"])

    book = ContactBookModel(bilal, query="عمران")
    book.select(imran["id"])
    assert book.detail["opportunities"]["id"].tolist() == [mine["id"]]
    assert book.detail["activities"]["id"].tolist() == [call["id"]]
    # contacts themselves are everyone's: bilal edits one
    assert book.edit(imran["id"], "city", "Sukkur") is True

    manager = ContactBookModel(ws, query="عمران")
    manager.select(imran["id"])
    assert len(manager.detail["opportunities"]) == 2 and len(manager.detail["activities"]) == 2


# -- the view ------------------------------------------------------------------------
def _css(layout):
    return {c for obj in layout.select() for c in getattr(obj, "css_classes", None) or []}


def test_the_view_builds_and_its_table_holds_only_the_page(ws, base):
    book = ContactBook(model=ContactBookModel(ws, page_size=5))
    layout = book.__panel__()
    (form,) = [c for c in layout.select(pn.Card) if "crm-contact-new-form" in c.css_classes]
    assert len(form) == 0  # the New form is drawn when first opened
    form.collapsed = False
    assert len(form) == 2
    assert {
        "crm-contact-search",
        "crm-contact-table",
        "crm-contact-next",
        "crm-contact-prev",
        "crm-contact-new",
        "crm-contact-archive",
        "crm-record-page",
        "crm-alert",
    } <= _css(layout)
    (table,) = [
        t for t in layout.select(pn.widgets.Tabulator) if "crm-contact-table" in t.css_classes
    ]
    assert len(table.value) == 5 and table.value["id"].tolist() == book.model.rows["id"].tolist()
    assert table.show_index is False and table.pagination is None
    assert {"id", "version", "company", "tags", "active"} <= {
        c for c, e in table.editors.items() if e is None
    }
    assert not {"name", "email", "phone", "city", "country", "job_title"} & set(table.editors)
    assert "html" not in str(table.formatters)
    # Human headers, the internal columns kept but never shown.
    assert table.hidden_columns == ["id", "version"]
    assert table.titles["job_title"] == "Job title" and table.titles["email"] == "E-mail"
    assert set(table.value.columns) - set(table.hidden_columns) <= set(table.titles)
    # Phones in international format with the country code; the model keeps E.164.
    shown = dict(zip(table.value["id"], table.value["phone"], strict=True))
    stored = dict(zip(book.model.rows["id"], book.model.rows["phone"], strict=True))
    assert {shown[i] for i, p in stored.items() if p == "+923001234567"} <= {"+92 300 1234567"}

    book.model.next_page()
    assert table.value["id"].tolist() == book.model.rows["id"].tolist() and len(table.value) == 5
    table.selection = [2]  # a click on the third row opens it in the detail pane
    assert book.model.selected_id == book.model.rows["id"].iloc[2]
    layout.get_root()  # serialises to Bokeh models (what a browser or notebook gets)

    default = ContactBook(ws)
    assert default.model.page_size == 50
    default.__panel__()
    assert pn.ipywidget(ContactBook(ws)) is not None


def test_the_table_shows_phones_the_way_their_country_writes_them():
    rows = pd.DataFrame(
        {
            "id": [1, 2, 3, 4],
            "phone": ["+923001234567", "+8801712345678", "(198)-539-4948", None],
            "mobile": ["+79123456789", None, "", "+4930123456"],
        }
    )
    shown = table_rows(rows)
    phones, mobiles = shown["phone"].tolist(), shown["mobile"].tolist()
    assert phones[:3] == ["+92 300 1234567", "+880 1712-345678", "(198)-539-4948"]
    assert mobiles[0] == "+7 912 345-67-89" and mobiles[2:] == ["", "+49 30 123456"]
    assert pd.isna(phones[3]) and pd.isna(mobiles[1])
    assert rows["phone"].iloc[0] == "+923001234567"  # the page itself is untouched


def test_user_content_stays_literal_text_in_the_html(ws, base):
    bad = ws.contacts.create(
        name=XSS, notes="<script>alert(2)</script>", company=base["indus"]["id"]
    )
    ws.interactions.log("note", "in", contact=bad["id"], subject="<b onmouseover=x>hi</b>")
    book = ContactBook(model=ContactBookModel(ws, query="img"))
    model = book.model
    assert model.rows["name"].tolist() == [XSS]  # stored and shown as typed
    model.select(bad["id"])
    page = heading_html(model.detail) + sections_html(model.detail)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert "&lt;b onmouseover=x&gt;hi&lt;/b&gt;" in page
    assert "<img" not in page and "<script" not in page and "<b " not in page

    layout = book.__panel__()
    model.edit(bad["id"], "city", "Karachi")  # the message names the record
    alert = layout.select(pn.pane.Alert)[0]  # the book's own (the record page has one too)
    assert XSS in model.message and "<img" not in alert.object
    assert md_text(XSS) in alert.object  # the characters as Markdown shows them, not a tag
    (heading,) = [p for p in layout.select(pn.pane.HTML) if "crm-record-heading" in p.css_classes]
    assert "<img" not in heading.object and "&lt;img" in heading.object
    assert "&lt;i&gt;x&lt;/i&gt;</span>" in error_html("<i>x</i>")
    assert "<i>" not in error_html("<i>x</i>") and error_html(None) == ""


# -- crm_core queries the book relies on ----------------------------------------------
def test_accounts_lists_invoices_orders_products_and_links(ws, base):
    indus = base["indus"]
    _synced_books(ws, indus["id"], base["عمران خان"]["id"])
    with ws.transaction() as s:
        s.add(
            Product(
                backend="odoo:test",
                remote_id=1,
                name="Cotton 40s",
                default_code="C40%",
                list_price=Decimal("950.00"),
                currency="PKR",
            )
        )
        s.add(
            Product(
                backend="odoo:test",
                remote_id=2,
                name="Dye",
                list_price=Decimal("10.00"),
                currency="PKR",
                active=False,
            )
        )
        s.add(
            SalesOrder(
                backend="odoo:test",
                remote_id=7,
                name="S00007",
                company_id=indus["id"],
                ordered_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
                currency="PKR",
                amount_total=Decimal("80000.10"),
                state="sale",
            )
        )
    ws.companies.update(indus["id"], owner_id="bilal")  # his customer: he sees its books
    accounts = ws.as_user("bilal").accounts
    open_ones = accounts.invoices(company_id=indus["id"], open_only=True)
    assert sorted(open_ones["number"]) == [
        "INV/2026/0002",
        "INV/2026/0003",
        "INV/2026/0006",
        "RINV/2026/0001",
    ]
    every = accounts.invoices(company_id=indus["id"])["number"].tolist()
    assert len(every) == 6
    assert (
        accounts.invoices(company_id=indus["id"], limit=2, offset=4)["number"].tolist()
        == (every[4:])
    )
    assert accounts.invoices(company_id=base["volga"]["id"]).empty
    assert accounts.open_balance(company_id=base["volga"]["id"]) == {}
    assert accounts.sales_orders(company_id=indus["id"])["name"].tolist() == ["S00007"]
    assert accounts.sales_orders(company_id=indus["id"])["amount_total"].tolist() == [
        Decimal("80000.10")
    ]
    assert accounts.products()["name"].tolist() == ["Cotton 40s"]
    assert accounts.products("40%")["name"].tolist() == ["Cotton 40s"]  # % is literal
    assert accounts.products("4_s").empty
    assert accounts.products("dye", include_archived=True)["name"].tolist() == ["Dye"]
    assert accounts.is_synced("company", indus["id"]) and not accounts.is_synced(
        "contact", indus["id"]
    )
    links = accounts.links("company", indus["id"])
    assert links[["backend", "remote_model", "remote_id"]].values.tolist() == [
        ["odoo:test", "res.partner", 501]
    ]
    with pytest.raises(crm_core.ValidationError, match="limit"):
        accounts.invoices(limit=0)


def test_open_balance_is_exact_to_the_cent(ws, base):
    company = base["volga"]["id"]
    with ws.transaction() as s:
        for n in range(1, 31):
            s.add(
                Invoice(
                    backend="b",
                    remote_id=n,
                    move_type="out_invoice",
                    company_id=company,
                    currency="RUB",
                    amount_untaxed=Decimal("0.10"),
                    amount_total=Decimal("0.10"),
                    amount_residual=Decimal("0.10") if n % 3 else Decimal("0.20"),
                    state="posted",
                )
            )
    assert ws.accounts.open_balance(company_id=company) == {"RUB": Decimal("4.00")}


def test_exact_name_and_id_lookups(ws, base):
    assert ws.companies.ids_named("  INDUS textiles ") == [base["indus"]["id"]]
    assert ws.companies.ids_named("Indus") == [] and ws.companies.ids_named("") == []
    assert ws.contacts.ids_named("ثنا خان") == [base["ثنا خان"]["id"]]
    ws.contacts.archive(base["ثنا خان"]["id"])
    assert ws.contacts.ids_named("ثنا خان") == []
    assert ws.contacts.ids_named("ثنا خان", include_archived=True) == [base["ثنا خان"]["id"]]
    found = ws.contacts.search(id=base["Ana Souza"]["id"])
    assert found["name"].tolist() == ["Ana Souza"] and found["tags"].tolist() == [""]
    assert ws.companies.count(id=base["volga"]["id"]) == 1


# -- the daily actions on a record -----------------------------------------------------
def test_log_schedule_and_open_a_deal_from_a_contact(ws, base):
    imran = base["عمران خان"]
    book = ContactBookModel(ws.as_user("bilal"), query="عمران")
    assert book.log_interaction("call", "out", "Price list", "Wants a quote") is None
    assert book.message == "Select a contact first."
    book.select(imran["id"])
    logged = book.log_interaction("call", "out", " Price list ", "Wants a quote\nby Friday")
    assert (logged["contact_id"], logged["company_id"]) == (imran["id"], base["indus"]["id"])
    assert book.detail["timeline"]["subject"].tolist()[0] == "Price list"
    assert book.message == "Logged the call."
    planned = book.schedule_activity("meeting", "Visit the mill", dt.date(2026, 5, 20))
    assert planned["contact_id"] == imran["id"]
    assert "Visit the mill" in book.detail["activities"]["subject"].tolist()
    deal = book.create_deal("Uniforms 2027", "12 lakh", "PKR", dt.date(2026, 9, 30))
    assert deal is None and "expected_revenue" in book.field_errors
    assert book.error_source == "record" and ws.pipeline.count() == 0
    deal = book.create_deal("Uniforms 2027", "1250000.50", "pkr", dt.date(2026, 9, 30))
    assert (deal["owner_id"], deal["stage"], deal["company_id"]) == (
        ws.users.get("bilal")["id"],
        "New",
        base["indus"]["id"],
    )
    assert book.detail["opportunities"]["name"].tolist() == ["Uniforms 2027"]
    # Refusals name the field and write nothing.
    before = ws.info()
    assert book.schedule_activity("dance", "", None) is None
    assert {"kind", "subject", "due_date"} <= set(book.field_errors)
    assert book.log_interaction("pigeon", "sideways", subject="Called") is None
    assert {"channel", "direction"} <= set(book.field_errors)
    assert book.log_interaction("call", "out") is None  # nothing said: nothing logged
    assert set(book.field_errors) == {"summary"}
    assert ws.info() == before


def test_the_record_actions_card_acts_on_the_selected_company(ws, base):
    book = ContactBook(model=ContactBookModel(ws, entity="company"))
    layout = book.__panel__()
    (card,) = [c for c in layout.select(pn.Column) if "crm-record-actions" in c.css_classes]
    assert not card.visible  # nothing selected: no actions
    book.model.select(base["padma"]["id"])
    assert card.visible

    def widget(css):
        return next(w for w in card.select() if css in getattr(w, "css_classes", []))

    widget("crm-log-channel").value = "meeting"
    widget("crm-log-subject").value = "সভা"
    widget("crm-log-save").clicks += 1
    timeline = ws.interactions.timeline(company_id=base["padma"]["id"])
    assert timeline[["channel", "subject"]].values.tolist()[0] == ["meeting", "সভা"]
    assert widget("crm-log-subject").value == ""
    widget("crm-deal-name").value = "Jute bags"
    widget("crm-deal-amount").value = "9800"
    widget("crm-deal-currency").value = "BDT"
    widget("crm-deal-save").clicks += 1
    found = ws.pipeline.search("Jute")
    assert found[["company", "currency"]].values.tolist() == [["পদ্মা ট্রেডার্স", "BDT"]]


def test_a_header_sorts_the_whole_search_and_an_empty_search_says_so(ws, base):
    book = ContactBook(model=ContactBookModel(ws, page_size=5))
    layout = book.__panel__()
    (table,) = [
        t for t in layout.select(pn.widgets.Tabulator) if "crm-contact-table" in t.css_classes
    ]
    assert table.sortable["city"] is True and table.sortable["tags"] is False
    table.sorters = [{"field": "city", "dir": "desc"}]
    assert (book.model.order_by, book.model.descending) == ("city", True)
    cities = ws.contacts.search(order_by="city", descending=True, limit=5)["city"].tolist()
    assert book.model.rows["city"].tolist() == cities  # the first page of the whole search
    (empty,) = [p for p in layout.select(pn.pane.HTML) if "crm-contact-empty" in p.css_classes]
    assert empty.object == ""
    book.model.query = "Nobody-by-this-name"
    assert book.model.total == 0 and "No contacts match." in empty.object
