"""Dates as the file writes them (``dates="DMY"`` / ``--dates DMY``): every date field of
every entity, custom date fields, the worker processes; no day guessed, no cell changed
in the rejects."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports.dates import as_iso, hint


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


@pytest.mark.parametrize("workers", [0, 1])
def test_contacts_written_day_first(ws: crm_core.Workspace, tmp_path: Path, workers: int) -> None:
    ws.custom_fields.define("contact", "first_order", "date", label="First order")
    path = tmp_path / "people.csv"
    path.write_text(
        "Name,Email,Birthday,First order\n"
        "Ali,ali@example.pk,25/12/1990,1.2.2024\n"
        "Sara,sara@example.pk,03/04/1991,\n"
        "Bad,bad@example.pk,31/02/1990,\n"  # no such day
        "Iso,iso@example.pk,1990-05-06,2024-02-01\n"  # ISO is read in any order
        "Nope,nope@example.pk,yesterday,\n"
        "Later,later@example.pk,,12/13/2024\n",  # month 13
        encoding="utf-8",
    )
    report = ws.importer.run(path, "contacts", dates="dmy", workers=workers)
    assert (report.created, report.rejected) == (3, 3)
    people = {r["name"]: ws.contacts.get(int(r["id"])) for _, r in ws.contacts.search().iterrows()}
    assert people["Ali"]["birthday"] == dt.date(1990, 12, 25)
    assert people["Ali"]["custom"]["first_order"] == dt.date(2024, 2, 1)
    assert people["Sara"]["birthday"] == dt.date(1991, 4, 3)  # the 3rd of April
    assert people["Iso"]["birthday"] == dt.date(1990, 5, 6)
    rejects = _rejects(tmp_path / "people.rejects.csv")
    assert rejects[4]["Birthday"] == "31/02/1990"  # the cell as the file wrote it
    assert rejects[4]["reason"] == "birthday: is no day of the calendar (read as DD/MM/YYYY)"
    assert rejects[6]["reason"] == (
        "birthday: is not a date in DD/MM/YYYY form (the file's dates: DMY)"
    )
    assert rejects[7]["field"] == "custom.first_order"
    assert ws.importer.run(path, "contacts", dates="DMY").unchanged == 3


def test_iso_by_default_and_the_option_named_when_a_file_writes_otherwise(
    ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "people.csv"
    path.write_text(
        "Name,Email,Birthday\n"
        "Ali,ali@example.pk,25/12/1990\n"
        "Tom,tom@example.com,12/25/1990\n"
        "Sara,sara@example.pk,03/04/1991\n"
        "Slash,slash@example.pk,1990/05/06\n",
        encoding="utf-8",
    )
    report = ws.importer.run(path, "contacts")
    assert (report.created, report.rejected) == (1, 3)
    reasons = {n: r["reason"] for n, r in _rejects(tmp_path / "people.rejects.csv").items()}
    assert reasons[2].endswith("this file writes day/month/year: import it with dates DMY")
    assert reasons[3].endswith("this file writes month/day/year: import it with dates MDY")
    assert reasons[4].endswith("import it with dates DMY (day/month/year) or MDY (month/day/year)")
    with pytest.raises(ImportRefused, match="dates 'DM': one of YMD, DMY, MDY"):
        ws.importer.run(path, "contacts", dates="DM")


def test_deals_activities_and_interactions(ws: crm_core.Workspace, tmp_path: Path) -> None:
    ws.set_setting("timezone", "Asia/Karachi")
    company = ws.companies.create(name="Indus Textiles")
    deals = tmp_path / "deals.csv"
    deals.write_text("Name,Company,Expected close\nLooms,Indus Textiles,12/31/2026\n", "utf-8")
    assert ws.importer.run(deals, "opportunities", dates="MDY").created == 1
    (deal,) = ws.pipeline.search()["id"]
    assert ws.pipeline.get(int(deal))["expected_close"] == dt.date(2026, 12, 31)

    tasks = tmp_path / "tasks.csv"
    tasks.write_text("Subject,Due date,Company\nCall,10.12.2026,Indus Textiles\n", "utf-8")
    assert ws.importer.run(tasks, "activities", dates="DMY").created == 1
    (task,) = ws.activities.for_record(company_id=company["id"]).to_dict("records")
    assert task["due_date"] == dt.date(2026, 12, 10)

    calls = tmp_path / "calls.csv"
    calls.write_text(
        "Date,Channel,Direction,Subject,Company\n03/11/2026 14:30,call,in,Price,Indus Textiles\n",
        "utf-8",
    )
    assert ws.importer.run(calls, "interactions", dates="DMY").created == 1
    (when,) = ws.interactions.timeline(company_id=company["id"])["occurred_at"]
    assert when == dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)  # 14:30 in Karachi


def test_reading_a_written_date() -> None:
    assert as_iso("25.12.2026", "DMY") == "2026-12-25"
    assert as_iso("2026/1/5", "YMD") == "2026-01-05"
    assert as_iso("1/5/2026 9:00", "MDY") == "2026-01-05T9:00"
    assert as_iso("25/12/26", "DMY") is None  # a two-digit year: which century?
    assert as_iso("25/12-2026", "DMY") is None  # two separators
    assert hint("2026-12-25") is None
