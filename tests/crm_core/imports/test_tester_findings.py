"""What an independent tester found wrong with ``crmbook import``, each one fixed: a
UTF-8 file with a bad line is refused (not read garbled in a code page), a quote never
closed stops the reading at its line, the rejects file's header is formula-escaped and
read back, importing workers end with the process that started them, a rejects file
whose input had its own ``line`` or ``reason`` column is known again, messages name
the file's field, and an Excel serial number in a date column is a date."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports import ImportStopped
from crm_core.imports.cells import EXTRA, extra_columns, is_rejects_header
from crm_core.imports.encoding import detect_encoding
from crm_core.imports.reading import open_source
from crm_core.imports.rejects import Rejects

# -- 1. UTF-8 but for a line -----------------------------------------------------------


def test_utf8_with_one_bad_byte_is_refused_naming_its_line(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    rows = ["name,email"] + [f"کریم خان {i},k{i}@example.pk" for i in range(50)]
    data = ("\n".join(rows) + "\n").encode("utf-8").replace(b"k30@", b"k30\xff@")
    path = tmp_path / "urdu.csv"
    path.write_bytes(data)
    assert detect_encoding(path) == "utf-8"
    with pytest.raises(ImportRefused) as e:
        sqlite_ws.importer.run(path, "contacts", workers=0)
    message = str(e.value)
    # k30 is the 31st row: line 32.
    assert "urdu.csv line 32: not readable as utf-8" in message
    assert "nothing was imported" in message and "--encoding" in message
    assert sqlite_ws.contacts.count() == 0


def test_utf8_with_one_cp1252_line_is_refused_not_read_garbled(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(
        b"name,email\n"
        + "José Müller,jose@example.com\n".encode()
        + "Renée Côté,renee@example.com\n".encode("cp1252")
        + b"Ann Lee,ann@example.com\n"
    )
    assert detect_encoding(path) == "utf-8"
    with pytest.raises(ImportRefused, match=r"mixed\.csv line 3: not readable as utf-8"):
        sqlite_ws.importer.run(path, "contacts", workers=0)
    assert sqlite_ws.contacts.count() == 0
    # Several UTF-8 lines around it: the same.
    path.write_bytes(
        b"name,email\n"
        + "".join(f"José Müller {i},j{i}@example.com\n" for i in range(5)).encode()
        + "Renée Côté,renee@example.com\n".encode("cp1252")
    )
    with pytest.raises(ImportRefused, match=r"mixed\.csv line 7: not readable as utf-8"):
        sqlite_ws.importer.run(path, "contacts", workers=0)
    assert sqlite_ws.contacts.count() == 0


@pytest.mark.parametrize(
    ("names", "encoding"),
    [
        (["Renée Côté", "François Ægir", "Zoë Straße"], "cp1252"),
        (["Иван Петров", "Віктор Ёлкин", "ВІ ЖЁ"], "cp1251"),
        (["کريم خان", "فاطمہ بي بي", "گوجرانوالہ ڈاکٹر"], "cp1256"),
    ],
)
def test_code_page_files_are_still_read_in_their_code_page(
    tmp_path: Path, names: list[str], encoding: str
) -> None:
    path = tmp_path / "cp.csv"
    lines = ["name,email"] + [f"{n},p{i}@x.pk" for i, n in enumerate(names)]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    assert detect_encoding(path) == encoding


# -- 2. a quote never closed -----------------------------------------------------------


def test_a_quote_never_closed_at_the_end_stops_at_its_line(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "uq.csv"
    path.write_text(
        'name,email,notes\nA One,a1@example.com,ok\nB Two,b2@example.com,"oops\n'
        "C Three,c3@example.com,x\nD Four,d4@example.com,y\n"
    )
    with pytest.raises(ImportStopped, match=r"uq\.csv line 3: a quote opens a cell") as e:
        sqlite_ws.importer.run(path, "contacts", workers=0)
    report = e.value.report
    assert (report.rows, report.created, report.rejected) == (1, 1, 0)
    assert list(sqlite_ws.contacts.search()["name"]) == ["A One"]


def test_the_line_named_is_where_the_quote_opens(tmp_path: Path) -> None:
    path = tmp_path / "late.csv"
    path.write_text('name,email,notes,tags\nA One,a@x.pk,"two\nlines","open\nrest\nof the file\n')
    src = open_source(path)
    assert list(src.rows()) == []
    assert src.error is not None and "late.csv line 3: a quote opens" in src.error
    # A quoted cell closed on the last line is no error; nor is a quote inside a cell.
    path.write_text('name,email,notes\nA One,a@x.pk,"two\nlines"\nB,b@x.pk,say "hi\n')
    src = open_source(path)
    assert list(src.rows()) == [
        (2, ["A One", "a@x.pk", "two\nlines"]),
        (4, ["B", "b@x.pk", 'say "hi']),
    ]
    assert src.error is None


def test_the_command_line_says_where_the_quote_opens(tmp_path: Path) -> None:
    from tests.crm_core.test_cli import crmbook

    assert crmbook("init", "W.sqlite", cwd=tmp_path).returncode == 0
    (tmp_path / "uq.csv").write_text(
        'name,email,notes\nA One,a1@example.com,ok\nB Two,b2@example.com,"oops\n'
        "C Three,c3@example.com,x\n"
    )
    done = crmbook("import", "contacts", "uq.csv", "-w", "W.sqlite", "--workers", "0", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: uq.csv line 3: a quote opens a cell")
    assert "Traceback" not in done.stderr


# -- 3. and 5. the rejects file's header -----------------------------------------------


def test_the_rejects_header_is_formula_escaped_and_read_back(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "hdrf.csv"
    path.write_text('name,email,=HYPERLINK("http://x";"y")\nBad Row,bad,z\n')
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert report.rejected == 1
    rejects = tmp_path / "hdrf.rejects.csv"
    first = rejects.read_text(encoding="utf-8-sig").splitlines()[0]
    assert first.startswith("name,email,\"'=HYPERLINK(")
    again = open_source(rejects)
    assert again.escaped
    assert again.columns == ["name", "email", '=HYPERLINK("http://x";"y")', *EXTRA]
    assert (
        sqlite_ws.importer.columns(rejects, "contacts")["column"].tolist()[:3] == again.columns[:3]
    )


def test_a_rejects_file_with_its_own_line_or_reason_column_is_known_again(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "own.csv"
    path.write_text("name,email,line,reason\nBad Row,bad,=1+2,@boss\n")
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert report.rejected == 1
    rejects = tmp_path / "own.rejects.csv"
    with rejects.open(encoding="utf-8-sig", newline="") as f:
        header, row = list(csv.reader(f))
    assert header == ["name", "email", "line", "reason", "_line", "field", "value", "_reason"]
    assert row[2:4] == ["'=1+2", "'@boss"]
    again = open_source(rejects)
    assert again.escaped
    ((line, cells),) = list(again.rows())
    assert line == 2
    assert cells[:4] == ["Bad Row", "bad", "=1+2", "@boss"]


def test_is_rejects_header_follows_the_rule_rejects_write_by(tmp_path: Path) -> None:
    for columns in (["name"], ["name", "line"], ["reason", "_reason", "value"], ["a", "b"]):
        header = Rejects(None, columns, None).header
        assert header == [*columns, *extra_columns(columns)]
        assert is_rejects_header(header)
    assert not is_rejects_header(["name", "email", "line", "field", "value", "_reason"])
    assert not is_rejects_header(["name", "line", "field", "value", "reason"][1:])


# -- 4. workers end with the process that started them ---------------------------------

_SCRIPT = """
import sys
import crm_core

def progress(report, fraction=None):
    print("batch", flush=True)

if __name__ == "__main__":
    ws = crm_core.open(sys.argv[1])
    if sys.argv[3] == "importer":
        ws.importer.run(sys.argv[2], "contacts", workers=1, batch_size=50, progress=progress)
    else:  # crm_core.bulk, the sync's and scripts' bulk load
        import csv
        from crm_core import bulk
        with open(sys.argv[2], newline="") as f:
            bulk.import_contacts(
                ws, csv.DictReader(f), workers=1, batch_size=50, progress=progress
            )
"""


def _gone(pid: int) -> bool:
    try:
        import psutil
    except ImportError:
        stat = Path(f"/proc/{pid}/stat")
        try:
            return stat.read_text().split(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            return True
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _workers(pid: int) -> list[int]:
    """The pids of the spawned workers of process ``pid`` (not its resource tracker)."""
    try:
        import psutil

        children = [(c.pid, " ".join(c.cmdline())) for c in psutil.Process(pid).children()]
    except ImportError:
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                cmdline = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ")
                children.append((int(child), cmdline.decode()))
    return [p for p, cmd in children if "spawn_main" in cmd]


@pytest.mark.skipif(sys.platform != "linux", reason="looks at processes the Linux way")
@pytest.mark.parametrize("how", ["importer", "bulk"])
def test_workers_end_when_the_importing_process_is_killed(
    tmp_path: Path, sqlite_template: Path, how: str
) -> None:
    db = tmp_path / "crm.sqlite"
    shutil.copy(sqlite_template, db)
    data = tmp_path / "many.csv"
    data.write_text(
        "name,email,phone\n"
        + "".join(f"Person {i},p{i}@example.com,+92 300 {i:07d}\n" for i in range(200_000))
    )
    script = tmp_path / "run_import.py"
    script.write_text(textwrap.dedent(_SCRIPT))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    parent = subprocess.Popen(
        [sys.executable, str(script), str(db), str(data), how],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    workers: list[int] = []
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "batch"  # a worker prepared a batch
        workers = _workers(parent.pid)
        assert workers, "no worker process found"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and not all(_gone(w) for w in workers):
            time.sleep(0.2)
        assert all(_gone(w) for w in workers), f"workers {workers} outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for w in workers:
            if not _gone(w):
                os.kill(w, signal.SIGKILL)


# -- 6. messages -----------------------------------------------------------------------


def test_an_interaction_date_refusal_names_occurred_at(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    sqlite_ws.companies.create(name="Indus Textiles")
    path = tmp_path / "calls.csv"
    path.write_text(
        "Date,Channel,Direction,Subject,Company\nyesterday,call,in,Price,Indus Textiles\n"
    )
    report = sqlite_ws.importer.run(path, "interactions", workers=0)
    assert report.rejected == 1
    (example,) = report.examples["rejected"]
    assert example.detail.startswith("occurred_at: is not an ISO date and time")
    with (tmp_path / "calls.rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        (reject,) = csv.DictReader(f)
    assert reject["field"] == "occurred_at"
    assert reject["reason"].startswith("occurred_at: ")


def test_a_dry_run_says_custom_fields_would_be_defined(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_text("name,email,remark\nAli,ali@x.pk,hello\n")
    dry = sqlite_ws.importer.run(path, "contacts", custom=True, dry_run=True, workers=0)
    assert "custom fields would be defined: remark" in dry.summary()
    done = sqlite_ws.importer.run(path, "contacts", custom=True, workers=0)
    assert "custom fields defined: remark" in done.summary()


# -- 7. an Excel serial number in a date column ----------------------------------------


def _workbook(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "email", "birthday", "phone"])
    sheet.append(["Ali", "ali@x.pk", 33000, 3001234567])
    sheet.append(["Sana", "sana@x.pk", 33000.0, None])
    sheet.append(["Zed", "zed@x.pk", 3_000_000, None])  # past 9999-12-31: no serial
    book.save(path)


def test_an_excel_serial_in_a_date_column_is_its_date(tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    _workbook(path)
    src = open_source(path)
    src.date_columns = frozenset({"birthday"})
    rows = list(src.rows())
    assert [cells[2] for _, cells in rows] == ["1990-05-07", "1990-05-07", "3000000"]
    assert rows[0][1][3] == "3001234567"  # a number elsewhere stays its digits


def test_an_excel_serial_birthday_is_imported(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "people.xlsx"
    _workbook(path)
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    # Ali's phone is none in the workspace's region; Zed's birthday is no serial.
    assert (report.created, report.rejected) == (1, 2)
    sana = sqlite_ws.contacts.get(int(sqlite_ws.contacts.search(q="Sana")["id"][0]))
    assert str(sana["birthday"])[:10] == "1990-05-07"


# -- 8. XLSX formulas no program computed -----------------------------------------------
def test_a_formula_with_no_value_saved_refuses_the_workbook_naming_its_cells(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    """openpyxl (and many exports) write formulas without their values: read as values,
    those cells are empty (a phone lost, a name "required"); the file is refused before
    any row, naming the cells. A formula whose value was saved is read as that value."""
    path = tmp_path / "formulas.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "email", "phone"])
    sheet.append(["Ali", "ali@example.pk", '="0300"&"1234597"'])
    sheet.append(['=HYPERLINK("http://x","y")', "y@example.pk", ""])
    book.save(path)
    with pytest.raises(ImportRefused, match=r"C2, A3: a formula with no value saved"):
        sqlite_ws.importer.run(path, "contacts")
    assert sqlite_ws.contacts.count() == 0

    # the same file as a spreadsheet saves it: <v> holds the formula's value
    saved = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(saved, "w") as out:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b'<f>"0300"&amp;"1234597"</f><v />',
                    b'<f>"0300"&amp;"1234597"</f><v>03001234597</v>',
                ).replace(
                    b'<f>HYPERLINK("http://x","y")</f><v />',
                    b'<f>HYPERLINK("http://x","y")</f><v>y</v>',
                )
                data = data.replace(b'<c r="A3">', b'<c r="A3" t="str">').replace(
                    b'<c r="C2">', b'<c r="C2" t="str">'
                )
            out.writestr(item, data)
    report = sqlite_ws.importer.run(saved, "contacts", dry_run=True)
    assert report.rows == 2
