"""An export's temporary files: beside the workbook, owner-only, and gone after the next
export when the one that made them was killed."""

from __future__ import annotations

import io
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

from crm_core.export import tempfiles
from crm_core.export.workbook import WorkbookBuilder
from crm_core.reports.base import Column

COLUMNS = [Column("n", "int"), Column("name", "text")]

# A child that streams contacts into a workbook and stops half-way, to be killed.
CHILD = """
import sys, time
from crm_core.export.workbook import WorkbookBuilder
from crm_core.reports.base import Column

def rows():
    for i in range(30_000):
        if i == 20_000:
            print("half-way", flush=True)
            time.sleep(120)
        yield (i, f"Contact number {i}")

with WorkbookBuilder(sys.argv[1], title="contacts") as book:
    book.add_table("Contacts", [Column("n", "int"), Column("name", "text")], rows())
"""


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(done.stdout)


def _write(target, rows=((1, "a"), (2, "b"))) -> None:
    with WorkbookBuilder(target, title="t") as book:
        book.add_table("T", COLUMNS, rows)


def test_a_killed_export_is_cleaned_up_by_the_next(tmp_path: Path):
    target = tmp_path / "contacts.xlsx"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "half-way"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    left = sorted(tmp_path.iterdir())
    assert [p.suffix for p in left] == [".part", ".tmp"]
    part, folder = left
    assert part.name.startswith(f".contacts.xlsx.crmbook-{child.pid}-")
    assert _mode(part) == 0o600 and _mode(folder) == 0o700
    streamed = list(folder.iterdir())
    assert streamed and all(_mode(p) == 0o600 for p in streamed)
    assert any(b"Contact number" in p.read_bytes() for p in streamed)  # what would leak
    assert not target.exists()

    _write(tmp_path / "other.xlsx")  # the next export in that folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.xlsx"]


def test_leftovers_of_a_live_process_are_kept_until_an_hour_old(tmp_path: Path):
    alive = os.getppid()
    fresh = tmp_path / f".a.xlsx.crmbook-{alive}-0123abcd.part"
    old = tmp_path / f".b.xlsx.crmbook-{alive}-89abcdef.part"
    old_dir = tmp_path / f".b.xlsx.crmbook-{alive}-89abcdef.tmp"
    dead = tmp_path / f".c.xlsx.crmbook-{_dead_pid()}-deadbeef.tmp"
    legacy_old = tmp_path / ".d.xlsx.0a1b2c3d.part"  # an older crmbook's name
    legacy_new = tmp_path / ".e.xlsx.4e5f6a7b.part"
    mine = [tmp_path / "notes.txt", tmp_path / ".x.part", tmp_path / "f.xlsx"]
    for path in (fresh, old, legacy_old, legacy_new, *mine):
        path.write_bytes(b"x")
    for path in (old_dir, dead):
        path.mkdir()
        (path / "sheet").write_bytes(b"rows")
    two_hours_ago = time.time() - 7200
    for path in (old, old_dir, old_dir / "sheet", legacy_old):
        os.utime(path, (two_hours_ago, two_hours_ago))

    removed = tempfiles.sweep(tmp_path)

    assert sorted(p.name for p in removed) == sorted(
        p.name for p in (old, old_dir, dead, legacy_old)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in (fresh, legacy_new, *mine)
    )


def test_an_old_part_is_kept_while_its_folder_is_being_written(tmp_path: Path):
    alive = os.getppid()
    part = tmp_path / f".a.xlsx.crmbook-{alive}-0123abcd.part"
    folder = tmp_path / f".a.xlsx.crmbook-{alive}-0123abcd.tmp"
    part.write_bytes(b"")
    folder.mkdir()
    (folder / "sheet").write_bytes(b"rows streaming now")
    long_ago = time.time() - 3 * 3600
    os.utime(part, (long_ago, long_ago))
    os.utime(folder, (long_ago, long_ago))
    assert tempfiles.sweep(tmp_path) == []
    assert part.exists() and folder.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_the_finished_workbook_follows_the_umask(tmp_path: Path, umask: int, mode: int):
    target = tmp_path / "review.xlsx"
    before = os.umask(umask)
    try:
        assert tempfiles.umask() == umask
        _write(target)
    finally:
        os.umask(before)
    assert _mode(target) == mode
    assert [p.name for p in tmp_path.iterdir()] == ["review.xlsx"]
    sheet = openpyxl.load_workbook(target, read_only=True)["T"]
    assert [r for r in sheet.iter_rows(values_only=True)] == [
        ("n", "name"),  # the identifiers (a hidden row), then the titles
        ("N", "Name"),
        (1, "a"),
        (2, "b"),
    ]


def test_a_download_uses_the_system_temp_folder_and_sweeps_it(tmp_path: Path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    stale = tmp_path / f"crmbook-xlsx-{_dead_pid()}-0123abcd"
    stale.mkdir()
    (stale / "sheet").write_bytes(b"rows")
    other = tmp_path / "someone-elses"
    other.mkdir()
    buffer = io.BytesIO()
    _write(buffer)
    assert buffer.getvalue()[:2] == b"PK"
    assert [p.name for p in tmp_path.iterdir()] == ["someone-elses"]
