"""A file that cannot be read to its end never ends in a traceback with part of it
written: a row with an oversized cell is a reject, a bad byte is refused before any
row is written, a quote never closed stops the reading at a line it names, with the
counts adding up for what was read. Old Mac files (CR alone ends a line) are read."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports import ImportStopped, reading
from tests.crm_core.test_cli import crmbook


def _rows(report: crm_core.imports.ImportReport) -> int:
    return report.created + report.updated + report.unchanged + report.rejected


def test_cr_only_line_ends_are_read(sqlite_ws: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(
        b'Name,Email,Notes\rAli Raza,ali@x.pk,\rSana Mir,sana@x.pk,"one\rtwo"\rBad,bad@,\r'
    )
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert (report.created, report.rejected) == (2, 1)
    assert sorted(sqlite_ws.contacts.search()["name"]) == ["Ali Raza", "Sana Mir"]
    sana = sqlite_ws.contacts.get(int(sqlite_ws.contacts.search(q="Sana")["id"][0]))
    assert sana["notes"] in ("one\rtwo", "one\ntwo")
    with (tmp_path / "mac.rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        (reject,) = csv.DictReader(f)
    assert (reject["line"], reject["field"]) == ("5", "email")


def test_a_cell_over_16_mib_is_a_reject(sqlite_ws: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    huge = "x" * (reading.MAX_CELL + 1)
    path.write_text(f"Name,Email,Notes\nAli,ali@x.pk,ok\nBig,big@x.pk,{huge}\nZed,zed@x.pk,ok\n")
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert (report.rows, report.created, report.rejected) == (3, 2, 1)
    assert report.rows == _rows(report)
    (example,) = report.examples["rejected"]
    assert (example.line, example.name) == (3, "Big")
    assert "longer than 16 MiB" in example.detail
    assert sorted(sqlite_ws.contacts.search()["name"]) == ["Ali", "Zed"]


def test_a_bad_byte_late_in_the_file_is_refused_before_any_row(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    lines = ["Name,Email"] + [f"P{i},p{i}@x.pk" for i in range(6000)]
    lines[5500] = "Beyonc\xe9,b@x.pk"  # line 5501, in Latin-1
    path = tmp_path / "late.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    with pytest.raises(ImportRefused, match=r"late.csv line 5501: not readable as utf-8 \(inv"):
        sqlite_ws.importer.run(path, "contacts", encoding="utf-8", workers=0)
    assert sqlite_ws.contacts.count() == 0
    # Found, not given: Latin-1 text is read as cp1252, all of it.
    report = sqlite_ws.importer.run(path, "contacts", workers=0)
    assert (report.created, report.encoding) == (6000, "cp1252")


@pytest.fixture
def small_field_limit() -> Iterator[int]:
    before = csv.field_size_limit()
    limit = 1 << 20
    saved = reading._FIELD_LIMIT
    reading._FIELD_LIMIT = limit
    csv.field_size_limit(limit)
    yield limit
    csv.field_size_limit(before)
    reading._FIELD_LIMIT = saved


def test_a_quote_never_closed_stops_at_its_line_counts_adding_up(
    sqlite_ws: crm_core.Workspace, tmp_path: Path, small_field_limit: int
) -> None:
    lines = ["Name,Email"] + [f"P{i},p{i}@x.pk" for i in range(7000)]
    lines[6000] = '"Runaway,r@x.pk'  # line 6001: everything after it is one cell
    filler = ("y" * 1000 + "\n") * (2 * small_field_limit // 1000)
    path = tmp_path / "runaway.csv"
    path.write_text("\n".join(lines) + "\n" + filler)
    with pytest.raises(
        ImportStopped, match=r"runaway\.csv line 6001: a cell longer than 1 MiB"
    ) as e:
        sqlite_ws.importer.run(path, "contacts", workers=0, batch_size=1000)
    report = e.value.report
    # Every row before the line was read, and written in whole batches.
    assert report.rows == _rows(report) == report.created == 5999
    assert sqlite_ws.contacts.count() == 5999


def test_the_command_line_ends_in_one_line(tmp_path: Path) -> None:
    assert crmbook("init", "W.sqlite", cwd=tmp_path).returncode == 0
    lines = ["Name,Email"] + [f"P{i},p{i}@x.pk" for i in range(20)]
    lines[10] = "Beyonc\xe9,b@x.pk"
    (tmp_path / "late.csv").write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    done = crmbook(
        "import", "contacts", "late.csv", "-w", "W.sqlite", "--encoding", "utf-8", cwd=tmp_path
    )
    assert done.returncode == 1
    assert done.stderr.strip().startswith("error: late.csv line 11: not readable as utf-8")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
