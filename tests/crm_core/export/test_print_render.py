"""How workbooks print, read back from LibreOffice's PDF: a sheet's charts are printed
(on pages after its table), and a very wide table prints on several pages wide, large
enough to read, rather than shrunk onto one."""

from __future__ import annotations

import io
import math

import openpyxl
import pytest
from PIL import Image

from crm_core.export.workbook import PAGE_WIDTH, WorkbookBuilder
from crm_core.reports import Column
from tests.crm_core.export.render import pdf_pages, pdf_png, pdf_text, to_pdf


@pytest.fixture
def pipeline(ws):
    ws.set_setting("currency", "PKR")
    for n, stage in enumerate(["New", "Qualified", "Proposition"] * 4):
        ws.pipeline.create(f"Deal {n}", stage=stage, expected_revenue=str(1000 * (n + 1)))
    return ws


def _bar_pixels(png) -> int:
    """Pixels of the charts' first series colour (xlsxwriter's default blue)."""
    image = Image.open(png).convert("RGB")
    colours = image.getcolors(image.width * image.height) or []
    return sum(n for n, (r, g, b) in colours if b > 150 and r < 120 and g < 160)


def test_a_sheets_charts_are_printed_after_its_table(pipeline, tmp_path):
    data = pipeline.export.xlsx(io.BytesIO(), "pipeline_by_stage").getvalue()
    pdf = to_pdf(data, tmp_path, "pipeline")
    assert pdf_pages(pdf) == 3  # the cover, the table, the chart
    table = pdf_text_of(pdf, 2)
    assert "Weighted value" in table and "Pipeline value by stage" not in table
    chart = pdf_text_of(pdf, 3)
    assert "Pipeline value by stage (PKR)" in chart
    assert "Page 3 of 3" in chart
    # the bars are drawn on the chart's page (blue), none on the table's
    assert _bar_pixels(pdf_png(pdf, 3)) > 1000
    assert _bar_pixels(pdf_png(pdf, 2)) == 0


def pdf_text_of(pdf, page: int) -> str:
    import subprocess

    out = subprocess.run(
        ["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode()


WIDE = [Column("customer", "text")] + [Column(f"figure_{n:02d}", "money") for n in range(23)]


def _wide_book(rows: int) -> bytes:
    out = io.BytesIO()
    with WorkbookBuilder(out, title="Wide") as book:
        book.add_table(
            "Wide",
            WIDE,
            [
                (f"Customer {r:03d}", *(1_000_000 + r * 1000 + c for c in range(23)))
                for r in range(rows)
            ],
        )
    return out.getvalue()


def test_a_very_wide_table_prints_across_pages_with_its_names_repeated(tmp_path):
    data = _wide_book(30)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Wide"]
    widths = [sheet.column_dimensions[c.column_letter].width for c in sheet[1]]
    pages_wide = math.ceil((sum(widths) - widths[0]) / (PAGE_WIDTH - widths[0]))
    assert pages_wide > 1
    assert sheet.page_setup.fitToWidth == pages_wide and sheet.page_setup.fitToHeight == 0
    assert sheet.page_setup.pageOrder == "overThenDown"
    assert sheet.print_title_cols == "$A:$A" and sheet.print_title_rows == "$1:$2"
    assert sheet.page_setup.orientation == "landscape"
    pdf = to_pdf(data, tmp_path, "wide")
    assert pdf_pages(pdf) == 1 + pages_wide  # the cover, then one band of 30 rows
    text = pdf_text(pdf)
    # every page of the band names its rows, and the last figure column is printed
    for page in range(2, 2 + pages_wide):
        assert "Customer 029" in pdf_text_of(pdf, page), page
    assert "1,029,022.00" in text


def test_sales_per_customer_prints_on_pages_side_by_side(ws):
    data = ws.export.xlsx(io.BytesIO(), "sales_per_customer").getvalue()
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Sales per customer"]
    assert sheet.max_column == 22
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.page_setup.fitToWidth >= 2  # not 22 columns shrunk onto one page
    assert sheet.page_setup.pageOrder == "overThenDown"
