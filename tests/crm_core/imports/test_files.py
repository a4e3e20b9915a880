"""Messy files in: every good row imported, every bad row in the rejects with its reason.

The files are made here, byte by byte, the way spreadsheets and old Windows programs
write them: byte-order marks, cp1252 and cp1256, UTF-16, semicolons and tabs, quoted
newlines, blank lines, headers in five languages.
"""

from __future__ import annotations

import csv
from pathlib import Path

import openpyxl
import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports.rejects import safe_cell


def _csv(rows: list[list[str]], delimiter: str = ",") -> str:
    lines = []
    for row in rows:
        cells = []
        for cell in row:
            if any(ch in cell for ch in f'"{delimiter}\n\r'):
                cell = '"' + cell.replace('"', '""') + '"'
            cells.append(cell)
        lines.append(delimiter.join(cells))
    return "\r\n".join(lines) + "\r\n"


def _rejects(path: Path, encoding: str, delimiter: str) -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f, delimiter=delimiter))


@pytest.fixture
def pk(ws: crm_core.Workspace) -> crm_core.Workspace:
    ws.set_setting("phone_region", "PK")
    return ws


# (file name, encoding written, delimiter, header row, data rows, good names, bad lines)
# A bad line maps to the field its reason names.
HEADERS_EN = ["Name", "E-mail", "Phone", "City", "Notes"]
CASES = {
    "utf8-bom-semicolon": (
        "utf-8-sig",
        ";",
        HEADERS_EN,
        [
            ["Imran Khan", "imran@indus.pk", "0300 1234567", "Karachi", "a; b"],
            ["", "", "", "", ""],
            ["Bad Mail", "imran@", "", "Lahore", ""],
        ],
        ["Imran Khan"],
        {4: "email"},
    ),
    "cp1252-comma": (
        "cp1252",
        ",",
        HEADERS_EN,
        [
            ["Jürgen Müller", "jm@example.de", "+49 30 901820", "Köln", "Straße"],
            ["Renée Dubois", "renee@example.fr", "12", "Paris", ""],
        ],
        ["Jürgen Müller"],
        {3: "phone"},
    ),
    "cp1256-arabic": (
        "cp1256",
        ",",
        ["الاسم", "البريد", "هاتف", "City", "Notes"],
        [
            ["عمران خان", "imran.khan@example.pk", "+92 300 7654321", "كراتشي", ""],
            ["سعيد", "bad@@example.pk", "", "", ""],
        ],
        ["عمران خان"],
        {3: "email"},
    ),
    "utf16-tabs": (
        "utf-16",
        "\t",
        ["Name", "Email", "Mobile", "City", "Notes"],
        [
            ["Мария Иванова", "maria@example.ru", "+7 912 345-67-89", "Москва", "line 1\nline 2"],
            ["Олег", "oleg@example.ru", "", "", "ok"],
        ],
        ["Мария Иванова", "Олег"],
        {},
    ),
    "five-languages": (
        "utf-8",
        ",",
        ["نام", "ای میل", "ফোন", "மின்னஞ்சல் 2", "Телефон"],
        [
            ["عمران خان", "imran@indus.pk", "0300 1234567", "", ""],
            ["আব্দুল করিম", "karim@example.com.bd", "", "", "+880 1712-345678"],
        ],
        ["عمران خان", "আব্দুল করিম"],
        {},
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_messy_files(pk: crm_core.Workspace, tmp_path: Path, case: str) -> None:
    encoding, delimiter, header, rows, good, bad = CASES[case]
    path = tmp_path / f"{case}.csv"
    path.write_bytes(_csv([header, *rows], delimiter).encode(encoding))

    report = pk.importer.run(path, "contacts")

    assert report.rows == report.created + report.updated + report.unchanged + report.rejected
    assert report.created == len(good)
    assert sorted(pk.contacts.search()["name"]) == sorted(good)
    out = path.with_name(f"{case}.rejects.csv")
    # A rejects file only when a row was rejected.
    assert out.exists() == bool(bad)
    rejects = _rejects(out, encoding, delimiter) if bad else []
    assert {int(r["line"]): r["field"] for r in rejects} == bad
    assert all(r["reason"] for r in rejects)
    # Rejects keep the input's columns as they were.
    assert list(rejects[0])[: len(header)] == header if rejects else True


def test_a_quoted_newline_stays_in_its_cell_and_lines_are_the_files(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "notes.csv"
    path.write_text(
        'name,email,notes\n"Ali",ali@x.pk,"first\nsecond"\n\n\nBad,bad@,x\n', encoding="utf-8"
    )
    report = pk.importer.run(path, "contacts")
    assert (report.created, report.rejected) == (1, 1)
    assert pk.contacts.get(int(pk.contacts.search()["id"][0]))["notes"] == "first\nsecond"
    (reject,) = _rejects(path.with_name("notes.rejects.csv"), "utf-8-sig", ",")
    assert reject["line"] == "6"  # lines 3 and 4 are the quoted newline's and blank


def test_extra_and_missing_columns(pk: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text(
        "Full Name,Shoe size,City\nAli Raza,44,Karachi\nSana,38,Lahore,spare cell\n",
        encoding="utf-8",
    )
    plan = pk.importer.columns(path, "contacts")
    assert dict(zip(plan["column"], plan["field"], strict=True))["Full Name"] == "name"
    report = pk.importer.run(path, "contacts")
    assert report.ignored_columns == ["Shoe size"]
    assert (report.created, report.rejected) == (1, 1)
    (reject,) = _rejects(path.with_name("cols.rejects.csv"), "utf-8-sig", ",")
    assert "4 cells and the header 3" in reject["reason"]

    dry = pk.importer.run(path, "contacts", custom=True, dry_run=True, workers=1)
    assert (dry.updated, dry.rejected, dry.custom_fields_defined) == (1, 1, ["shoe_size"])
    assert pk.custom_fields.list("contact").empty  # defined in the rolled-back run only
    again = pk.importer.run(path, "contacts", custom=True)
    assert again.custom_fields_defined == ["shoe_size"]
    assert (again.updated, again.rejected) == (1, 1)
    ali = pk.contacts.get(int(pk.contacts.search(q="Ali Raza")["id"][0]))
    assert ali["custom"]["shoe_size"] == "44"


def test_bad_dates_phones_and_duplicates_inside_the_file(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "dups.csv"
    path.write_text(
        "name,email,mobile,birthday\n"
        "Ayesha Siddiqui,ayesha@x.pk,0321 7654321,1990-04-01\n"
        "Ayesha S.,AYESHA@X.PK,,\n"  # the same e-mail, other case: line 2's
        "Bilal,bilal@x.pk,0321 7654321,\n"  # line 2's mobile, but someone else's e-mail
        ",,0321 7654321,\n"  # line 2's mobile and no name
        "Ayesha,,0321 7654321,\n"  # line 2's mobile, no e-mail: line 2
        "Kamran,kamran@x.pk,,31/02/1990\n"  # no such date
        "Zara,zara@x.pk,123,\n",  # no such phone
        encoding="utf-8",
    )
    report = pk.importer.run(path, "contacts")
    assert (report.created, report.rejected) == (2, 5)
    rejects = {int(r["line"]): r for r in _rejects(tmp_path / "dups.rejects.csv", "utf-8-sig", ",")}
    assert rejects[3]["field"] == "email" and "line 2" in rejects[3]["reason"]
    assert rejects[5]["field"] == "name"
    assert rejects[6]["field"] == "mobile" and "lines 2 and 4" in rejects[6]["reason"]
    assert rejects[7]["field"] == "birthday"
    assert rejects[8]["field"] == "mobile"
    # Run again: the same rows refused for the same reasons, nothing else changes.
    again = pk.importer.run(path, "contacts")
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 5)


def test_formula_cells_are_neutralised_in_the_rejects(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "evil.csv"
    path.write_text(
        'name,email,notes\n=HYPERLINK("http://x"),bad@,"-2+3+cmd|\' /C calc\'!A0"\n',
        encoding="utf-8",
    )
    pk.importer.run(path, "contacts")
    (reject,) = _rejects(tmp_path / "evil.rejects.csv", "utf-8-sig", ",")
    assert reject["name"].startswith("'=")
    assert reject["notes"].startswith("'-2+3")
    assert safe_cell("+92 300 1234567") == "+92 300 1234567"
    assert safe_cell("-12.5") == "-12.5"
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"

    # The rejects fixed (the e-mail) and imported again: the cells as they were written
    # in the first file, not with the apostrophe that kept the spreadsheet from running them.
    fixed = tmp_path / "evil.rejects.csv"
    text = fixed.read_text(encoding="utf-8-sig").replace("bad@", "good@example.com")
    fixed.write_text(text.replace("\r\n", "\n") + "'Quoted,q@example.com,'-2\n", encoding="utf-8")
    again = pk.importer.run(fixed, "contacts")
    assert (again.created, again.rejected) == (2, 0)
    people = {c["email"]: pk.contacts.get(int(c["id"])) for _, c in pk.contacts.search().iterrows()}
    assert people["good@example.com"]["name"] == '=HYPERLINK("http://x")'
    assert people["good@example.com"]["notes"] == "-2+3+cmd|' /C calc'!A0"
    # never escaped by crmbook ("-2" is a number; "'Quoted" no formula): kept as written
    assert (people["q@example.com"]["name"], people["q@example.com"]["notes"]) == ("'Quoted", "'-2")


def test_xlsx_in_rejects_out_as_xlsx(pk: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Customers"
    sheet.append(["Company", "VAT", "Phone"])
    sheet.append(["Indus Traders", "NTN-1234567", 922134567890])  # a phone typed as a number
    sheet.append(["Bad Phone Ltd", None, 12])
    sheet.append([None, None, None])
    book.save(path)

    report = pk.importer.run(path, "companies")
    assert (report.created, report.rejected) == (1, 1)
    company = pk.companies.search()
    assert company["phone"][0] == "+922134567890"
    rejects = openpyxl.load_workbook(tmp_path / "book.rejects.xlsx").active
    values = list(rejects.iter_rows(values_only=True))
    assert values[0] == ("Company", "VAT", "Phone", "line", "field", "value", "reason")
    assert values[1][:5] == ("Bad Phone Ltd", "", "12", 3, "phone")

    with pytest.raises(ImportRefused, match="no sheet 'Nope'; it has Customers"):
        pk.importer.run(path, "companies", sheet="Nope")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"City,Notes\nKarachi,x\n", "no column gives the contact's name"),
        (b"PK\x03\x04not a zip", "not a readable XLSX workbook"),
    ],
)
def test_files_that_are_no_rows_are_refused_clearly(
    pk: crm_core.Workspace, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(ImportRefused, match=message):
        pk.importer.run(path, "contacts")
    assert pk.contacts.count() == 0


def test_a_mapping_by_hand(pk: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "m.csv"
    path.write_text("Who,Mobile No,Remarks\nAli,0300 1234567,vip\n", encoding="utf-8")
    toml = tmp_path / "map.toml"
    toml.write_text('[columns]\nWho = "name"\n"Mobile No" = "mobile"\nRemarks = "-"\n')
    report = pk.importer.run(path, "contacts", map=[str(toml)])
    assert report.created == 1
    assert pk.contacts.search()["mobile"][0] == "+923001234567"
    with pytest.raises(ImportRefused, match="no contact field"):
        pk.importer.run(path, "contacts", map={"Who": "nmae"})
    with pytest.raises(ImportRefused, match="does not have: 'Nobody'"):
        pk.importer.run(path, "contacts", map=["Nobody=name"])


def test_a_cells_own_apostrophe_before_a_formula_comes_back_from_the_rejects(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    """Round 6: "'=keep" went to the rejects as it was, so the import of the fixed
    rejects took its apostrophe for crmbook's and stored "=keep"."""
    path = tmp_path / "own.csv"
    path.write_text("name,email\n'=keep,bad2@\n'Tis Ltd,bad3@\n", encoding="utf-8")
    pk.importer.run(path, "contacts")
    rejects = tmp_path / "own.rejects.csv"
    written = {r["email"]: r["name"] for r in _rejects(rejects, "utf-8-sig", ",")}
    assert written == {"bad2@": "''=keep", "bad3@": "'Tis Ltd"}
    text = rejects.read_text(encoding="utf-8-sig")
    rejects.write_text(text.replace("bad2@", "k@example.com").replace("bad3@", "t@example.com"))
    again = pk.importer.run(rejects, "contacts")
    assert (again.created, again.rejected) == (2, 0)
    names = {c["email"]: c["name"] for _, c in pk.contacts.search().iterrows()}
    assert names == {"k@example.com": "'=keep", "t@example.com": "'Tis Ltd"}
