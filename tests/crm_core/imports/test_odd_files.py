"""Files as they come: Excel's ``sep=;`` first line, a picture renamed .csv, headers
in Russian and Arabic, a value too long to show whole."""

from __future__ import annotations

from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports import mapping as m
from tests.crm_core.test_cli import crmbook

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x10\x08\x06" + bytes(
    range(256)
)


def test_excels_sep_line_is_honoured(sqlite_ws: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    # A comma inside a cell: the sniffer alone could take it for the delimiter.
    path.write_bytes(b"sep=;\r\nName;Notes\r\nAli Raza;a, b, c\r\nSana Mir;d, e\r\n")
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert (report.created, report.rejected, report.delimiter) == (2, 0, ";")
    assert report.examples["created"][0].line == 3  # the file's own line numbers
    ali = sqlite_ws.contacts.get(int(sqlite_ws.contacts.search(q="Ali")["id"][0]))
    assert ali["notes"] == "a, b, c"
    plan = sqlite_ws.importer.columns(path, "contacts")
    assert list(plan["column"]) == ["Name", "Notes"]
    # An old Mac's line ends (CR alone), and a tab.
    mac = tmp_path / "mac.csv"
    mac.write_bytes(b"SEP=\t\rName\tNotes\rOmar Butt\tx, y\r")
    report = sqlite_ws.importer.run(mac, "contacts", workers=0)
    assert (report.created, report.delimiter) == (1, "\t")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PNG, "not a CSV or XLSX file: it is a PNG image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj", "it is a PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), r"old Excel \(XLS\)"),
        (bytes((i * 131 + 7) % 256 for i in range(4000)), "not a CSV or XLSX file"),
    ],
    ids=["png", "pdf", "xls", "noise"],
)
def test_a_binary_file_is_refused(
    sqlite_ws: crm_core.Workspace, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(content)
    with pytest.raises(ImportRefused, match=message):
        sqlite_ws.importer.run(path, "contacts", workers=0)
    assert not (tmp_path / "customers.rejects.csv").exists()


def test_russian_and_arabic_headers() -> None:
    # "Имя" is the whole name unless a column gives the surname.
    assert m.guess("contact", ["Имя", "Телефон"]).fields == {"Имя": "name", "Телефон": "phone"}
    assert m.guess("contact", ["Имя", "Фамилия"]).fields == {
        "Имя": "first_name",
        "Фамилия": "last_name",
    }
    # A surname given by hand counts as well.
    plan = m.guess("contact", ["Имя", "Ф"], given={"Ф": "last_name"})
    assert plan.fields == {"Имя": "first_name", "Ф": "last_name"}
    assert m.guess("contact", ["الاسم", "الشركة"]).fields == {"الاسم": "name", "الشركة": "company"}
    assert m.guess("company", ["الشركة", "هاتف"]).fields == {"الشركة": "name", "هاتف": "phone"}
    assert m.guess("opportunity", ["الاسم", "الشركة"]).fields["الشركة"] == "company"


def test_a_russian_file_with_one_name_column(sqlite_ws: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "ru.csv"
    path.write_text("Имя,Эл почта\nМария Иванова,maria@example.ru\n", encoding="utf-8")
    plan = sqlite_ws.importer.columns(path, "contacts")
    assert dict(zip(plan["column"], plan["field"], strict=True))["Имя"] == "name"
    assert sqlite_ws.importer.run(path, "contacts", workers=0).created == 1


def test_a_huge_value_is_shortened_in_the_examples(tmp_path: Path) -> None:
    assert crmbook("init", "W.sqlite", cwd=tmp_path).returncode == 0
    huge = "Q" * 100_000
    (tmp_path / "h.csv").write_text(f"Name,Email\n{huge},bad@\n", encoding="utf-8")
    done = crmbook("import", "contacts", "h.csv", "-w", "W.sqlite", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(100,000 characters)" in done.stdout
    assert len(done.stdout) < 5000
    with crm_core.open(tmp_path / "W.sqlite") as ws:
        report = ws.importer.run(tmp_path / "h.csv", "contacts", workers=0)
    (example,) = report.examples["rejected"]
    assert example.name == "Q" * 79 + "… (100,000 characters)"
    assert len(report._repr_html_()) < 5000
