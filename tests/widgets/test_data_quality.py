"""The Data quality page without a browser: the import wizard's view-model on a messy
CSV (columns guessed, one remapped, a preview that writes nothing, the import, the
rejects file), its refusals (a sales user, a file too large or of another kind), work in
a thread, the uploaded file's lifetime; the page inline (as in JupyterLab) and in the
staff app's navigation for managers only."""

from __future__ import annotations

import base64
import datetime as dt
import io
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import openpyxl
import panel as pn
import pytest
from panel.models.tabulator import TableEditEvent

from widgets import i18n
from widgets.app import StaffApp
from widgets.data_quality import DataQuality
from widgets.import_model import ImportWizardModel
from widgets.routes import page_path, parse
from widgets.uploads import FOLDER_PREFIX

#: A customer list as one arrives: UTF-8 with a byte-order mark, semicolons, headers in
#: Urdu, Russian and English, a quoted line break, a blank line, a column nobody knows,
#: one the guess misses (a WhatsApp number), a bad e-mail, a formula-like cell, and a
#: customer who is already in the workspace (Imran: updated, not added twice).
MESSY = (
    "\ufeffنام;ای میل;Телефон;WhatsApp No;Remarks;Shoe size\r\n"
    "Imran Khan;imran@indus.example.com;0300 1234567;;;42\r\n"
    'Karim Rahman;karim@dhaka.example.com;;0321 7654321;"pays in\ncash";40\r\n'
    "\r\n"
    "Bad Row;not-an-email;;;;=1+2\r\n"
    "Olga Smirnova;olga@example.com;;;;39\r\n"
).encode()
FIELDS = {
    "نام": "name",
    "ای میل": "email",
    "Телефон": "phone",
    "WhatsApp No": "",
    "Remarks": "notes",
    "Shoe size": "",
}


@pytest.fixture
def staff(sqlite_ws):
    """A SQLite workspace with a manager, a sales user and Imran already in it."""
    ws = sqlite_ws
    ws.pipeline.ensure_default()
    ws.set_setting("phone_region", "PK")
    ws.users.add("عائشہ صدیقی", "ayesha", role="manager")
    ws.users.add("بلال احمد", "bilal", role="sales")
    imran = ws.contacts.create(name="Imran Khan", email="imran@indus.example.com")
    return ws, imran


def contacts(ws):
    found = ws.contacts.search("")
    return {row["name"]: row for row in found.to_dict("records")}


def test_a_messy_file_is_guessed_remapped_previewed_imported_and_its_rejects_kept(staff):
    ws, imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"))
    assert model.may_import and model.step == "upload" and model.message == ""

    # The browser may send the name with the folder it came from: only the name counts.
    assert model.upload(MESSY, "C:\\Users\\ayesha\\customers.csv")
    assert model.file_name == "customers.csv" and model.step == "columns"
    guessed = dict(zip(model.mapping["column"], model.mapping["field"], strict=True))
    assert guessed == FIELDS
    examples = dict(zip(model.mapping["column"], model.mapping["example"], strict=True))
    assert examples["نام"] == "Imran Khan" and examples["WhatsApp No"] == "0321 7654321"
    notes = dict(zip(model.mapping["column"], model.mapping["note"], strict=True))
    assert notes["Shoe size"].startswith("left out") and notes["نام"] == ""
    assert model.message == "customers.csv: 6 columns; 4 fill a field. Check them, then preview."

    # The copy on the server: a private folder, the file's extension kept.
    path = model.path
    assert path.suffix == ".csv" and path.read_bytes() == MESSY
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700

    assert model.set_field("WhatsApp No", "mobile")
    assert model.message == "WhatsApp No now fills Mobile."
    assert model.column_map() == {
        "نام": "name",
        "ای میل": "email",
        "Телефон": "phone",
        "WhatsApp No": "mobile",
        "Remarks": "notes",
        "Shoe size": "-",
    }
    # A field fills from one column: choosing it for another leaves the first out.
    assert model.set_field("Shoe size", "notes")
    assert model.message == "Shoe size now fills Notes; Remarks is left out."
    assert model.set_field("Remarks", "notes") and model.column_map()["Shoe size"] == "-"
    assert not model.set_field("Remarks", "shoe_size")
    assert model.message == "shoe_size is no field of Contacts."

    assert model.run_import() is None and model.message.startswith("Preview first")
    before = contacts(ws)
    report = model.preview()
    assert report.dry_run and (report.created, report.updated, report.rejected) == (2, 1, 1)
    assert model.step == "previewed" and model.rejects_file == ""
    assert contacts(ws) == before  # nothing written
    assert model.message == (
        "Preview of customers.csv: 4 rows; 2 would be created, 1 updated, 0 unchanged and "
        "1 rejected. Nothing is written yet."
    )
    shown = model.outcome.set_index("outcome")
    assert shown["rows"].to_dict() == {"Created": 2, "Updated": 1, "Unchanged": 0, "Rejected": 1}
    assert "line 2: Imran Khan" in shown.loc["Updated", "examples"]
    assert (
        "line 6: Bad Row (email: is not a valid e-mail address" in shown.loc["Rejected", "examples"]
    )
    assert "#" not in shown.loc["Created", "examples"]  # a dry run's ids are rolled back

    report = model.run_import()
    assert not report.dry_run and report.counts == {"created": 2, "updated": 1, "rejected": 1}
    assert model.step == "imported" and model.message_kind == "warning"
    assert model.message.startswith("Imported customers.csv: 4 rows; 2 created, 1 updated")
    saved = contacts(ws)
    assert set(saved) == {"Imran Khan", "Karim Rahman", "Olga Smirnova"}
    assert (
        saved["Imran Khan"]["id"] == imran["id"] and saved["Imran Khan"]["phone"] == "+923001234567"
    )
    assert saved["Karim Rahman"]["mobile"] == "+923217654321"
    assert ws.contacts.get(saved["Karim Rahman"]["id"])["notes"] == "pays in\ncash"

    # The rejects file: the bad row as it was (its formula defused), with its reason.
    assert model.rejects_name == "customers.rejects.csv"
    rejects = Path(model.rejects_file).read_text(encoding="utf-8-sig").splitlines()
    assert rejects[0] == "نام;ای میل;Телефон;WhatsApp No;Remarks;Shoe size;line;field;value;reason"
    assert rejects[1].startswith("Bad Row;not-an-email;;;;'=1+2;6;email;not-an-email;email: ")
    assert len(rejects) == 2

    # The same file again changes nothing.
    model.preview()
    again = model.run_import()
    assert again.counts == {"unchanged": 3, "rejected": 1}


def part(layout, css_class):
    return next(o for o in layout.select() if css_class in getattr(o, "css_classes", []))


def choose(table, column, field):
    """What the browser does when a field is chosen in a row's list: the table's data
    changes, then the edit event comes."""
    row = int(table.value.index[table.value["column"] == column][0])
    edited = table.value.copy()
    edited.loc[row, "field"] = field
    table.value = edited
    table._process_event(TableEditEvent(None, "field", row))


def test_the_view_uploads_remaps_and_downloads_the_rejects(staff):
    ws, _imran = staff
    page = DataQuality(ws.as_user("ayesha"))
    layout = pn.panel(page)
    layout.get_root()  # renders as in a notebook
    model = page.model.imports
    model.background = False
    upload = next(iter(layout.select(pn.widgets.FileInput)))
    upload.param.update(value=MESSY, filename="customers.csv")
    assert model.file_name == "customers.csv"
    table = part(layout, "crm-import-mapping")
    # the fields by their labels; the model keeps crm_core's names
    labels = {"name": "Name", "email": "E-mail", "phone": "Phone", "notes": "Notes", "": ""}
    assert table.value["field"].tolist() == [labels[f] or "(leave out)" for f in FIELDS.values()]
    assert table.editors["field"].options[:3] == ["(leave out)", "Name", "First name"]
    assert {"column", "example", "note"} <= {k for k, v in table.editors.items() if v is None}
    buttons = {b.css_classes[0]: b for b in layout.select(pn.widgets.Button)}
    assert not buttons["crm-import-preview"].disabled and buttons["crm-import-run"].disabled

    # A choice in the table's field list is the model's remapping.
    choose(table, "WhatsApp No", "Mobile")
    assert model.column_map()["WhatsApp No"] == "mobile"
    assert table.value.loc[3, ["field", "note"]].tolist() == ["Mobile", ""]
    choose(table, "Remarks", "(leave out)")
    assert model.column_map()["Remarks"] == "-"
    choose(table, "Remarks", "Notes")

    buttons["crm-import-preview"].clicks += 1
    assert model.step == "previewed" and not buttons["crm-import-run"].disabled
    buttons["crm-import-run"].clicks += 1
    assert model.step == "imported"
    outcome = part(layout, "crm-import-outcome")
    assert outcome.value["rows"].tolist() == [2, 1, 0, 1]
    download = next(iter(layout.select(pn.widgets.FileDownload)))
    assert download.visible and download.filename == "customers.rejects.csv"
    download._clicks += 1  # what a click in the browser does: the file's bytes come
    data = base64.b64decode(download.data.split(",", 1)[1]).decode("utf-8-sig")
    assert "Bad Row;not-an-email" in data and "is not a valid e-mail address" in data


def test_a_sales_user_is_refused_and_has_no_such_page(staff):
    ws, _imran = staff
    bilal = ws.as_user("bilal")
    model = ImportWizardModel(bilal)
    refusal = "Only managers and admins may import records; you are signed in as bilal (sales)."
    assert not model.may_import and model.message == refusal
    assert not model.upload(MESSY, "customers.csv") and model.path is None
    assert model.preview() is None and model.run_import() is None
    assert model.message == refusal
    # crm_core refuses the run itself too, whatever the page does.
    with pytest.raises(Exception, match="may not import"):
        bilal.importer.run(ws.contacts.search("").head(0), "contacts")

    page = DataQuality(bilal)
    layout = pn.panel(page)
    layout.get_root()
    assert not list(layout.select(pn.widgets.FileInput))
    assert "Only managers and admins may use the Data quality page" in page.model.message

    app = StaffApp(bilal)
    assert "Data quality" not in app.nav
    app.route("#/data-quality")  # typed in the address bar
    assert app.current == "Activities"
    manager = StaffApp(ws.as_user("ayesha"))
    assert "crm-nav-data-quality" in manager.nav["Data quality"].css_classes
    manager.route("#/data-quality")
    assert manager.current == "Data quality"
    assert isinstance(manager.page("Data quality"), DataQuality)


def test_addresses_of_pages_with_a_space_in_their_title():
    assert page_path("Data quality") == "data-quality" and page_path("Sync") == "sync"
    assert parse("#/data-quality").page == "data-quality"
    assert parse("#/data-quality").to_hash() == "#/data-quality"
    assert parse("#/data_quality") is None and parse("#/-/1") is None


def test_files_the_page_does_not_take(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), limit=1024 * 1024)
    assert not model.upload(b"%PDF-1.4", "customers.pdf")
    assert model.message == "customers.pdf: choose a CSV or XLSX file (.csv, .tsv, .txt, .xlsx)."
    assert not model.upload(b"name\n" + b"x" * (1536 * 1024), "big.csv")
    assert model.message.startswith("big.csv is 1.5 MB; the page takes files up to 1 MB.")
    assert "crmbook import" in model.message
    assert not model.upload(b" \r\n", "empty.csv") and model.message == "empty.csv is empty."
    # A file crm_core cannot read is named as the user knows it, not by the server's copy.
    assert not model.upload(b"\r\n\r\n;;\r\n", "blank.csv")
    assert "blank.csv" in model.message and FOLDER_PREFIX not in model.message
    assert model.step == "upload" and model.preview() is None
    assert model.message == "Upload a file first."
    # A file with no column for the name: said before anything runs.
    assert model.upload(b"email\r\na@example.com\r\n", "mails.csv")
    assert model.preview() is None
    assert model.message == "No column fills the name: choose one in the table."


def test_the_uploaded_file_goes_with_the_next_upload_and_the_session(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"))
    model.upload(MESSY, "customers.csv")
    first = model.path
    model.upload(MESSY, "again.csv")
    assert not first.parent.exists() and model.path.exists()
    second = model.path
    model.discard()
    assert not second.parent.exists() and model.step == "upload" and model.mapping.empty
    model.upload(MESSY, "customers.csv")
    third = model.path
    model.session_ended()
    assert not third.parent.exists()


def test_changing_what_the_rows_are_guesses_the_columns_again(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"))
    model.upload(b"Company;VAT;Website\r\nIndus Textiles;1234567-8;indus.example.com\r\n", "a.csv")
    assert model.mapping["field"].tolist() == ["company", "", ""]
    model.entity = "companies"
    assert model.mapping["field"].tolist() == ["name", "vat", "website"]
    assert "website" in model.choices and "mobile" not in model.choices
    report = model.preview()
    assert report.entity == "company" and report.created == 1


def test_in_the_background_the_import_runs_in_a_thread_with_progress(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=True)
    model.upload(MESSY, "customers.csv")
    model.preview()
    model.thread.join(timeout=60)
    seen: list[int] = []
    model.param.watch(lambda e: seen.append(e.new), "progress")
    assert model.run_import() is None  # it runs on: the page stays live
    model.thread.join(timeout=60)
    assert model.thread.name == "crmbook-import-wizard"
    assert (model.running, model.progress, model.step) == (False, 100, "imported")
    assert seen[-1] == 100 and model.report.created == 2


def test_the_wizard_speaks_the_session_language(staff):
    ws, _imran = staff
    with i18n.speaking("ur"):
        refused = ImportWizardModel(ws.as_user("bilal"))
        manager = ImportWizardModel(ws.as_user("ayesha"), background=False)
        manager.upload(MESSY, "customers.csv")
        manager.preview()
        labels = manager.outcome["outcome"].tolist()
    assert refused.message == (
        "صرف مینیجر اور ایڈمن ریکارڈ درآمد کر سکتے ہیں؛ آپ bilal (sales) کے طور پر لاگ ان ہیں۔"
    )
    assert labels == ["بنائے گئے", "تازہ کیے گئے", "بغیر تبدیلی", "مسترد"]
    with i18n.speaking("ru"):
        manager.preview()
    assert manager.message.startswith("Предпросмотр customers.csv: 4 строки; будет создано 2")


def test_an_xlsx_file_imports_and_its_rejects_stay_xlsx(staff):
    ws, _imran = staff
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Company", "VAT", "Phone"])
    sheet.append(["Indus Textiles", "1234567-8", 3001234567])  # a phone typed as a number
    sheet.append(["", "999", ""])  # no name: refused
    data = io.BytesIO()
    book.save(data)
    model = ImportWizardModel(ws.as_user("ayesha"), entity="companies", background=False)
    assert model.upload(data.getvalue(), "accounts.xlsx")
    assert model.path.suffix == ".xlsx"
    assert model.mapping["example"].tolist() == ["Indus Textiles", "1234567-8", "3001234567"]
    model.preview()
    report = model.run_import()
    assert (report.created, report.rejected) == (1, 1)
    assert model.rejects_name == "accounts.rejects.xlsx"
    rejects = openpyxl.load_workbook(model.rejects_file).active
    rows = list(rejects.iter_rows(values_only=True))
    assert rows[0][:4] == ("Company", "VAT", "Phone", "line") and rows[1][3] in (3, "3")


@pytest.mark.parametrize("suffix", [".txt", ".tsv"])
def test_a_text_file_imports_and_its_rejects_are_csv(staff, suffix):
    """A rejects file is CSV or XLSX (crm_core refuses any other name): a .txt or .tsv
    upload's rejects are a CSV file (the page named them after the upload and the
    import was refused)."""
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    data = "Name\tE-mail\r\nAsha Rao\tasha@example.com\r\nBad\tnot-an-email\r\n"
    assert model.upload(data.encode(), f"people{suffix}")
    model.preview()
    report = model.run_import()
    assert report is not None and (report.created, report.rejected) == (1, 1)
    assert model.rejects_name == "people.rejects.csv"
    assert Path(model.rejects_file).suffix == ".csv"


def test_folders_left_by_a_process_gone_are_removed_by_the_next_upload(staff, tmp_path):
    ws, _imran = staff
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    base = Path(tempfile.gettempdir())
    left = base / f"{FOLDER_PREFIX}{int(gone.stdout)}-x1"
    left.mkdir()
    (left / "upload.csv").write_bytes(MESSY)
    mine = base / f"{FOLDER_PREFIX}{os.getpid()}-x2"  # this process's: in use
    mine.mkdir()
    elsewhere = tmp_path / "kept"
    elsewhere.mkdir()
    link = base / f"{FOLDER_PREFIX}{int(gone.stdout)}-x3"
    link.symlink_to(elsewhere)  # never followed
    try:
        model = ImportWizardModel(ws.as_user("ayesha"))
        assert model.upload(MESSY, "customers.csv")
        assert model.path.parent.name.startswith(f"{FOLDER_PREFIX}{os.getpid()}-")
        assert not left.exists() and mine.exists() and elsewhere.exists()
    finally:
        mine.rmdir()
        link.unlink()


# -- the options: what a run may do, the keys, new custom fields, the sheet -------------


def test_only_adding_new_refuses_a_row_already_here_with_the_reason(staff):
    ws, imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    model.upload(MESSY, "customers.csv")
    model.preview()
    assert model.step == "previewed"
    model.mode = "create"  # an option changed after the preview: preview again first
    assert model.step == "columns" and model.outcome.empty
    assert model.run_import() is None and model.message.startswith("Preview first")
    report = model.preview()
    assert report.mode == "create" and (report.created, report.updated) == (2, 0)
    report = model.run_import()
    assert report.rejected == 2 and "Imran Khan" in model.outcome["examples"].iloc[3]
    refused = [e.detail for e in report.examples["rejected"] if e.name == "Imran Khan"]
    assert refused == [
        f"contact #{imran['id']} exists already (same e-mail); mode 'create' only adds new records"
    ]
    assert len([n for n in contacts(ws) if n == "Imran Khan"]) == 1


def test_a_file_writing_dates_day_first(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    model.upload(b"Name,Email,Birthday\r\nAli,ali@x.pk,25/12/1990\r\n", "b.csv")
    report = model.preview()
    assert report.rejected == 1 and "with dates DMY" in report.examples["rejected"][0].detail
    model.dates = "DMY"  # an option changed after the preview: preview again first
    assert model.step == "columns"
    assert model.run_options()["dates"] == "DMY"
    assert model.preview().created == 1
    assert model.run_import().created == 1
    (ali,) = ws.contacts.search(q="Ali")["id"]
    assert ws.contacts.get(int(ali))["birthday"] == dt.date(1990, 12, 25)


def test_matching_on_the_email_only(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    assert model.keys == ["erp_id", "email", "phone", "name"] == model.match
    # Imran with no address: by his name he is found; on the e-mail alone he is new.
    model.upload(b"Name;Email\r\nImran Khan;\r\n", "a.csv")
    report = model.preview()
    assert report.created == 0 and report.updated + report.unchanged == 1
    model.match = ["email"]
    assert model.step == "columns"
    report = model.preview()
    assert report.match == ("email",) and (report.created, report.updated) == (1, 0)
    model.match = []
    assert model.preview() is None and "at least one key" in model.message


def test_unknown_columns_kept_as_new_custom_fields(staff):
    ws, _imran = staff
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    model.upload(MESSY, "customers.csv")
    assert model.column_map()["Shoe size"] == "-" and model.new_custom() == {}
    model.preview()
    model.custom = True
    assert model.step == "columns"
    assert model.new_custom() == {
        "WhatsApp No": "custom.whatsapp_no",
        "Shoe size": "custom.shoe_size",
    }
    assert "Shoe size" not in model.column_map()  # crm_core defines it and fills it
    row = model.mapping[model.mapping["column"] == "Shoe size"].iloc[0]
    assert row["note"] == "a new custom field, custom.shoe_size"
    model.set_field("WhatsApp No", "mobile")  # a field by hand wins
    assert model.new_custom() == {"Shoe size": "custom.shoe_size"}
    assert model.run_options() == {
        "mode": "upsert",
        "sheet": None,
        "match": ["erp_id", "email", "phone", "name"],
        "custom": True,
    }
    preview = model.preview()
    assert preview is not None and preview.rejected == 1  # only the bad e-mail
    assert preview.custom_fields_defined == ["shoe_size"]
    assert "shoe_size" not in ws.custom_fields.list("contact")["name"].tolist()  # rolled back
    report = model.run_import()
    assert report.custom_fields_defined
    assert "shoe_size" in ws.custom_fields.list("contact")["name"].tolist()
    olga = ws.contacts.get(contacts(ws)["Olga Smirnova"]["id"])
    assert olga["custom"]["shoe_size"] == "39"
    model.custom = False
    assert model.new_custom() == {} and model.column_map()["Shoe size"] == "-"


def test_a_workbook_of_two_sheets_imports_the_sheet_chosen(staff):
    ws, _imran = staff
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Whatever", "Else"])
    book.active.append(["x", "y"])
    second = book.create_sheet("Customers")
    second.append(["Name", "Email", "Shoe size"])
    second.append(["Nadia Islam", "nadia@dhaka.example.com", 38])
    data = io.BytesIO()
    book.save(data)
    model = ImportWizardModel(ws.as_user("ayesha"), background=False)
    model.upload(data.getvalue(), "book.xlsx")
    assert model.sheets == ["Notes", "Customers"] and model.sheet == "Notes"
    assert model.mapping["column"].tolist() == ["Whatever", "Else"]
    model.sheet = "Customers"
    model.custom = True
    assert model.mapping["field"].tolist() == ["name", "email", "custom.shoe_size"]
    assert model.mapping["example"].tolist() == ["Nadia Islam", "nadia@dhaka.example.com", "38"]
    report = model.preview()  # the new custom field's column left out: no row refused
    assert (report.created, report.rejected) == (1, 0)
    assert model.run_import().created == 1 and "Nadia Islam" in contacts(ws)
    model.upload(MESSY, "customers.csv")
    assert (model.sheets, model.sheet) == ([], "")


def test_activities_have_no_keys_and_no_custom_fields(staff):
    ws, _imran = staff
    page = DataQuality(ws.as_user("ayesha"))
    layout = pn.panel(page)
    layout.get_root()
    model = page.model.imports
    options = part(layout, "crm-import-options")
    shown = {w.css_classes[0]: w.visible for w in options}
    assert shown == {
        "crm-import-mode": True,
        "crm-import-dates": True,
        "crm-import-match": True,
        "crm-import-custom": True,
        "crm-import-sheet": False,
    }
    model.entity = "activities"
    assert model.keys == [] and not model.has_keys
    shown = {w.css_classes[0]: w.visible for w in options}
    assert not shown["crm-import-match"] and not shown["crm-import-custom"]
    assert shown["crm-import-mode"]
    model.background = False
    model.custom = True  # left from another entity: not for activities
    model.upload(b"Subject;Kind\r\nCall Imran;call\r\n", "todo.csv")
    assert model.run_options() == {"mode": "upsert", "sheet": None}
    report = model.preview()
    assert report is not None and report.rows == 1 and report.match == ()
