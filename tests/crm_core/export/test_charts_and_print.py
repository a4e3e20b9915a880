"""Workbooks for people, read back from the files: each chart's series and categories
from the chart XML (resolved against the hidden "Chart data" sheet), column titles in
the workbook's language over a hidden row of identifiers, booleans as booleans, widths
that fit Tamil and Bengali, right-to-left sheets for Urdu, and a print setup on every
sheet."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest
from openpyxl.utils import range_boundaries

from crm_core.export.workbook import WorkbookBuilder, display_width
from crm_core.models import Invoice
from crm_core.reports import Chart, Column

NS = {
    "c": "http://schemas.openxmlformats.org/drawingml/2006/chart",
    "a": "http://schemas.openxmlformats.org/drawingml/2006/main",
}


# -- reading charts back ----------------------------------------------------------------------
def _cells(wb, ref):
    """The values of a range like ``'Chart data'!$B$3:$B$6`` (or one cell)."""
    sheet, _bang, area = ref.rpartition("!")
    sheet = sheet.strip("'").replace("''", "'")
    min_col, min_row, max_col, max_row = range_boundaries(area.replace("$", ""))
    return [
        wb[sheet].cell(row=r, column=c).value
        for r in range(min_row, max_row + 1)
        for c in range(min_col, max_col + 1)
    ]


def charts_of(data: bytes) -> dict[str, dict]:
    """Chart title -> {"type", "categories", "series": {name: values}}, every chart of
    the workbook, read from xl/charts/chart*.xml and resolved against its cells."""
    from xml.etree import ElementTree as ET

    wb = openpyxl.load_workbook(io.BytesIO(data))
    out: dict[str, dict] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = sorted(n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n))
        for name in names:
            root = ET.fromstring(z.read(name))
            title = "".join(
                t.text or "" for t in root.find("c:chart/c:title", NS).iter(f"{{{NS['a']}}}t")
            )
            plot = root.find("c:chart/c:plotArea", NS)
            kind = next(child.tag.split("}")[1] for child in plot if child.tag.endswith("Chart"))
            direction = plot.find(".//c:barDir", NS)
            series: dict[str, list] = {}
            categories: list = []
            for ser in plot.iter(f"{{{NS['c']}}}ser"):
                label = _cells(wb, ser.find("c:tx/c:strRef/c:f", NS).text)[0]
                cat = ser.find("c:cat//c:f", NS).text
                categories = _cells(wb, cat)
                series[label] = _cells(wb, ser.find("c:val/c:numRef/c:f", NS).text)
            out[title] = {
                "type": kind if direction is None else f"{kind}:{direction.get('val')}",
                "categories": categories,
                "series": series,
            }
    return out


# -- a small business in two currencies ----------------------------------------------------------
@pytest.fixture
def two_currencies(ws):
    """PKR workspace; open deals: PKR 1,000,000 and USD 1,000 in New (10 %), PKR 500,000
    in Qualified (30 %). 1 PKR = 0.004 USD, so USD 1,000 is PKR 250,000."""
    ws.set_setting("currency", "PKR")
    ws.pipeline.create("Looms", expected_revenue="1000000", currency="PKR")
    ws.pipeline.create("Dyes", expected_revenue="1000", currency="USD")
    ws.pipeline.create("Yarn", stage="Qualified", expected_revenue="500000", currency="PKR")
    return ws


def test_the_pipeline_chart_is_drawn_on_converted_values_in_stage_order(two_currencies):
    ws = two_currencies
    ws.rates.set("USD", "2020-01-01", "0.004", base="PKR")
    data = ws.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    charts = charts_of(data)
    assert list(charts) == ["Pipeline value by stage (PKR)"]
    chart = charts["Pipeline value by stage (PKR)"]
    assert chart["type"] == "barChart:col"
    assert chart["categories"] == ["New", "Qualified", "Proposition", "Negotiation"]
    assert chart["series"] == {
        # 1,000,000 + 1,000 / 0.004 in New; 500,000 in Qualified
        "Value": [1_250_000, 500_000, 0, 0],
        "Weighted value": [125_000, 150_000, 0, 0],
    }


def test_without_a_rate_a_money_chart_is_drawn_once_per_currency(two_currencies):
    data = two_currencies.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    charts = charts_of(data)
    assert sorted(charts) == ["Pipeline value by stage (PKR)", "Pipeline value by stage (USD)"]
    assert charts["Pipeline value by stage (PKR)"]["series"]["Value"] == [1_000_000, 500_000, 0, 0]
    assert charts["Pipeline value by stage (USD)"]["series"]["Value"] == [1_000, 0, 0, 0]


def test_without_rates_a_ranking_or_many_currencies_is_left_out_saying_why():
    """One chart per currency reads for two currencies; a ranking split by currency is
    no ranking, and ten charts are not read: left out, the sheet's note says why."""
    columns = [Column("customer", "text"), Column("currency", "text"), Column("revenue", "money")]
    two = pd.DataFrame(
        [("A", "PKR", Decimal(900)), ("B", "USD", Decimal(5)), ("C", "PKR", Decimal(7))],
        columns=["customer", "currency", "revenue"],
    )
    ranking = Chart("bar", "customer", ("revenue",), "Revenue by customer", top=15)
    buffer = io.BytesIO()
    with WorkbookBuilder(buffer, title="T") as book:
        book.add_frame("Ranking", two, columns, ranking)
        book.add_frame("By stage", two, columns, Chart("column", "customer", ("revenue",), "S"))
        many = pd.DataFrame(
            [
                (f"c{n}", code, Decimal(n + 1))
                for n, code in enumerate(["PKR", "INR", "BDT", "LKR", "EUR"])
            ],
            columns=["customer", "currency", "revenue"],
        )
        book.add_frame("Many", many, columns, Chart("column", "customer", ("revenue",), "M"))
    assert sorted(charts_of(buffer.getvalue())) == ["S (PKR)", "S (USD)"]
    assert [s.note for s in book.sheets] == [
        "chart left out: Revenue by customer: amounts in 2 currencies, and exchange rates"
        " missing: one chart needs them",
        "",
        "chart left out: M: amounts in 5 currencies, and exchange rates missing: one chart"
        " needs them",
    ]


def frame_book(frame, columns, chart, **options):
    buffer = io.BytesIO()
    with WorkbookBuilder(buffer, title="T", **options) as book:
        book.add_frame("Sheet", frame, columns, chart, report=options.pop("report", None))
    return buffer.getvalue()


def test_revenue_by_month_draws_actuals_and_each_method_as_lines():
    """One row per month and method; the pivot gives one line each, with gaps where a
    line has no month (history ends where the forecasts begin)."""
    columns = [
        Column("month", "text"),
        Column("currency", "text"),
        Column("method", "text"),
        Column("revenue", "money"),
    ]
    rows = [
        ("2026-01", "EUR", "actual", Decimal("100")),
        ("2026-02", "EUR", "actual", Decimal("120")),
        ("2026-03", "EUR", "naive", Decimal("120")),
        ("2026-03", "EUR", "linear_trend", Decimal("140")),
    ]
    frame = pd.DataFrame(rows, columns=[c.name for c in columns])
    chart = Chart("line", "month", ("revenue",), "Revenue by month", series="method")
    charts = charts_of(frame_book(frame, columns, chart))
    assert charts == {
        "Revenue by month (EUR)": {
            "type": "lineChart",
            "categories": ["2026-01", "2026-02", "2026-03"],
            "series": {
                "Actual": [100, 120, None],
                "Last month's figure": [None, None, 120],
                "Linear trend": [None, None, 140],
            },
        }
    }


def test_the_backtest_draws_actual_once_against_each_method():
    columns = [
        Column("currency", "text"),
        Column("month", "text"),
        Column("method", "text"),
        Column("forecast", "money"),
        Column("actual", "money"),
    ]
    rows = [
        ("EUR", "2026-01", "naive", 90, 100),
        ("EUR", "2026-01", "seasonal_naive", 80, 100),
        ("EUR", "2026-02", "naive", 100, 130),
        ("EUR", "2026-02", "seasonal_naive", 125, 130),
    ]
    frame = pd.DataFrame(rows, columns=[c.name for c in columns])
    chart = Chart("line", "month", ("forecast",), "Backtest", series="method", common=("actual",))
    got = charts_of(frame_book(frame, columns, chart))["Backtest (EUR)"]
    assert got["series"] == {
        "Last month's figure": [90, 100],
        "Same month last year": [80, 125],
        "Actual": [100, 130],  # once, not added up over the methods' rows
    }


def test_top_categories_and_other_and_an_unreadable_chart_left_out():
    columns = [Column("customer", "text"), Column("deals", "int")]
    frame = pd.DataFrame(
        [("A", 5), ("B", 9), ("C", 1), ("D", 7), ("E", 2)], columns=["customer", "deals"]
    )
    chart = Chart("bar", "customer", ("deals",), "Deals", top=3)
    got = charts_of(frame_book(frame, columns, chart))
    # the three largest first, the other two added up: 1 + 2
    assert got["Deals\nthe 3 largest of 5; the rest as “Other”"] == {
        "type": "barChart:bar",
        "categories": ["B", "D", "A", "Other"],
        "series": {"Open deals": [9, 7, 5, 3]},
    }
    many = pd.DataFrame([(f"c{n}", n + 1) for n in range(50)], columns=["customer", "deals"])
    buffer = io.BytesIO()
    with WorkbookBuilder(buffer, title="T") as book:
        book.add_frame("Many", many, columns, Chart("column", "customer", ("deals",), "Many"))
        book.add_frame(
            "Zeros", frame.assign(deals=0), columns, Chart("column", "customer", ("deals",), "Z")
        )
    assert charts_of(buffer.getvalue()) == {}
    assert [s.note for s in book.sheets] == [
        "chart left out: Many: 50 categories, too many to read",
        "chart left out: Z: nothing to draw",
    ]


# -- titles, identifiers, booleans, widths -------------------------------------------------------
def test_titles_in_the_workspace_language_over_hidden_identifiers(two_currencies):
    ws = two_currencies
    data = ws.export.xlsx(io.BytesIO(), "pipeline_by_stage", language="ur").getvalue()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    sheet = wb["مرحلہ وار پائپ لائن"]  # "Pipeline by stage"
    ids = [c.value for c in sheet[1]]
    titles = [c.value for c in sheet[2]]
    assert ids[:7] == [
        "pipeline",
        "stage",
        "sequence",
        "currency",
        "count",
        "value",
        "weighted_value",
    ]
    assert sheet.row_dimensions[1].hidden
    assert titles[:7] == [
        "پائپ لائن",
        "مرحلہ",
        "ترتیب",
        "کرنسی",
        "کھلے سودے",
        "مالیت",
        "وزنی مالیت",
    ]
    assert titles[ids.index("value_converted")] == "مالیت (PKR)"
    english = openpyxl.load_workbook(ws.export.xlsx(io.BytesIO(), "pipeline_by_stage"))
    titles = [c.value for c in english["Pipeline by stage"][2]]
    assert titles[:7] == [
        "Pipeline",
        "Stage",
        "Order",
        "Currency",
        "Open deals",
        "Value",
        "Weighted value",
    ]
    assert "age_90_plus" not in titles and "weighted_value" not in titles
    # what the cover tells programs: the identifiers are the header with skiprows=[1]
    read = pd.read_excel(
        ws.export.xlsx(io.BytesIO(), "pipeline_by_stage"), "Pipeline by stage", skiprows=[1]
    )
    assert list(read.columns) == ws.reports.spec("pipeline_by_stage").column_names
    assert read["stage"].tolist()[:4] == ["New", "New", "Qualified", "Qualified"]


def test_the_user_language_is_the_default_and_rtl_sheets_for_urdu(two_currencies):
    ws = two_currencies
    ws.users.add("Bilal", "bilal", role="manager", password="long-enough-pass")
    ws.users.set_language("bilal", "ur")
    wb = openpyxl.load_workbook(ws.as_user("bilal").export.xlsx(io.BytesIO(), "pipeline_by_stage"))
    assert [s.sheet_view.rightToLeft for s in wb.worksheets] == [True, True, True]
    assert wb.worksheets[0]["A3"].value == "تیاری کا وقت"  # "Generated at"
    assert wb.sheetnames[0] == "سرورق"  # the cover, in the reader's language too
    wb = openpyxl.load_workbook(ws.export.xlsx(io.BytesIO(), "pipeline_by_stage", language="bn"))
    assert not any(s.sheet_view.rightToLeft for s in wb.worksheets)
    assert wb["ধাপ অনুযায়ী পাইপলাইন"]["B2"].value == "ধাপ"


def test_booleans_are_booleans(ws):
    ws.contacts.create(name="Imran Khan")
    wb = openpyxl.load_workbook(ws.export.xlsx(io.BytesIO(), "contacts"))
    sheet = wb["Contacts"]
    ids = [c.value for c in sheet[1]]
    cell = sheet.cell(row=3, column=ids.index("active") + 1)
    assert cell.value is True and cell.data_type == "b"
    # LibreOffice prints a boolean as 1/0 unless its format names TRUE and FALSE
    assert cell.number_format == '"TRUE";"TRUE";"FALSE"'


def test_widths_fit_tamil_and_bengali_wider_than_latin():
    """Measured by script, not by len(): Tamil letters are drawn wider than Latin ones."""
    latin, tamil, bengali = "Selvi Kumar", "தமிழ் செல்வி", "রবীন্দ্রনাথ"
    assert (
        display_width(tamil)
        > len([c for c in tamil if c.isalpha()]) * 1.4
        > display_width(latin) / 2
    )
    buffer = io.BytesIO()
    columns = [Column("latin", "text"), Column("tamil", "text"), Column("bengali", "text")]
    with WorkbookBuilder(buffer, title="W") as book:
        book.add_table("W", columns, [(latin * 2, tamil * 2, bengali * 2)])
    widths = openpyxl.load_workbook(buffer)["W"].column_dimensions
    # 22 Latin letters, 24 Tamil code points (8 of them marks drawn on a letter)
    assert widths["B"].width > widths["A"].width
    # (xlsxwriter keeps widths to whole pixels)
    assert widths["B"].width == pytest.approx(display_width(tamil * 2) + 1 + 0.71, abs=0.1)
    assert widths["C"].width == pytest.approx(display_width(bengali * 2) + 1 + 0.71, abs=0.1)


# -- print ---------------------------------------------------------------------------------------
def test_every_sheet_has_a_print_setup(two_currencies):
    ws = two_currencies
    buffer = ws.export.xlsx(io.BytesIO(), "sales_review")
    wb = openpyxl.load_workbook(buffer)
    shown = [s for s in wb.worksheets if s.sheet_state == "visible"]
    assert [s.title for s in shown] == [
        "Cover",
        "Pipeline by stage",
        "Funnel",
        "Stage velocity",
        "Wins and losses",
        "Workload",
        "Campaigns",
    ]
    for sheet in shown:
        setup = sheet.page_setup
        assert sheet.sheet_properties.pageSetUpPr.fitToPage, sheet.title
        # one page wide (a table wider than WIDE_PRINT_WIDTH characters prints several
        # pages wide: see the test of sales_per_customer below)
        assert setup.fitToWidth in (None, 1), sheet.title
        assert setup.fitToHeight == 0, sheet.title
        assert setup.pageOrder is None, sheet.title
        left, right = sheet.oddFooter.left.text, sheet.oddFooter.right.text
        assert right == "Page &P of &N", sheet.title
        assert left == ("Sales review" if sheet.title == "Cover" else sheet.title)
        if sheet.title != "Cover":
            assert sheet.print_title_rows == "$1:$2", sheet.title
    # wide tables landscape, narrow ones and the cover portrait
    orientation = {s.title: s.page_setup.orientation for s in shown}
    assert orientation["Pipeline by stage"] == "landscape"
    assert orientation["Workload"] == "landscape"
    assert orientation["Stage velocity"] in (None, "portrait")  # its titles wrap
    assert orientation["Cover"] in (None, "portrait")
    # with charts beside it, the print area is a range for the table and one per
    # chart, each printed on pages of its own (a page break never cuts a chart): the
    # table (4 stages x 2 currencies and the two header rows, 10 columns), then the two
    # charts (PKR and USD, no rate) from column L, 560 px wide (9 default columns) and
    # 20 rows high each
    assert wb["Pipeline by stage"].print_area == (
        "'Pipeline by stage'!$A$1:$J$10,'Pipeline by stage'!$L$2:$U$21,"
        "'Pipeline by stage'!$L$22:$U$41"
    )
    with zipfile.ZipFile(buffer) as z:
        xml = z.read("xl/worksheets/sheet2.xml").decode()
    assert '<pageSetUpPr fitToPage="1"/>' in xml  # fitToWidth left at its default, 1
    assert '<pageSetup fitToHeight="0" orientation="landscape"/>' in xml


def test_a_footer_keeps_an_ampersand_as_text():
    buffer = io.BytesIO()
    with WorkbookBuilder(buffer, title="T") as book:
        book.add_table("Profit & loss", [Column("n", "int")], [(1,)])
    sheet = openpyxl.load_workbook(buffer)["Profit & loss"]
    assert sheet.oddFooter.left.text == "Profit && loss"
    assert sheet.page_setup.orientation in (None, "portrait")


def test_dates_still_come_out_as_dates(two_currencies):
    """The header rows moved the data down by one row; dates stay dates."""
    buffer = io.BytesIO()
    columns = [Column("day", "date")]
    with WorkbookBuilder(buffer, title="T") as book:
        book.add_table("D", columns, [(dt.date(2026, 5, 15),)])
    assert openpyxl.load_workbook(buffer)["D"]["A3"].value == dt.datetime(2026, 5, 15)


def test_a_table_printed_several_pages_wide_has_its_charts_on_a_sheet_of_their_own(ws):
    """Sales per customer prints several pages wide with the customer's name repeated
    on each page; its chart cannot sit beside it (the repeated column would print over
    the chart), so it is on the next sheet, printed on a page of its own."""
    ws.set_setting("currency", "PKR")
    for n, (name, untaxed) in enumerate([("Indus Textiles", "900000"), ("Kazan Home", "300")]):
        company = ws.companies.create(name=name)["id"]
        with ws.transaction() as s:
            s.add(
                Invoice(
                    backend="b",
                    remote_id=n + 1,
                    move_type="out_invoice",
                    state="posted",
                    company_id=company,
                    currency="PKR",
                    amount_untaxed=Decimal(untaxed),
                    amount_total=Decimal(untaxed),
                    amount_residual=Decimal(0),
                    invoice_date=dt.date(2026, 5, 1),
                )
            )
    data = ws.export.xlsx(io.BytesIO(), "sales_per_customer").getvalue()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    shown = [s.title for s in wb.worksheets if s.sheet_state == "visible"]
    assert shown == ["Cover", "Sales per customer", "Sales per customer (charts)"]
    table, charts = wb["Sales per customer"], wb["Sales per customer (charts)"]
    assert table.page_setup.fitToWidth > 1 and table.page_setup.pageOrder == "overThenDown"
    assert table.print_title_cols == "$A:$A" and table.print_title_rows == "$1:$2"
    assert table._charts == []
    assert [c.anchor._from.col for c in charts._charts] == [0]
    assert charts.page_setup.orientation == "landscape"
    assert charts.oddFooter.left.text == "Sales per customer"
    assert charts.print_area == "'Sales per customer (charts)'!$A$2:$M$19"
    [chart] = charts_of(data).values()
    assert chart["categories"] == ["Indus Textiles", "Kazan Home"]
    cover = [[c.value for c in row] for row in wb["Cover"].iter_rows()]
    listed = [r for r in cover if r[0] == "Sales per customer (charts)"]
    assert listed == [
        [
            "Sales per customer (charts)",
            "Sales per customer",
            None,
            "the charts of the table before: it prints several pages wide, its first column"
            " on each",
        ]
    ]


def test_long_text_wraps_within_its_column_and_the_row_grows():
    """A verdict longer than the widest column wraps there (it used to overflow to the
    right and widen what printed, shrinking the whole sheet), its row tall enough."""
    verdict = "not scored: the journal holds the deals' history from 2026-12-05 only; " * 3
    buffer = io.BytesIO()
    with WorkbookBuilder(buffer, title="T") as book:
        book.add_table(
            "Backtest",
            [Column("method", "text"), Column("verdict", "text")],
            [("naive", "short"), ("pipeline", verdict), ("x", 7)],
        )
    sheet = openpyxl.load_workbook(buffer)["Backtest"]
    assert sheet.column_dimensions["B"].width == pytest.approx(60.71, abs=0.01)
    assert [sheet.cell(row=r, column=2).alignment.wrap_text for r in (3, 4, 5)] == [True] * 3
    assert sheet.cell(row=3, column=1).alignment.wrap_text is not True
    # 213 characters in a 60-character column: four lines of 15 points
    assert [sheet.row_dimensions[r].height for r in (3, 4, 5)] == [None, 60, None]
