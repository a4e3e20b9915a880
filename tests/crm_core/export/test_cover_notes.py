"""The cover's notes wrap within their column (a tester's Urdu cover was cut at the
page's edge, the English one printed tiny) and are written in the workbook's language
(they stayed English in an Urdu workbook); codes and dates stay as they are."""

from __future__ import annotations

import openpyxl
import pytest

from crm_core.export.workbook import COVER_NOTES_WIDTH, LINE_HEIGHT

NOT_CONVERTED = {
    "en": "not converted: no rate for PKR on or before 2026-02-15 (to USD)",
    "ur": "تبدیل نہیں کیا گیا: PKR (2026-02-15 یا اس سے پہلے) کی شرحِ تبادلہ موجود نہیں (USD میں)",
    "ru": "не пересчитано: нет курса для PKR на 2026-02-15 или раньше (в USD)",
    "bn": "রূপান্তর করা হয়নি: PKR (2026-02-15 বা তার আগে)-এর বিনিময় হার নেই (USD-এ)",
}


@pytest.fixture
def unconverted(ws):
    """A PKR deal closing 2026-02-15 and no PKR rate: the reports cannot convert it."""
    ws.set_setting("currency", "USD")
    ws.pipeline.ensure_default()
    ws.pipeline.create(
        "Looms", expected_revenue="2800000", currency="PKR", expected_close="2026-02-15"
    )
    return ws


def _notes(path) -> dict[str, tuple[str, bool, float | None]]:
    """Sheet title -> (note, wrapped, row height) from the cover."""
    cover = openpyxl.load_workbook(path).worksheets[0]
    out = {}
    for row in cover.iter_rows():
        note = row[3].value if len(row) > 3 else None
        if note and isinstance(row[2].value, int):
            height = cover.row_dimensions[row[0].row].height
            out[row[1].value] = (note, bool(row[3].alignment.wrap_text), height)
    return out


@pytest.mark.parametrize("language", sorted(NOT_CONVERTED))
def test_the_notes_are_in_the_workbooks_language_and_wrap(unconverted, tmp_path, language):
    path = tmp_path / f"{language}.xlsx"
    unconverted.export.xlsx(path, "pipeline_by_stage", language=language)
    [(note, wrapped, height)] = [v for v in _notes(path).values()]
    assert note.startswith(NOT_CONVERTED[language]), note
    assert wrapped
    lines = -(-len(note) // (COVER_NOTES_WIDTH - 2))  # as many lines as it takes
    assert height == LINE_HEIGHT * lines and lines > 1
    assert openpyxl.load_workbook(path).worksheets[0].column_dimensions["D"].width <= 60


def test_the_words_of_every_language_keep_codes_and_dates(unconverted, tmp_path):
    for language in ("sd", "ta"):
        path = tmp_path / f"{language}.xlsx"
        unconverted.export.xlsx(path, "pipeline_by_stage", language=language)
        [(note, _, _)] = _notes(path).values()
        assert "not converted" not in note and "no rate" not in note
        assert "PKR" in note and "2026-02-15" in note and "USD" in note


def test_a_campaigns_roi_left_out_is_noted(ws, tmp_path):
    ws.users.add("Sales One", "s1", role="sales")
    ws.users.add("Sales Two", "s2", role="sales")
    fair = ws.campaigns.create("Fair", starts_on="2026-03-01", cost="100", currency="USD")
    ws.pipeline.ensure_default()
    won = ws.pipeline.create("Looms", owner="s2", expected_revenue="200", campaign=fair["id"])
    ws.pipeline.win(won["id"])
    path = tmp_path / "c.xlsx"
    ws.export.xlsx(path, "campaign_results", owner="s1", language="ru")
    [(note, _, _)] = _notes(path).values()
    assert note == (
        "ROI не рассчитан для Fair: в этом представлении нет части их выигранных сделок"
    )
