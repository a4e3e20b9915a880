"""Amounts in workbooks: each currency's own decimals (KWD 3, JPY none) and the
workspace's grouping (``amount_grouping``: lakh/crore for indian, or auto with INR, PKR,
BDT, NPR), read back from the cells' number formats and from LibreOffice's print."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pandas as pd
import pytest

from crm_core.errors import ValidationError
from crm_core.export.amounts import AmountFormats
from crm_core.export.workbook import WorkbookBuilder
from crm_core.reports import Column
from tests.crm_core.export.render import pdf_text, to_pdf

D = Decimal
LAKH_POSITIVE = r"[>=9999999.995]##\,##\,##\,##0.00;[>=99999.995]##\,##\,##0.00;##,##0.00"


def test_the_format_follows_the_currency_and_the_grouping():
    western = AmountFormats("western")
    assert western.code(1234567.5, "PKR") == "#,##0.00"
    assert western.code(1.235, "KWD") == "#,##0.000"
    assert western.code(1500, "JPY") == "#,##0"
    assert western.code(1, None) == "#,##0.00"
    indian = AmountFormats("indian")
    assert indian.code(1234567, "INR") == LAKH_POSITIVE
    assert indian.code(-1234567, "INR") == r"##\,##\,##0.00;-##\,##\,##0.00"
    assert indian.code(-12345, "INR") == "#,##0.00"
    assert indian.code(1.5, "KWD").endswith(";##,##0.000")
    # auto: lakh/crore for the currencies written so, western for the others (en)
    auto = AmountFormats("auto", "en")
    assert auto.code(1234567, "PKR") == LAKH_POSITIVE
    assert auto.code(1234567, "EUR") == "#,##0.00"
    # locale: the workbook language's own grouping (Bengali groups in lakh/crore)
    assert AmountFormats("locale", "bn").code(1234567, "EUR") == LAKH_POSITIVE
    assert AmountFormats("locale", "ru").code(1234567, "RUB") == "#,##0.00"
    with pytest.raises(ValidationError, match="locale, western, indian or auto"):
        AmountFormats("chinese")


COLUMNS = [Column("customer", "text"), Column("currency", "text"), Column("amount", "money")]
ROWS = [
    ("Lahore Looms", "INR", D("1234567")),
    ("Refund", "INR", D("-1234567")),
    ("Big", "INR", D("123456789.5")),
    ("Small", "INR", D("12345.5")),
    ("Kuwait", "KWD", D("1.235")),
    ("Osaka", "JPY", D("1500")),
]


def _book(grouping: str) -> bytes:
    out = io.BytesIO()
    with WorkbookBuilder(out, title="Amounts", grouping=grouping) as book:
        book.add_frame("Amounts", pd.DataFrame(ROWS, columns=[c.name for c in COLUMNS]), COLUMNS)
    return out.getvalue()


def test_cells_carry_their_rows_currency_format():
    sheet = openpyxl.load_workbook(io.BytesIO(_book("western")))["Amounts"]
    formats = {sheet.cell(r, 1).value: sheet.cell(r, 3).number_format for r in range(3, 9)}
    assert formats == {
        "Lahore Looms": "#,##0.00",
        "Refund": "#,##0.00",
        "Big": "#,##0.00",
        "Small": "#,##0.00",
        "Kuwait": "#,##0.000",
        "Osaka": "#,##0",
    }


def test_libreoffice_prints_lakh_and_crore_with_either_sign(tmp_path):
    text = pdf_text(to_pdf(_book("auto"), tmp_path, "indian"))
    for shown in ("12,34,567.00", "-12,34,567.00", "12,34,56,789.50", "12,345.50"):
        assert shown in text, f"{shown} not printed:\n{text}"
    assert "1.235" in text and "1,500" in text  # KWD (western: auto) and JPY
    assert "1,234,567.00" not in text
    western = pdf_text(to_pdf(_book("western"), tmp_path, "western"))
    for shown in ("1,234,567.00", "-1,234,567.00", "123,456,789.50", "1.235"):
        assert shown in western
    assert "12,34,567.00" not in western


@pytest.fixture
def kwd_and_pkr(ws):
    ws.set_setting("currency", "PKR")
    ws.pipeline.create("Kuwait fit-out", expected_revenue="1234.567", currency="KWD")
    ws.pipeline.create("Lahore looms", expected_revenue="1234567.50", currency="PKR")
    ws.rates.set("KWD", "2020-01-01", "0.0011", base="PKR")
    return ws


def test_a_report_shows_kwd_with_three_decimals_and_pkr_as_the_workspace_groups(kwd_and_pkr):
    ws = kwd_and_pkr
    ws.set_setting("amount_grouping", "auto")
    data = ws.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Pipeline by stage"]
    names = [c.value for c in sheet[1]]
    col = {n: i + 1 for i, n in enumerate(names)}
    rows = [r for r in range(3, sheet.max_row + 1) if sheet.cell(r, col["count"]).value]
    got = {
        sheet.cell(r, col["currency"]).value: (
            sheet.cell(r, col["value"]).value,
            sheet.cell(r, col["value"]).number_format,
            sheet.cell(r, col["value_converted"]).number_format,
        )
        for r in rows
    }
    assert got == {
        "KWD": (1234.567, "#,##0.000", LAKH_POSITIVE),  # converted: PKR, lakh/crore
        "PKR": (1234567.5, LAKH_POSITIVE, LAKH_POSITIVE),
    }


def test_the_deals_table_prints_kwd_with_three_decimals(kwd_and_pkr, tmp_path):
    ws = kwd_and_pkr
    ws.set_setting("amount_grouping", "indian")
    data = ws.export.xlsx(io.BytesIO(), "opportunities").getvalue()
    text = pdf_text(to_pdf(data, tmp_path, "deals"))
    assert "1,234.567" in text
    assert "12,34,567.50" in text


def _axis_formats(data: bytes) -> list[str]:
    """The value axes' number formats of every chart in the workbook."""
    import html
    import re
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        charts = [n for n in z.namelist() if re.fullmatch(r"xl/charts/chart\d+\.xml", n)]
        return [
            html.unescape(fmt)
            for name in sorted(charts)
            for fmt in re.findall(r'<c:valAx>.*?formatCode="([^"]*)"', z.read(name).decode())
        ]


def test_a_money_charts_axis_is_grouped_as_the_cells(kwd_and_pkr):
    ws = kwd_and_pkr
    ws.set_setting("amount_grouping", "auto")  # PKR: lakh/crore
    data = ws.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    assert _axis_formats(data) == [r"[>=9999999.5]##\,##\,##\,##0;[>=99999.5]##\,##\,##0;##,##0"]
    ws.set_setting("amount_grouping", "western")
    data = ws.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    assert _axis_formats(data) == ["#,##0"]
