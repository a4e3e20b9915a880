"""The Data quality page in a real browser (Debian's Chromium through Playwright) on the
real ``crmbook serve``: a manager uploads a small CSV with one bad row, checks and
changes the columns, previews, imports with progress, reads the counts and downloads
the rejected row; a sales user has no such page, in the navigation or at its address."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import crm_core
from tests.widgets.browser import login, shoot

pytestmark = pytest.mark.slow
VIEW = {"width": 1500, "height": 1000}
#: Three customers and one bad e-mail; the WhatsApp column is one the guess misses.
CSV = (
    b"Name,Email,City,WhatsApp No\r\n"
    b"Farhan Ali,farhan@example.com,Lahore,0321 7654321\r\n"
    b"Bad Row,not-an-email,Multan,\r\n"
    b"Nadia Hussain,nadia@example.com,Karachi,\r\n"
)


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns a truthy value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def cell(page: Any, table: str, row_text: str, field: str) -> Any:
    row = page.locator(f"{table} .tabulator-row", has_text=row_text).first
    return row.locator(f".tabulator-cell[tabulator-field='{field}']")


def test_a_manager_imports_a_file_and_downloads_its_rejects(browser, served, tmp_path):
    url, path, _records = served
    page = browser.new_page(viewport=VIEW, accept_downloads=True)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    login(page, url, "ayesha")
    page.locator(".crm-nav-data-quality button").wait_for(timeout=30_000)
    page.locator(".crm-nav-data-quality button").click()
    page.wait_for_function("location.hash === '#/data-quality'")
    chooser = page.locator(".crm-import-file input[type=file]")
    chooser.wait_for(state="attached", timeout=30_000)
    chooser.set_input_files(
        files=[{"name": "customers.csv", "mimeType": "text/csv", "buffer": CSV}]
    )

    # The columns as guessed, an example of each; WhatsApp No is left out.
    mapping = ".crm-import-mapping"
    cell(page, mapping, "WhatsApp No", "field").get_by_text("(leave out)").wait_for()
    assert cell(page, mapping, "Email", "field").inner_text() == "E-mail"
    assert cell(page, mapping, "City", "example").inner_text() == "Lahore"
    page.locator(".crm-alert").get_by_text("customers.csv: 4 columns; 3 fill a field").wait_for()

    # Choose what it fills in the row's list.
    cell(page, mapping, "WhatsApp No", "field").click()
    page.locator(".tabulator-edit-list-item", has_text="Mobile").first.click()
    cell(page, mapping, "WhatsApp No", "field").get_by_text("Mobile").wait_for()
    page.locator(".crm-alert").get_by_text("WhatsApp No now fills Mobile.").wait_for()

    page.locator(".crm-import-preview button").click()
    outcome = ".crm-import-outcome"
    page.locator(".crm-alert").get_by_text("Preview of customers.csv: 3 rows").wait_for(
        timeout=30_000
    )
    assert cell(page, outcome, "Created", "rows").inner_text() == "2"
    assert cell(page, outcome, "Rejected", "rows").inner_text() == "1"
    assert "line 3: Bad Row" in cell(page, outcome, "Rejected", "examples").inner_text()
    with crm_core.open(path) as ws:
        assert ws.contacts.search("Farhan").empty  # a preview writes nothing
    shoot(page, "data-quality-01-preview")

    page.locator(".crm-import-run button").click()
    page.locator(".crm-import-progress-text").get_by_text("Done").wait_for(timeout=30_000)
    page.locator(".crm-alert").get_by_text("Imported customers.csv: 3 rows; 2 created").wait_for()
    page.locator(".crm-import-outcome-title").get_by_text("What the import did").wait_for()
    assert cell(page, outcome, "Created", "rows").inner_text() == "2"
    with crm_core.open(path) as ws:
        farhan = ws.contacts.search("Farhan")
        assert farhan["mobile"].tolist() == ["+923217654321"]
        assert ws.contacts.search("Bad Row").empty

    download_button = page.locator(".crm-import-rejects button")
    download_button.get_by_text("Download the rejected rows (customers.rejects.csv)").wait_for()
    picture = tmp_path / "data-quality-imported.png"
    page.screenshot(path=str(picture), full_page=True)
    shoot(page, "data-quality-02-imported")
    with page.expect_download() as info:
        download_button.click()
    download = info.value
    assert download.suggested_filename == "customers.rejects.csv"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    lines = saved.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "Name,Email,City,WhatsApp No,line,field,value,reason"
    assert lines[1].startswith("Bad Row,not-an-email,Multan,,3,email,not-an-email,")
    assert len(lines) == 2
    assert [m for m in messages if "Content Security Policy" in m] == []
    page.close()


def test_a_sales_user_has_no_data_quality_page(browser, served):
    url, _path, _records = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "bilal")
    page.locator(".crm-nav-activities button").wait_for(timeout=30_000)
    assert page.locator(".crm-nav-sync button").count() == 1
    assert page.locator(".crm-nav-data-quality").count() == 0
    # The address typed by hand shows the first page instead.
    page.goto(url + "/#/data-quality")
    page.locator(".crm-reminder").get_by_text("Time to call").wait_for(timeout=30_000)
    page.wait_for_timeout(1000)
    assert page.locator(".crm-import-file").count() == 0
    assert page.locator(".crm-quality").count() == 0
    page.close()


def test_a_manager_merges_a_pair_of_duplicates_and_undoes_it(browser, served):
    url, path, records = served
    imran = records["imran"]["id"]
    with crm_core.open(path) as ws:
        ws.contacts.update(imran, phone="0300 1234567")
        twin = ws.contacts.create(
            name="Imran Khan",
            email="imran.khan@example.com",
            phone="+92 300 1234567",
            city="Lahore",
        )["id"]
    page = browser.new_page(viewport=VIEW)
    messages: list[str] = []
    page.on("console", lambda m: messages.append(m.text))
    login(page, url, "ayesha")
    page.locator(".crm-nav-data-quality button").wait_for(timeout=30_000)
    page.locator(".crm-nav-data-quality button").click()
    page.locator(".crm-quality-tabs .bk-tab", has_text="Duplicates").click()

    # The pair listed with its reasons; selected, both records side by side.
    pairs = ".crm-dups-pairs"
    row = page.locator(f"{pairs} .tabulator-row", has_text="عمران خان").first
    row.wait_for(timeout=30_000)
    assert "same phone" in cell(page, pairs, "عمران خان", "reasons").inner_text()
    cell(page, pairs, "عمران خان", "score").click()
    fields = ".crm-dups-fields"
    cell(page, fields, "city", "b").get_by_text("Lahore").wait_for()
    assert cell(page, fields, "city", "a").inner_text() == "Karachi"
    header = page.locator(f"{fields} .tabulator-col[tabulator-field='a']").inner_text()
    assert f"#{imran}" in header and "stays" in header

    # Lahore chosen for the city, then merged.
    cell(page, fields, "city", "b").click()
    cell(page, fields, "city", "stays").get_by_text("Lahore").wait_for()
    page.locator(".crm-alert").get_by_text("city keeps Lahore.").wait_for()
    shoot(page, "data-quality-03-duplicates")
    page.locator(".crm-dups-merge button").click()
    result = page.locator(".crm-dups-result")
    result.get_by_text(f"#{twin} merged into #{imran}").wait_for(timeout=30_000)
    with crm_core.open(path) as ws:
        assert ws.contacts.get(imran)["city"] == "Lahore"
        merge_id = ws.duplicates.merges(limit=1)["merge_id"].iloc[0]
    result.get_by_text(f"Merge {merge_id}:").wait_for()
    page.locator(f"{pairs} .tabulator-row", has_text="عمران خان").wait_for(state="detached")
    page.locator(".crm-dups-merges .tabulator-row", has_text="ayesha").wait_for()
    assert cell(page, ".crm-dups-merges", "ayesha", "entity").inner_text() == "Contacts"
    assert cell(page, ".crm-dups-merges", "ayesha", "undo").inner_text() == "Undo"
    shoot(page, "data-quality-04-merged")

    page.locator(".crm-dups-undo button").click()
    page.locator(".crm-alert").get_by_text(f"Merge {merge_id} undone").wait_for(timeout=30_000)
    with crm_core.open(path) as ws:
        assert ws.contacts.get(imran)["city"] == "Karachi"
        assert ws.contacts.get(twin)["active"] and ws.contacts.get(twin)["city"] == "Lahore"
    page.locator(f"{pairs} .tabulator-row", has_text="عمران خان").first.wait_for()
    assert [m for m in messages if "Content Security Policy" in m] == []
    page.close()

    # The same review right to left, in Urdu.
    with crm_core.open(path) as ws:
        ws.users.set_language("demo", "ur")
    page = browser.new_page(viewport=VIEW)
    login(page, url, "demo")
    page.locator(".crm-nav-data-quality button").wait_for(timeout=30_000)
    page.locator(".crm-nav-data-quality button").click()
    page.locator(".crm-quality-tabs .bk-tab", has_text="دہرے ریکارڈ").click()
    page.locator(f"{pairs} .tabulator-row", has_text="عمران خان").first.wait_for(timeout=30_000)
    cell(page, pairs, "عمران خان", "score").click()
    cell(page, fields, "city", "b").get_by_text("Lahore").wait_for()
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator(".crm-dups-merge button").inner_text() == "ضم کریں"
    shoot(page, "data-quality-05-duplicates-ur")
    page.close()


def test_a_file_too_large_is_refused_with_a_message_and_the_page_stays(browser, served):
    """16 MB is over the wizard's limit, and its base64 (21 MB) over Bokeh's default
    message size, which used to drop the page's connection without a word."""
    url, _path, _records = served
    page = browser.new_page(viewport=VIEW)
    login(page, url, "ayesha")
    page.locator(".crm-nav-data-quality button").wait_for(timeout=30_000)
    page.locator(".crm-nav-data-quality button").click()
    chooser = page.locator(".crm-import-file input[type=file]")
    chooser.wait_for(state="attached", timeout=30_000)
    big = CSV + b"x" * (16 * 1024 * 1024)
    chooser.set_input_files(files=[{"name": "big.csv", "mimeType": "text/csv", "buffer": big}])
    page.locator(".crm-alert").get_by_text("the page takes files up to 10 MB").wait_for(
        timeout=60_000
    )
    # Still connected: the page answers a click.
    page.locator(".crm-nav-contacts button").click()
    page.wait_for_function("location.hash.startsWith('#/contacts')", timeout=30_000)
    page.close()


def _workbook() -> bytes:
    """A workbook whose first sheet is notes and whose second holds the customers, one
    column of them (Shoe size) no field takes."""
    import io

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Notes"
    book.active.append(["Read me"])
    customers = book.create_sheet("Customers")
    customers.append(["Name", "Email", "Shoe size"])
    customers.append(["Salma Begum", "salma@example.com", 38])
    data = io.BytesIO()
    book.save(data)
    return data.getvalue()


def test_the_options_choose_the_sheet_and_keep_an_unknown_column(browser, served):
    url, path, _records = served
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for user, language, sheet_label, new_label in (
        ("ayesha", "en", "Sheet", "new custom field"),
        ("demo", "ur", "شیٹ", "نئی حسب ضرورت فیلڈ"),
    ):
        with crm_core.open(path) as ws:
            ws.users.set_language(user, language)
        page = browser.new_page(viewport=VIEW)
        login(page, url, user)
        page.locator(".crm-nav-data-quality button").wait_for(timeout=30_000)
        page.locator(".crm-nav-data-quality button").click()
        options = page.locator(".crm-import-options")
        options.locator(".crm-import-mode select").wait_for(timeout=30_000)
        assert page.locator(".crm-import-sheet").is_hidden()
        chooser = page.locator(".crm-import-file input[type=file]")
        chooser.set_input_files(
            files=[{"name": "book.xlsx", "mimeType": xlsx, "buffer": _workbook()}]
        )
        sheet = page.locator(".crm-import-sheet select")
        sheet.wait_for(timeout=30_000)
        assert sheet_label in page.locator(".crm-import-sheet label").inner_text()
        mapping = ".crm-import-mapping"
        cell(page, mapping, "Read me", "column").wait_for()
        sheet.select_option("Customers")
        cell(page, mapping, "Shoe size", "field").wait_for()
        page.locator(".crm-import-custom input").check()
        cell(page, mapping, "Shoe size", "field").get_by_text(new_label).wait_for()
        page.locator(".crm-import-preview button").click()
        page.locator(".crm-import-outcome").wait_for(timeout=30_000)
        shoot(page, f"data-quality-06-options-{language}")
        page.close()
