"""ws.export: whole tables streamed from the database, segments, what a sales user
sees, reports with the filters they take, layouts, and the errors for bad requests.
Every workbook is read back with openpyxl."""

from __future__ import annotations

import datetime as dt
import io
import os
import zipfile
from decimal import Decimal

import openpyxl
import pytest

from crm_core.errors import NotFoundError, ValidationError
from crm_core.export import layouts

D = Decimal


@pytest.fixture(autouse=True)
def no_user_folders(monkeypatch):
    monkeypatch.delenv(layouts.ENV_VAR, raising=False)


@pytest.fixture
def book(ws, clock):
    """A small book (today is 2026-05-15 in UTC, the workspace's zone):

    contacts (by name): Imran Khan (Indus, Karachi, tags vip + Export), Анна Петрова
    (Kazan Home, mobile), @Rahim (=a formula-looking name, no company) and an archived
    Old Contact. Custom contact field ``tier`` (choice).

    deals: uniforms (bilal, PKR 1,000,000 in Proposition 60%, tag export, Indus),
    towels (olga, PKR 500,000 in New 10%, Kazan), shirts (bilal, USD 20,000, won 15 May),
    hidden (bilal, archived).

    activities: Call Indus (bilal, due 14 May, done 14 May 10:00 UTC), Send samples
    (olga, due 10 May, open: overdue), Visit (bilal, due 20 May, open).
    """
    ws.users.add("Bilal Ahmed", "bilal", role="sales", team="Karachi")
    ws.users.add("Olga Smirnova", "olga", role="sales")
    ws.custom_fields.define("contact", "tier", "choice", choices=["gold", "silver"])
    indus = ws.companies.create(name="Indus Textiles", country="PK")["id"]
    kazan = ws.companies.create(name="Kazan Home", country="RU")["id"]
    c = ws.contacts
    imran = c.create(
        name="Imran Khan",
        company_id=indus,
        email="imran@indus.pk",
        phone="+923001234567",
        city="Karachi",
        country="PK",
        tags=["vip", "Export"],
        owner="bilal",
        custom={"tier": "gold"},
    )["id"]
    anna = c.create(
        name="Анна Петрова", company_id=kazan, mobile="+79161234567", city="Казань", country="RU"
    )["id"]
    rahim = c.create(name="@Rahim", city="Lahore")["id"]
    c.archive(c.create(name="Old Contact")["id"])
    p = ws.pipeline
    uniforms = p.create(
        "uniforms",
        owner="bilal",
        expected_revenue="1000000.00",
        currency="PKR",
        company=indus,
        contact=imran,
        tags=["export"],
        expected_close="2026-06-30",
    )["id"]
    p.move(uniforms, "Qualified")
    p.move(uniforms, "Proposition")
    towels = p.create(
        "towels", owner="olga", expected_revenue="500000.00", currency="PKR", company=kazan
    )["id"]
    shirts = p.create("shirts", owner="bilal", expected_revenue="20000.00", currency="USD")["id"]
    p.win(shirts)
    p.archive(p.create("hidden", owner="bilal", expected_revenue="999", currency="PKR")["id"])
    a = ws.activities
    call = a.schedule("call", "Call Indus", "2026-05-14", assignee="bilal", company=indus)["id"]
    a.complete(call, at="2026-05-14T10:00:00+00:00")
    samples = a.schedule("todo", "Send samples", "2026-05-10", assignee="olga", contact=anna)["id"]
    visit = a.schedule("meeting", "Visit", "2026-05-20", assignee="bilal", opportunity=uniforms)[
        "id"
    ]
    return {
        "imran": imran,
        "anna": anna,
        "rahim": rahim,
        "uniforms": uniforms,
        "towels": towels,
        "shirts": shirts,
        "call": call,
        "samples": samples,
        "visit": visit,
        "indus": indus,
        "kazan": kazan,
    }


def rows_of(sheet):
    """The sheet's rows as a program reads them: on a table sheet the hidden row of
    column identifiers is the header and the row of titles (for people) is left out."""
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    if sheet.row_dimensions[1].hidden:
        return rows[:1] + rows[2:]
    return rows


def records(sheet):
    """The sheet as a list of dicts, header -> value."""
    rows = rows_of(sheet)
    return [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def cover_sheets(wb):
    """(sheet, title, rows, notes) rows of the cover's sheet list."""
    rows = rows_of(wb["Cover"])
    start = rows.index(["Sheet", "Title", "Rows", "Notes"])
    out = []
    for r in rows[start + 1 :]:
        if r[0] is None:
            break
        out.append(tuple(r))
    return out


def visible(wb):
    """The sheets people see (the charts' figures are on a hidden one)."""
    return [s.title for s in wb.worksheets if s.sheet_state == "visible"]


def cover_parameters(wb):
    rows = rows_of(wb["Cover"])
    start = rows.index(["Parameter", "Value", None, None])
    out = {}
    for r in rows[start + 1 :]:
        if r[0] is None:
            break
        out[r[0]] = r[1]
    return out


def test_contacts_are_exported_with_names_formatted_phones_and_tags(ws, book, tmp_path):
    path = ws.export.xlsx(tmp_path / "contacts.xlsx", "contacts")
    wb = openpyxl.load_workbook(path)
    assert visible(wb) == ["Cover", "Contacts"]
    got = records(wb["Contacts"])
    # by folded name: "@rahim" < "imran khan" < "анна петрова"; the archived one left out
    assert [r["name"] for r in got] == ["@Rahim", "Imran Khan", "Анна Петрова"]
    imran = got[1]
    assert {k: imran[k] for k in ("id", "company", "email", "phone", "city", "country")} == {
        "id": book["imran"],
        "company": "Indus Textiles",
        "email": "imran@indus.pk",
        "phone": "+92 300 1234567",
        "city": "Karachi",
        "country": "PK",
    }
    assert (imran["owner"], imran["tags"], imran["tier"], imran["active"]) == (
        "Bilal Ahmed",
        "Export, vip",
        "gold",
        True,  # a boolean, not "yes"
    )
    assert imran["created_at"] == dt.datetime(2026, 5, 15, 9, 30)
    assert (got[2]["mobile"], got[2]["company"], got[2]["tags"]) == (
        "+7 916 123-45-67",
        "Kazan Home",
        None,
    )
    assert wb["Contacts"]["B2"].data_type == "s"  # "@Rahim" is text
    assert cover_sheets(wb) == [("Contacts", "Contacts", 3, None)]
    assert cover_parameters(wb) == {"contents": "contacts"}


def test_opportunities_for_the_team_and_for_a_sales_user(ws, book, tmp_path):
    wb = openpyxl.load_workbook(ws.export.xlsx(io.BytesIO(), "opportunities"))
    got = records(wb["Opportunities"])
    assert [r["name"] for r in got] == ["shirts", "towels", "uniforms"]  # alphabetical
    uniforms = got[2]
    assert {
        k: uniforms[k]
        for k in (
            "status",
            "stage",
            "company",
            "contact",
            "owner",
            "expected_revenue",
            "currency",
            "probability",
            "expected_close",
            "tags",
            "closed_at",
        )
    } == {
        "status": "open",
        "stage": "Proposition",
        "company": "Indus Textiles",
        "contact": "Imran Khan",
        "owner": "Bilal Ahmed",
        "expected_revenue": 1_000_000,
        "currency": "PKR",
        "probability": 0.6,
        "expected_close": dt.datetime(2026, 6, 30),
        "tags": "Export",  # the tag the contact created first, names compare ignoring case
        "closed_at": None,
    }
    sheet = wb["Opportunities"]
    assert sheet["J3"].number_format == "#,##0.00" and sheet["L3"].number_format == "0.0%"
    assert (got[0]["status"], got[0]["stage"], got[0]["probability"]) == ("won", "Won", 1.0)
    assert got[0]["closed_at"] == dt.datetime(2026, 5, 15, 9, 30)

    olga = ws.as_user("olga")
    mine = records(
        openpyxl.load_workbook(olga.export.xlsx(io.BytesIO(), "opportunities"))["Opportunities"]
    )
    assert [r["name"] for r in mine] == ["towels"]
    params = cover_parameters(openpyxl.load_workbook(olga.export.xlsx(io.BytesIO(), "contacts")))
    assert params["user"] == "olga (sales)"


def test_activities_with_their_status_today(ws, book, tmp_path):
    wb = openpyxl.load_workbook(ws.export.xlsx(tmp_path / "a.xlsx", "activities"))
    got = records(wb["Activities"])
    assert [(r["subject"], r["status"], r["assignee"]) for r in got] == [
        ("Send samples", "overdue", "Olga Smirnova"),
        ("Call Indus", "done", "Bilal Ahmed"),
        ("Visit", "open", "Bilal Ahmed"),
    ]
    assert got[1]["done_at"] == dt.datetime(2026, 5, 14, 10, 0)
    assert got[1]["company"] == "Indus Textiles" and got[0]["contact"] == "Анна Петрова"
    assert got[2]["opportunity"] == "uniforms" and got[2]["due_date"] == dt.datetime(2026, 5, 20)
    bilal = ws.as_user("bilal")
    mine = records(
        openpyxl.load_workbook(bilal.export.xlsx(io.BytesIO(), "activities"))["Activities"]
    )
    assert [r["subject"] for r in mine] == ["Call Indus", "Visit"]


def test_datetimes_are_shown_in_the_workspace_time_zone(ws, book, tmp_path):
    ws.set_setting("timezone", "Asia/Karachi")
    wb = openpyxl.load_workbook(ws.export.xlsx(tmp_path / "a.xlsx", "activities"))
    done = next(r for r in records(wb["Activities"]) if r["subject"] == "Call Indus")
    assert done["done_at"] == dt.datetime(2026, 5, 14, 15, 0)
    assert rows_of(wb["Cover"])[2][1] == dt.datetime(2026, 5, 15, 14, 30)


def test_a_segment_restricts_a_table_of_its_entity(ws, book, tmp_path):
    ws.segments.create("Karachi people", "contact", city="karachi")
    ws.segments.create("Bilal's deals", "opportunity", owner="bilal")
    wb = openpyxl.load_workbook(
        ws.export.xlsx(tmp_path / "k.xlsx", "contacts", segment="Karachi people")
    )
    assert [r["name"] for r in records(wb["Contacts"])] == ["Imran Khan"]
    assert cover_sheets(wb) == [("Contacts", "Contacts", 1, "segment: Karachi people")]
    assert cover_parameters(wb)["segment"] == "Karachi people"
    wb = openpyxl.load_workbook(
        ws.export.xlsx(tmp_path / "b.xlsx", "opportunities", segment="Bilal's deals")
    )
    assert [r["name"] for r in records(wb["Opportunities"])] == ["shirts", "uniforms"]


@pytest.mark.usefixtures("test_reports")
def test_a_segment_of_another_entity_is_refused(ws, book, tmp_path):
    ws.segments.create("PK companies", "company", country="PK")
    ws.segments.create("Karachi people", "contact", city="karachi")
    target = tmp_path / "x.xlsx"
    with pytest.raises(ValidationError) as caught:
        ws.export.xlsx(target, "contacts", segment="PK companies")
    assert str(caught.value) == (
        "export of contacts: field 'segment' value 'PK companies': is a segment of company "
        "records; the contacts table takes contact segments"
    )
    with pytest.raises(ValidationError, match="the activities table has no segments"):
        ws.export.xlsx(target, "activities", segment="Karachi people")
    with pytest.raises(NotFoundError, match="segment 'nope'"):
        ws.export.xlsx(target, "contacts", segment="nope")
    with pytest.raises(ValidationError, match="applies to tables"):
        ws.export.xlsx(target, "xt_period", segment="Karachi people")
    assert not target.exists()


@pytest.mark.usefixtures("test_reports")
def test_reports_get_the_filters_they_take_and_the_cover_says_which_not(ws, book, tmp_path):
    path = tmp_path / "r.xlsx"
    ws.export.xlsx(path, "xt_deals_by_stage", "xt_period", owner="bilal", period_from="2026-01-01")
    wb = openpyxl.load_workbook(path)
    assert visible(wb) == ["Cover", "Deals by stage", "Period"]
    # bilal's active deals: uniforms (Proposition, PKR) and shirts (Won, USD)
    assert rows_of(wb["Deals by stage"]) == [
        ["stage", "currency", "deals", "value"],
        ["Proposition", "PKR", 1, 1_000_000],
        ["Won", "USD", 1, 20_000],
    ]
    assert rows_of(wb["Period"]) == [
        ["period_from", "period_to"],
        [dt.datetime(2026, 1, 1), None],
    ]
    assert cover_sheets(wb) == [
        ("Deals by stage", "Deals by stage", 2, "filters not applied: period_from"),
        ("Period", "Period", 1, "filters not applied: owner"),
    ]
    assert cover_parameters(wb) == {
        "contents": "xt_deals_by_stage, xt_period",
        "owner": "bilal",
        "period_from": "2026-01-01",
    }
    with zipfile.ZipFile(path) as z:
        chart = z.read("xl/charts/chart1.xml").decode()
    # pivoted for the chart on the hidden "Chart data" sheet: title, header, 2 stages
    assert "'Chart data'!$A$3:$A$4" in chart and "'Chart data'!$B$3:$B$4" in chart


@pytest.mark.usefixtures("test_reports")
def test_bad_requests_fail_before_anything_is_written(ws, book, tmp_path):
    target = tmp_path / "x.xlsx"
    with pytest.raises(ValidationError) as caught:
        ws.export.xlsx(target, "contacts", "invoices", "xt_period")
    (error,) = caught.value.errors
    assert (error.field, error.value) == ("what", "invoices")
    assert "is not a layout, report or table" in error.reason
    assert "tables: contacts, opportunities, activities" in error.reason
    assert "xt_period" in error.reason and "sales_review" in error.reason
    with pytest.raises(ValidationError, match="'region' value 'north': is not a filter"):
        ws.export.xlsx(target, "xt_period", region="north")
    with pytest.raises(ValidationError, match="no such user"):
        ws.export.xlsx(target, "contacts", "xt_deals_by_stage", owner="nobody")
    assert not target.exists()


@pytest.mark.usefixtures("test_reports")
def test_a_user_layout_orders_and_titles_its_sheets(ws, book, tmp_path, monkeypatch):
    folder = tmp_path / "layouts"
    folder.mkdir()
    (folder / "sales_review.toml").write_text(
        """
title = "Weekly review"

[[sheets]]
report = "xt_period"
title = "Which period"
filters = { period_to = 2026-03-31 }

[[sheets]]
table = "opportunities"
segment = "Open deals"
title = "Open deals"

[[sheets]]
report = "xt_deals_by_stage"
""",
        encoding="utf-8",
    )
    monkeypatch.setenv(layouts.ENV_VAR, os.fspath(folder))
    ws.segments.create("Open deals", "opportunity", status="open")
    assert ws.export.layouts()["sales_review"] == "Weekly review"
    assert ws.export.tables() == ["contacts", "opportunities", "activities"]
    calls = []
    buffer = ws.export.xlsx(
        io.BytesIO(),
        period_from="2026-01-01",
        progress=lambda done, total, label: calls.append((done, total, label)),
    )  # no what: the sales_review layout, here the user's own
    wb = openpyxl.load_workbook(buffer)
    assert visible(wb) == ["Cover", "Which period", "Open deals", "Deals by stage"]
    assert rows_of(wb["Cover"])[0][0] == "Weekly review"
    assert rows_of(wb["Which period"])[1] == [dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 31)]
    assert [r["name"] for r in records(wb["Open deals"])] == ["towels", "uniforms"]
    assert cover_sheets(wb) == [
        ("Which period", "Which period", 1, "fixed filters: period_to=2026-03-31"),
        ("Open deals", "Open deals", 2, "segment: Open deals; filters not applied: period_from"),
        ("Deals by stage", "Deals by stage", 3, "filters not applied: period_from"),
    ]
    assert calls == [(1, 1, "Which period"), (2, 2, "Open deals"), (3, 3, "Deals by stage")]


def test_a_layout_naming_an_unknown_report_is_refused(ws, tmp_path, monkeypatch):
    folder = tmp_path / "layouts"
    folder.mkdir()
    (folder / "odd.toml").write_text(
        'title = "Odd"\n[[sheets]]\nreport = "no_such_report"\n', encoding="utf-8"
    )
    monkeypatch.setenv(layouts.ENV_VAR, os.fspath(folder))
    with pytest.raises(ValidationError, match=r"odd\.toml' sheet 1: field 'report'"):
        ws.export.xlsx(tmp_path / "x.xlsx", "odd")
    assert not (tmp_path / "x.xlsx").exists()


def test_a_big_table_streams_with_progress(sqlite_ws, tmp_path):
    """2,500 contacts: read in batches, progress at the end (fewer than 10,000 rows)."""
    from crm_core.models import Contact

    with sqlite_ws.transaction() as s:
        s.add_all(
            Contact(name=f"Contact {n:05d}", name_key=f"contact {n:05d}") for n in range(2500)
        )
    calls = []
    path = sqlite_ws.export.xlsx(
        tmp_path / "big.xlsx", "contacts", progress=lambda *a: calls.append(a)
    )
    assert calls == [(2500, 2500, "Contacts")]
    sheet = openpyxl.load_workbook(path, read_only=True)["Contacts"]
    names = [r[1] for r in sheet.iter_rows(min_row=3, values_only=True)]
    assert names == [f"Contact {n:05d}" for n in range(2500)]


def test_the_built_in_layouts_export(ws, book, tmp_path):
    """Every built-in layout makes a workbook with its sheets, in order (a smoke test:
    the reports' figures are checked by their own tests)."""
    for name in ("sales_review", "customers", "forecast"):
        layout = ws.export.layout(name)
        wb = openpyxl.load_workbook(ws.export.xlsx(io.BytesIO(), name, period_from="2026-01-01"))
        assert visible(wb) == ["Cover", *(s.title for s in layout.sheets)]
        assert rows_of(wb["Cover"])[0][0] == layout.title


def test_a_broken_user_layout_is_listed_with_its_errors(ws, tmp_path, monkeypatch):
    (tmp_path / "broken.toml").write_text('title = "B"\n', encoding="utf-8")
    monkeypatch.setenv(layouts.ENV_VAR, os.fspath(tmp_path))
    listed = ws.export.layouts()
    assert listed["broken"].startswith("(invalid: layout ")
    assert "field 'sheets'" in listed["broken"]
    assert listed["forecast"] == "Forecast"
