"""What a report leaves out is said beside it, in the reader's language, the same on
every front: a forecast method without the history it needs and a campaign's ROI a
narrowed view cannot give were noted only in the frame's attrs (the staff app's
Reports page showed empty forecast rows and an empty ROI without a word; the command
line and the workbook said nothing of the methods). Today is 2026-05-15 (the clock)."""

from __future__ import annotations

import openpyxl
import pytest
from typer.testing import CliRunner

from crm_core.cli import app
from crm_core.reports.notes import left_out
from tests.crm_core.reports.test_forecast_history_start import add_invoices

TWO_MONTHS = [
    "3-month average not forecast: it needs 3 months of history and the history has 2",
    "Same month last year not forecast: it needs 12 months of history and the history has 2",
]


@pytest.fixture
def two_months(ws):
    """Invoices in March and April 2026: two months of history."""
    ws.set_setting("currency", "PKR")
    looms = ws.companies.create(name="Looms")["id"]
    add_invoices(ws, looms, [("2026-03-03", "1000"), ("2026-04-03", "2000")])
    return ws


def test_each_method_left_out_is_named_with_what_it_needs(two_months):
    frame = two_months.reports.revenue_forecast()
    notes = left_out(frame)
    assert len(notes) == len(frame.attrs["not_forecast"]) == 4
    assert set(TWO_MONTHS) <= set(notes)
    urdu = left_out(frame, "ur")
    assert any("12 ماہ" in n and "2 ماہ" in n for n in urdu), urdu


def test_no_invoice_and_missing_rates_are_one_note_each(ws):
    ws.set_setting("currency", "USD")
    assert left_out(ws.reports.revenue_forecast()) == ["no forecast: there is no invoice yet"]
    looms = ws.companies.create(name="Looms")["id"]
    add_invoices(ws, looms, [("2026-03-03", "1000")], currency="PKR")
    assert left_out(ws.reports.revenue_forecast()) == [
        "no forecast: exchange rates are missing for part of the history"
    ]


def test_a_report_that_leaves_nothing_out_has_no_note(ws):
    ws.pipeline.ensure_default()
    assert left_out(ws.reports.pipeline_by_stage()) == []


def test_the_command_line_and_the_workbook_say_it(two_months, backend, tmp_path):
    # the command's clock is the machine's: its history runs from March 2026 to the
    # month before today, fewer than the 12 months a seasonal forecast needs
    result = CliRunner().invoke(app, ["report", "revenue_forecast", "-w", str(backend)])
    assert result.exit_code == 0, result.output
    assert (
        "note: Same month last year not forecast: it needs 12 months of history and the history has"
    ) in " ".join(result.output.split()), result.output

    path = tmp_path / "f.xlsx"
    two_months.export.xlsx(path, "revenue_forecast", language="ru")
    cover = openpyxl.load_workbook(path).worksheets[0]
    texts = " ".join(str(c.value) for row in cover.iter_rows() for c in row if c.value)
    assert "нужно 12 мес. истории, а в истории 2" in texts, texts
