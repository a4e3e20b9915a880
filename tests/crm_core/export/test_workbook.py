"""WorkbookBuilder: workbooks read back with openpyxl (and, where openpyxl does not
look, as the XML inside the .xlsx): values, formats, the frozen header, autofilter,
widths, charts, the cover, the formula guard, sheet names and the row-limit split."""

from __future__ import annotations

import datetime as dt
import io
import math
import os
import re
import zipfile
from decimal import Decimal
from zoneinfo import ZoneInfo

import openpyxl
import pandas as pd
import pytest

from crm_core.export.workbook import EXCEL_MAX_ROWS, WorkbookBuilder, display_width
from crm_core.reports import Column
from crm_core.reports.labels import word

KARACHI = ZoneInfo("Asia/Karachi")  # UTC+5, no daylight saving
GENERATED = dt.datetime(2026, 5, 15, 9, 30, tzinfo=dt.UTC)


def build(target, tables, **options):
    """Write ``tables`` ([(title, columns, rows, extra kwargs)]) and return the
    builder."""
    options.setdefault("title", "Test book")
    options.setdefault("generated_at", GENERATED)
    with WorkbookBuilder(target, **options) as book:
        for title, columns, rows, extra in tables:
            book.add_table(title, columns, rows, **extra)
    return book


def sheet_xml(path, index):
    """The XML of the ``index``-th worksheet (1-based, the cover is 1)."""
    with zipfile.ZipFile(path) as z:
        return z.read(f"xl/worksheets/sheet{index}.xml").decode("utf-8")


def values(sheet):
    """The sheet's rows as a program reads them: on a table sheet the hidden row of
    column identifiers is the header and the row of titles (for people) is left out."""
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    if sheet.row_dimensions[1].hidden:
        return rows[:1] + rows[2:]
    return rows


def test_values_and_number_formats_follow_the_column_kinds(tmp_path):
    """Decimal -> number, None/NaN/inf -> blank, an aware datetime shown in the
    workbook's zone (09:30 UTC is 14:30 in Karachi), a naive one as it is."""
    path = tmp_path / "kinds.xlsx"
    columns = [
        Column("id", "int"),
        Column("name", "text"),
        Column("amount", "money"),
        Column("share", "percent"),
        Column("days", "number"),
        Column("day", "date"),
        Column("at", "datetime"),
    ]
    rows = [
        (
            1,
            "Indus",
            Decimal("1234567.50"),
            0.25,
            3.5,
            dt.date(2026, 5, 15),
            dt.datetime(2026, 5, 15, 9, 30, tzinfo=dt.UTC),
        ),
        (2, None, None, float("nan"), math.inf, None, dt.datetime(2026, 1, 2, 3, 4, 5)),
    ]
    build(path, [("Kinds", columns, rows, {})], timezone=KARACHI)
    sheet = openpyxl.load_workbook(path)["Kinds"]
    assert values(sheet) == [
        ["id", "name", "amount", "share", "days", "day", "at"],
        [
            1,
            "Indus",
            1234567.5,
            0.25,
            3.5,
            dt.datetime(2026, 5, 15),
            dt.datetime(2026, 5, 15, 14, 30),
        ],
        [2, None, None, None, None, None, dt.datetime(2026, 1, 2, 3, 4, 5)],
    ]
    formats = [cell.number_format for cell in sheet[3]]
    assert formats == [
        "0",
        "General",
        "#,##0.00",
        "0.0%",
        "#,##0.00",
        "yyyy-mm-dd",
        "yyyy-mm-dd hh:mm:ss",
    ]
    assert sheet["A3"].data_type == "n" and sheet["B3"].data_type == "s"


def test_header_is_bold_frozen_and_filtered_and_widths_fit_the_text(tmp_path):
    path = tmp_path / "layout.xlsx"
    long_text = "Pakistan Textile Exporters Association, Karachi Chapter"  # 55 characters
    columns = [Column("id", "int"), Column("note", "text"), Column("wide", "text")]
    rows = [
        (1, long_text, "漢字漢字漢字漢字漢字"),  # 10 wide characters: 20 cells
        (2, "x" * 200, "abc"),  # capped at 60
        (3, "short", "abcdefghij"),
    ]
    build(path, [("Layout", columns, rows, {})])
    sheet = openpyxl.load_workbook(path)["Layout"]
    assert [c.value for c in sheet[1]] == ["id", "note", "wide"]  # hidden, for programs
    assert sheet.row_dimensions[1].hidden
    assert [c.value for c in sheet[2]] == ["Id", "Note", "Wide"]  # the titles
    assert [c.font.b for c in sheet[2]] == [True, True, True]
    assert sheet.freeze_panes == "A3"
    assert sheet.auto_filter.ref == "A2:C5"
    widths = {k: d.width for k, d in sheet.column_dimensions.items()}
    # xlsxwriter stores width w as w + 0.7109375 (Excel's character padding)
    assert widths["B"] == pytest.approx(60.71, abs=0.01)
    assert widths["C"] == pytest.approx(20 + 1 + 0.71, abs=0.01)
    assert widths["A"] == pytest.approx(6.71, abs=0.01)  # "id" + filter button: the minimum


def test_display_width_counts_wide_characters_twice_and_marks_not_at_all():
    assert display_width("karachi") == 7
    assert display_width("Karachi") == pytest.approx(7.2)  # a capital is wider
    assert display_width("東京") == 4
    assert display_width("ＡＢ") == 4  # full-width Latin
    assert display_width("é") == 1  # e + combining acute
    assert display_width("line one\nlonger line two") == 15


def test_text_is_never_a_formula(tmp_path):
    path = tmp_path / "guard.xlsx"
    tricky = ["=SUM(A1)", "+1", "-x", "@x", '=HYPERLINK("http://x")', "<r>x</r>", "<r><t>y</t></r>"]
    build(path, [("Guard", [Column("value", "text")], [(t,) for t in tricky], {})])
    sheet = openpyxl.load_workbook(path)["Guard"]
    assert [row[0] for row in values(sheet)[1:]] == tricky
    assert all(sheet.cell(r, 1).data_type == "s" for r in range(2, len(tricky) + 2))
    xml = sheet_xml(path, 2)
    assert "<f>" not in xml and "<f " not in xml
    # escaped (as a two-run rich string), not copied into the XML as a rich-text run
    assert "<is><r>x</r></is>" not in xml and "r&gt;x&lt;/r&gt;" in xml


def test_sheet_names_are_cut_cleaned_and_unique_ignoring_case(tmp_path):
    path = tmp_path / "names.xlsx"
    column = [Column("n", "int")]
    titles = [
        "Pipeline by stage and owner per week 2026",  # 41 characters
        "Pipeline by stage and owner per week 2026",
        "report",
        "REPORT",
        "a/b:c[d]*e?f\\g",
        "cover",
        "'quoted'",
        "Продажи по месяцам",
        "فروخت",
        "বিক্রি",
        "விற்பனை",
    ]
    book = build(path, [(t, column, [(1,)], {}) for t in titles])
    expected = [
        "Cover",
        "Pipeline by stage and owner per",
        "Pipeline by stage and owner (2)",
        "report",
        "REPORT (2)",
        "abcdefg",
        "cover (2)",
        "quoted",
        "Продажи по месяцам",
        "فروخت",
        "বিক্রি",
        "விற்பனை",
    ]
    assert openpyxl.load_workbook(path).sheetnames == expected
    assert [s.name for s in book.sheets] == expected[1:]
    assert all(len(name) <= 31 for name in expected)


def test_unicode_text_round_trips(tmp_path):
    path = io.BytesIO()
    names = ["عمران خان", "রবীন্দ্রনাথ ঠাকুর", "தமிழ் செல்வி", "Анна Петрова", "Zoë\tMüller"]
    build(path, [("Names", [Column("name", "text")], [(n,) for n in names], {})])
    sheet = openpyxl.load_workbook(path)["Names"]
    assert [row[0] for row in values(sheet)[1:]] == names


def test_a_table_longer_than_a_sheet_continues_on_new_sheets(tmp_path):
    """With 6 rows a sheet (the two header rows included), 13 rows take 4 + 4 + 4 + 1."""
    path = tmp_path / "split.xlsx"
    columns = [Column("n", "int"), Column("label", "text")]
    rows = ((n, f"row {n}") for n in range(1, 14))
    book = build(
        path, [("Big", columns, rows, {}), ("Even", columns, [(1, "a")] * 8, {})], max_rows=6
    )
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["Cover", "Big", "Big (2)", "Big (3)", "Big (4)", "Even", "Even (2)"]
    assert values(wb["Big"]) == [["n", "label"]] + [[n, f"row {n}"] for n in range(1, 5)]
    assert values(wb["Big (3)"]) == [["n", "label"]] + [[n, f"row {n}"] for n in range(9, 13)]
    assert values(wb["Big (4)"]) == [["n", "label"], [13, "row 13"]]
    assert [wb[name].auto_filter.ref for name in ("Big", "Big (4)")] == ["A2:B6", "A2:B3"]
    assert wb["Big (4)"].freeze_panes == "A3"
    # exactly two sheets' worth: no empty third sheet
    assert len(values(wb["Even (2)"])) == 5
    assert [(s.name, s.rows) for s in book.sheets] == [
        ("Big", 4),
        ("Big (2)", 4),
        ("Big (3)", 4),
        ("Big (4)", 1),
        ("Even", 4),
        ("Even (2)", 4),
    ]


def test_the_cover_lists_title_parameters_time_and_sheets(tmp_path):
    path = tmp_path / "cover.xlsx"
    params = {"contents": "funnel, contacts", "period_from": dt.date(2026, 1, 1), "owner": "bilal"}
    columns = [Column("n", "int")]
    build(
        path,
        [
            ("Funnel", columns, [(1,), (2,)], {"note": "filters not applied: tag"}),
            ("Contacts", columns, [], {}),
        ],
        title="Sales review",
        parameters=params,
        timezone=KARACHI,
    )
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames[0] == "Cover"
    assert values(wb["Cover"]) == [
        ["Sales review", None, None, None],
        [None, None, None, None],
        ["Generated at", dt.datetime(2026, 5, 15, 14, 30), None, None],
        ["Time zone", "Asia/Karachi", None, None],
        [None, None, None, None],
        ["Parameter", "Value", None, None],
        ["contents", "funnel, contacts", None, None],
        ["period_from", "2026-01-01", None, None],
        ["owner", "bilal", None, None],
        [None, None, None, None],
        ["Sheet", "Title", "Rows", "Notes"],
        ["Funnel", "Funnel", 2, "filters not applied: tag"],
        ["Contacts", "Contacts", 0, None],
        [None, None, None, None],
        [word("identifiers"), None, None, None],
    ]
    assert wb["Cover"]["A12"].hyperlink.location == "'Funnel'!A1"
    # an empty table still has its header, filter and frozen pane
    assert values(wb["Contacts"]) == [["n"]]


def test_a_bytesio_target_and_the_progress_callback(tmp_path):
    buffer = io.BytesIO()
    calls = []
    columns = [Column("n", "int")]
    build(
        buffer,
        [
            ("Long", columns, ((n,) for n in range(25_000)), {"total_rows": 25_000}),
            ("Round", columns, ((n,) for n in range(20_000)), {}),
            ("Empty", columns, [], {}),
        ],
        progress=lambda done, total, label: calls.append((done, total, label)),
    )
    assert calls == [
        (10_000, 25_000, "Long"),
        (20_000, 25_000, "Long"),
        (25_000, 25_000, "Long"),
        (10_000, None, "Round"),
        (20_000, None, "Round"),
        (0, None, "Empty"),
    ]
    buffer.seek(0)
    wb = openpyxl.load_workbook(buffer, read_only=True)
    assert wb.sheetnames == ["Cover", "Long", "Round", "Empty"]
    assert wb["Long"].max_row == 25_002


def test_a_failed_build_writes_nothing(tmp_path):
    path = tmp_path / "broken.xlsx"

    def rows():
        yield (1,)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError), WorkbookBuilder(path, title="x") as book:
        book.add_table("T", [Column("n", "int")], rows())
    assert not path.exists()
    assert not book._scratch.folder.exists()
    assert list(tmp_path.iterdir()) == []  # no partial file beside it either


def test_a_failed_build_keeps_the_previous_workbook(tmp_path):
    path = tmp_path / "review.xlsx"
    with WorkbookBuilder(path, title="first") as book:
        book.add_table("T", [Column("n", "int")], [(1,), (2,)])
    before = path.read_bytes()

    def rows():
        yield (3,)
        raise RuntimeError("the database went away")

    with pytest.raises(RuntimeError), WorkbookBuilder(path, title="second") as book:
        book.add_table("T", [Column("n", "int")], rows())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["review.xlsx"]


def test_a_workbook_file_gets_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        with WorkbookBuilder(tmp_path / "shared.xlsx", title="x") as book:
            book.add_table("T", [Column("n", "int")], [(1,)])
    finally:
        os.umask(mask)
    assert (tmp_path / "shared.xlsx").stat().st_mode & 0o777 == 0o644


def test_add_frame_writes_the_declared_columns_with_blanks_for_missing_values(tmp_path):
    path = tmp_path / "frame.xlsx"
    frame = pd.DataFrame(
        {
            "extra": [1, 2],
            "when": [pd.Timestamp("2026-05-15 09:30", tz="UTC"), pd.NaT],
            "amount": [Decimal("10.50"), None],
            "rate": [0.5, float("nan")],
            "name": ["a", None],
        }
    )
    columns = [
        Column("name", "text"),
        Column("amount", "money"),
        Column("rate", "percent"),
        Column("when", "datetime"),
    ]
    with WorkbookBuilder(path, title="F", timezone=KARACHI) as book:
        book.add_frame("Frame", frame, columns)
    sheet = openpyxl.load_workbook(path)["Frame"]
    assert values(sheet) == [
        ["name", "amount", "rate", "when"],
        ["a", 10.5, 0.5, dt.datetime(2026, 5, 15, 14, 30)],
    ]
    # the second row is there, with no cell in it
    assert sheet.auto_filter.ref == "A2:D4"
    assert [(s.title, s.rows) for s in book.sheets] == [("Frame", 2)]


@pytest.mark.slow
def test_the_real_row_limit(tmp_path):
    """Excel's own limit: 1,048,576 rows a sheet, the two header rows included."""
    path = tmp_path / "million.xlsx"
    book = build(
        path, [("All", [Column("n", "int")], ((n,) for n in range(EXCEL_MAX_ROWS + 1)), {})]
    )
    assert [(s.name, s.rows) for s in book.sheets] == [("All", 1_048_574), ("All (2)", 3)]
    first, second = sheet_xml(path, 2), sheet_xml(path, 3)
    assert re.search(r'<dimension ref="A1:A1048576"/>', first)
    assert re.search(r'<dimension ref="A1:A5"/>', second)
    assert '<c r="A1048576"' in first and "<v>1048573</v>" in first
    assert "<v>1048574</v>" in second and "<v>1048576</v>" in second


def test_odd_values_are_written_as_well_as_they_can_be(tmp_path):
    """Values of unexpected types go cell by cell through the careful writers: text in
    a number column stays text, an aware datetime in a date column gives its day in the
    workbook's zone (20:00 UTC on 14 May is 15 May in Karachi), an ISO string becomes
    a date, dates before 1900-03-01 (which Excel cannot show right) become text, a
    plain date in a datetime column is its midnight."""
    path = tmp_path / "odd.xlsx"
    columns = [
        Column("amount", "money"),
        Column("day", "date"),
        Column("at", "datetime"),
        Column("label", "text"),
    ]
    rows = [
        ("n/a", dt.datetime(2026, 5, 14, 20, 0, tzinfo=dt.UTC), dt.date(2026, 5, 15), 42),
        (Decimal("2.50"), "2026-05-15", "not a time", Decimal("1.5")),
        (True, dt.date(1899, 12, 31), dt.datetime(1900, 1, 1, 12, 0), None),
        (7, pd.Timestamp("2026-05-15"), pd.Timestamp("2026-05-15 09:30"), "ok"),
    ]
    build(path, [("Odd", columns, rows, {})], timezone=KARACHI)
    sheet = openpyxl.load_workbook(path)["Odd"]
    assert values(sheet)[1:] == [
        ["n/a", dt.datetime(2026, 5, 15), dt.datetime(2026, 5, 15), "42"],
        [2.5, dt.datetime(2026, 5, 15), "not a time", "1.5"],
        [1, "1899-12-31", "1900-01-01 12:00:00", None],
        [7, dt.datetime(2026, 5, 15), dt.datetime(2026, 5, 15, 9, 30), "ok"],
    ]
