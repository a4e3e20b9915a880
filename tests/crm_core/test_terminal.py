"""No control character, bidirectional override or rich markup from data reaches the
terminal raw: tables, report cells, titles and error lines show them as escapes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

import crm_core
from crm_core.cli import app
from crm_core.terminal import cell, markup, printable

runner = CliRunner()

# Clears the screen, sets the window title, rings the bell, turns text red, reverses
# the line, and carries rich markup.
EVIL = "Imran\x1b[2J\x1b]0;pwned\x07 Khan\u202eevil\x85 [red]boss[/red]\ttab\nline"
SHOWN = "Imran\\x1b[2J\\x1b]0;pwned\\x07 Khan\\u202eevil\\x85 [red]boss[/red]\\ttab\\nline"
RAW = ["\x1b", "\x07", "\x85", "\u202e", "\u2066", "\x00"]


def test_printable_escapes_controls_and_bidi_and_keeps_every_script():
    assert printable(EVIL) == SHOWN
    assert printable("\x00\x1f\x7f\x9f") == "\\x00\\x1f\\x7f\\x9f"
    assert printable("a\u202ab\u2066c\u2069d\u2028e") == "a\\u202ab\\u2066c\\u2069d\\u2028e"
    assert printable("lone \ud800 surrogate") == "lone \\ud800 surrogate"
    kept = "ثنا خان · করিম · Иван · தமிழ் · 東京 · e\u0301 · \u200f"
    assert printable(kept) == kept
    assert printable(12) == "12"


def test_markup_and_cells_are_never_read_as_markup():
    assert markup("[red]x[/red]") == "\\[red]x\\[/red]"
    assert markup("a\x1bb") == "a\\x1bb"
    rendered = cell("[bold]x[/bold]\x1b").plain
    assert rendered == "[bold]x[/bold]\\x1b"


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A workspace whose contact, stage and company names hold control characters,
    as an ERP or an older crmbook could have stored them."""
    path = tmp_path / "shop.sqlite"
    with crm_core.open(path) as ws:
        company = ws.companies.create(name="Indus")["id"]
        contact = ws.contacts.create(name="Placeholder", company=company)["id"]
        ws.pipeline.create("Deal", company=company, expected_revenue="10.00", currency="PKR")
        with ws.transaction() as s:
            s.execute(
                text("UPDATE contacts SET name = :n WHERE id = :i"), {"n": EVIL, "i": contact}
            )
            s.execute(text("UPDATE companies SET name = :n"), {"n": "[blink]Co[/blink]\x1b[5m"})
            s.execute(text("UPDATE stages SET name = :n WHERE name = 'New'"), {"n": EVIL})
    return path


def _clean(output: str) -> None:
    for raw in RAW:
        assert raw not in output, repr(raw)


def test_contact_tables_show_escapes(shop):
    result = runner.invoke(app, ["contacts", "search", "-w", str(shop)], env={"COLUMNS": "400"})
    assert result.exit_code == 0, result.output
    _clean(result.output)
    assert SHOWN in result.output
    assert "[blink]Co[/blink]\\x1b[5m" in result.output


def test_report_cells_show_escapes(shop):
    result = runner.invoke(
        app, ["report", "pipeline_by_stage", "-w", str(shop)], env={"COLUMNS": "400"}
    )
    assert result.exit_code == 0, result.output
    _clean(result.output)
    assert SHOWN in result.output


def test_error_lines_show_escapes(tmp_path):
    where = str(tmp_path / "x\x1b[31m[red]y\u202e.sqlite")
    result = runner.invoke(app, ["info", "-w", where], env={"COLUMNS": "400"})
    assert result.exit_code == 1
    _clean(result.output)
    assert "x\\x1b[31m[red]y\\u202e.sqlite" in result.output
    assert result.output.startswith("error: no workspace at ")
