"""A rejects file is written in the format its name asks for, by ``rates import`` and by
``import`` alike (a tester found an XLSX in ``rbad.csv`` and CSV in ``rbad2.xlsx``); any
other extension is refused before anything is read or written."""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

import crm_core
from crm_core.errors import ImportRefused, ValidationError

RATES = [("currency", "date", "rate"), ("GBP", "2026-01-01", "0.79"), ("XYZ", "2026-01-01", "1")]
PEOPLE = [("Name", "Email"), ("Ali Raza", "ali@x.pk"), ("Bad", "bad@")]


def _write(path: Path, rows: list[tuple[str, ...]]) -> Path:
    if path.suffix == ".xlsx":
        book = openpyxl.Workbook()
        for row in rows:
            book.active.append(list(row))
        book.save(path)
    else:
        path.write_text("\n".join(",".join(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _read(path: Path) -> list[list[str]]:
    """The rejects' rows, refusing a file whose content is not what its name says."""
    head = path.read_bytes()[:4]
    if path.suffix.lower() == ".xlsx":
        assert head == b"PK\x03\x04", head
        sheet = openpyxl.load_workbook(path).active
        return [[str(c) for c in row] for row in sheet.iter_rows(values_only=True)]
    assert head != b"PK\x03\x04"
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize(("given", "rejects"), [(".xlsx", ".csv"), (".csv", ".xlsx")])
def test_rates_rejects_follow_their_name(ws, tmp_path, given, rejects):
    source = _write(tmp_path / f"rates{given}", RATES)
    out = tmp_path / f"bad{rejects}"
    with pytest.raises(ValidationError):
        ws.rates.import_file(source, base="USD", rejects=out)
    rows = _read(out)
    assert rows[0][:3] == ["currency", "date", "rate"]
    assert rows[1][:2] == ["XYZ", "2026-01-01"]
    assert rows[1][4] == "currency"  # line, field, value, reason follow the columns


@pytest.mark.parametrize("name", ["bad.ods", "bad", "bad.xls", "bad.csv.bak"])
def test_rates_rejects_of_another_name_are_refused_first(ws, tmp_path, name):
    source = _write(tmp_path / "rates.csv", RATES)
    with pytest.raises(ImportRefused, match=r"--rejects .*: name the file \.csv or \.xlsx"):
        ws.rates.import_file(source, base="USD", rejects=tmp_path / name)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(("given", "rejects"), [(".xlsx", ".csv"), (".csv", ".xlsx")])
def test_import_rejects_follow_their_name(sqlite_ws: crm_core.Workspace, tmp_path, given, rejects):
    source = _write(tmp_path / f"people{given}", PEOPLE)
    out = tmp_path / f"bad{rejects}"
    sqlite_ws.importer.run(source, "contacts", rejects=out, workers=0)
    rows = _read(out)
    assert rows[0][:2] == ["Name", "Email"]
    assert rows[1][:2] == ["Bad", "bad@"]
    assert sqlite_ws.contacts.count() == 1


def test_import_rejects_of_another_name_are_refused_first(sqlite_ws, tmp_path):
    source = _write(tmp_path / "people.csv", PEOPLE)
    with pytest.raises(ImportRefused, match=r"--rejects .*bad\.ods: name the file"):
        sqlite_ws.importer.run(source, "contacts", rejects=tmp_path / "bad.ods", workers=0)
    assert not (tmp_path / "bad.ods").exists()
    assert sqlite_ws.contacts.count() == 0
