"""Tester round 5: a rejects file named neither .csv nor .xlsx, crmbook's own export
imported again, dates in the YYYY-MM-DD form that are no day, custom text searched in
any case, and the rejects file's encoding and when it is written at all."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused, ValidationError
from tests.crm_core.test_cli import crmbook

PEOPLE = "Name,Email\nAli Raza,ali@x.pk\nBad,bad@\n"


# -- 1. a rejects file named neither .csv nor .xlsx -----------------------------------------
@pytest.mark.parametrize("name", ["r.txt", "r.tsv", "r.json"])
def test_a_rejects_name_neither_csv_nor_xlsx_is_refused_before_anything(
    sqlite_ws: crm_core.Workspace, tmp_path: Path, name: str
) -> None:
    people = tmp_path / "people.csv"
    people.write_text(PEOPLE)
    out = tmp_path / name
    with pytest.raises(ImportRefused) as refused:
        sqlite_ws.importer.run(people, "contacts", rejects=out, workers=0)
    assert str(refused.value) == (
        f"--rejects {out}: name the file .csv or .xlsx; the rejects are written in the "
        "format its name says"
    )
    assert sqlite_ws.contacts.count() == 0
    assert not out.exists()


def test_the_command_refuses_a_txt_rejects_file_writing_nothing(tmp_path: Path) -> None:
    (tmp_path / "utf8.csv").write_text(PEOPLE)
    assert crmbook("init", "t.sqlite", cwd=tmp_path).returncode == 0
    done = crmbook(
        "import", "contacts", "utf8.csv", "-w", "t.sqlite", "--rejects", "r.txt", cwd=tmp_path
    )
    assert done.returncode != 0
    assert "--rejects r.txt: name the file .csv or .xlsx" in done.stderr + done.stdout
    assert not (tmp_path / "r.txt").exists()
    ws = crm_core.open(tmp_path / "t.sqlite")
    try:
        assert ws.contacts.count() == 0
    finally:
        ws.close()


# -- 2. crmbook's own export, imported again ------------------------------------------------
def test_crmbook_export_imports_again_without_a_title_row(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    ws = sqlite_ws
    ws.custom_fields.define("contact", "loyalty_tier", "text")
    ws.contacts.create(
        name="Ali Raza",
        email="ali@x.pk",
        birthday="1990-05-07",
        tags=["vip"],
        custom={"loyalty_tier": "gold"},
    )
    ws.contacts.create(name="Sara Khan", phone="+923001234567")
    book = tmp_path / "export.xlsx"
    ws.export.xlsx(book, "contacts")

    plan = dict(ws.importer.columns(book, "contacts", sheet="Contacts").values.tolist())
    assert plan["name"] == "name" and plan["loyalty_tier"] == "custom.loyalty_tier"
    assert plan["id"] == (
        "(ignored: crmbook's own record id; an import matches rows by its keys, see --match)"
    )
    assert plan["created_at"] == "(ignored: crmbook sets it)"

    again = ws.importer.run(book, "contacts", sheet="Contacts", dry_run=True, workers=0)
    assert (again.rows, again.rejected, again.unchanged, again.created) == (2, 0, 2, 0)
    # The rows keep the sheet's own row numbers: the data starts on row 3.
    assert sorted(e.line for e in again.examples["unchanged"]) == [3, 4]

    # Into another workspace: two records, nothing refused, values as exported.
    other = crm_core.open(tmp_path / "other.sqlite")
    try:
        other.custom_fields.define("contact", "loyalty_tier", "text")
        report = other.importer.run(book, "contacts", sheet="Contacts", workers=0)
        assert (report.created, report.rejected) == (2, 0)
        ali = other.contacts.search(email="ali@x.pk").iloc[0]
        record = other.contacts.get(int(ali["id"]))
        assert str(record["birthday"]) == "1990-05-07"
        assert record["custom"]["loyalty_tier"] == "gold"
        assert not (tmp_path / "export.rejects.xlsx").exists()
    finally:
        other.close()


def test_crmbook_export_of_owned_contacts_imports_again_as_is(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    """Round 6: the import read the cover sheet ("no column gives the contact's name")
    unless told --sheet, and with it refused every owned contact: the export writes
    the owner's name ("بلال احمد"), which the import did not know as a user."""
    ws = sqlite_ws
    ws.users.add("بلال احمد", "bilal", role="sales")
    ws.users.add("Sara Khan", "sara", role="sales")
    ws.users.add("Sara Khan", "sara2", role="sales")
    ws.contacts.create(name="Ali Raza", email="ali@x.pk", owner_id="bilal")
    ws.contacts.create(name="Zara Ahmed", email="zara@x.pk", owner_id="sara")
    book = tmp_path / "export.xlsx"
    ws.export.xlsx(book, "contacts")

    shown = crmbook("import", "contacts", str(book), "-w", "crm.sqlite", "--dry-run", cwd=tmp_path)
    assert "1 would be unchanged" in shown.stdout, shown.stdout + shown.stderr
    again = ws.importer.run(book, "contacts", dry_run=True, workers=0)
    assert (again.rows, again.unchanged, again.rejected) == (2, 1, 1)
    # Two users named Sara Khan: the name alone says not which one.
    (refused,) = again.examples["rejected"]
    assert "names several users: give the login" in refused.detail


def test_a_workbook_whose_first_row_is_shown_keeps_its_second_row_as_data(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    import xlsxwriter

    path = tmp_path / "plain.xlsx"
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet()
    for r, row in enumerate([["Name", "Email"], ["Ali Raza", "ali@x.pk"], ["Sara", "s@x.pk"]]):
        sheet.write_row(r, 0, row)
    book.close()
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert (report.created, report.rejected) == (2, 0)


# -- 3. a date in the YYYY-MM-DD form that is no day ----------------------------------------
def test_a_date_in_form_but_no_day_says_so(sqlite_ws: crm_core.Workspace) -> None:
    ws = sqlite_ws
    ws.custom_fields.define("contact", "since", "date")
    contact = ws.contacts.create(name="Ali Raza")

    def reason(call) -> str:
        with pytest.raises(ValidationError) as caught:
            call()
        (error,) = caught.value.errors
        return error.reason

    assert reason(lambda: ws.contacts.update(contact["id"], {"birthday": "2026-02-30"})) == (
        "is no day of the calendar"
    )
    assert reason(lambda: ws.activities.schedule("call", "x", "2026-02-30", contact=1)) == (
        "is no day of the calendar"
    )
    assert reason(
        lambda: ws.contacts.update(contact["id"], {"custom": {"since": "2026-13-01"}})
    ) == ("is no day of the calendar")
    # A value in another form still says which form.
    assert reason(lambda: ws.contacts.update(contact["id"], {"birthday": "30/02/2026"})) == (
        "is not a date in YYYY-MM-DD form"
    )


# -- 4. custom text searched in any case ----------------------------------------------------
def test_custom_text_and_choice_search_is_case_folded(ws: crm_core.Workspace) -> None:
    ws.custom_fields.define("contact", "loyalty_tier", "text")
    ws.custom_fields.define("contact", "tier", "choice", choices=["Gold", "Silver"])
    ws.custom_fields.define("contact", "score", "number")
    gold = ws.contacts.create(name="A", custom={"loyalty_tier": "gold", "tier": "Gold"})["id"]
    big = ws.contacts.create(name="B", custom={"loyalty_tier": "STRASSE Алёна"})["id"]
    ws.contacts.create(name="C", custom={"loyalty_tier": "silver", "tier": "Silver", "score": 7})

    def found(**custom: object) -> list[int]:
        return sorted(ws.contacts.search(custom=custom)["id"].tolist())

    assert found(loyalty_tier="Gold") == [gold]
    assert found(loyalty_tier="GOLD") == [gold]
    assert found(loyalty_tier="straße алена") == [big]
    assert found(tier="gold") == [gold]
    assert found(tier="GOLD") == [gold]
    assert found(loyalty_tier="gol") == []
    assert len(found(score="7")) == 1
    with pytest.raises(ValidationError, match="must be one of Gold, Silver"):
        found(tier="bronze")


# -- 5. the rejects file: the input's encoding, and only when a row was rejected ------------
def test_rejects_are_in_the_inputs_encoding_byte_order_mark_as_it_was(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    plain = tmp_path / "plain.csv"
    plain.write_bytes("Name,Email\nعلی,ali@x.pk\nBad,bad@\n".encode())
    sqlite_ws.importer.run(plain, "contacts", workers=0)
    written = (tmp_path / "plain.rejects.csv").read_bytes()
    assert not written.startswith(codecs.BOM_UTF8)
    assert written.decode("utf-8").splitlines()[0] == "Name,Email,line,field,value,reason"

    marked = tmp_path / "marked.csv"
    marked.write_bytes(codecs.BOM_UTF8 + "Name,Email\nعلی,ali2@x.pk\nBad,bad@\n".encode())
    sqlite_ws.importer.run(marked, "contacts", workers=0)
    assert (tmp_path / "marked.rejects.csv").read_bytes().startswith(codecs.BOM_UTF8)


def test_no_rejects_file_when_nothing_is_rejected_and_an_earlier_one_is_kept(
    tmp_path: Path,
) -> None:
    source = tmp_path / "cp1256.csv"
    source.write_bytes("Name,Email\nعلي رضا,ali@x.pk\n".encode("cp1256"))
    earlier = tmp_path / "cp1256.rejects.csv"
    earlier.write_bytes(b"an earlier run's rejects\n")
    assert crmbook("init", "k.sqlite", cwd=tmp_path).returncode == 0
    done = crmbook("import", "contacts", "cp1256.csv", "-w", "k.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert earlier.read_bytes() == b"an earlier run's rejects\n"
    assert (
        "no row rejected, so no rejects file written: cp1256.rejects.csv is an earlier "
        "run's, left as it was"
    ) in done.stdout

    fresh = tmp_path / "fresh.csv"
    fresh.write_text("Name,Email\nSara,s@x.pk\n")
    ws = crm_core.open(tmp_path / "k.sqlite")
    try:
        report = ws.importer.run(fresh, "contacts", workers=0)
    finally:
        ws.close()
    assert (report.created, report.rejected, report.rejects_path) == (1, 0, None)
    assert report.earlier_rejects is None
    assert not (tmp_path / "fresh.rejects.csv").exists()
    assert "rejects file" not in report.summary()
