"""Round 7: a file brings a business's closed deals (a won or lost stage, with the day it
was closed and, lost, why), closed through the service like any win or loss; a date no
order reads is "no day of the calendar", not sent to an option that refuses it too; a
row with cells past the header keeps them, as the file wrote them, in the rejects.

Today is 2026-05-15 (the ``clock`` fixture)."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

import crm_core
from crm_core.models import JournalEntry, StageChange

UTC = dt.UTC


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


def _deals(ws: crm_core.Workspace) -> dict[str, dict]:
    return {
        str(r["name"]): ws.pipeline.get(int(r["id"])) for _, r in ws.pipeline.search().iterrows()
    }


def _status_entries(ws: crm_core.Workspace, deal_id: int) -> list[str]:
    with ws.transaction() as s:
        return list(
            s.scalars(
                select(JournalEntry.new).where(
                    JournalEntry.entity == "opportunities",
                    JournalEntry.record_id == deal_id,
                    JournalEntry.action == "update",
                    JournalEntry.field == "status",
                )
            )
        )


@pytest.mark.parametrize("workers", [0, 1])
def test_closed_deals_are_imported_closed_on_their_day(
    ws: crm_core.Workspace, tmp_path: Path, workers: int
) -> None:
    ws.set_setting("timezone", "Asia/Karachi")
    path = tmp_path / "deals.csv"
    path.write_text(
        "Name,Stage,Amount,Closed on,Lost reason\n"
        "Looms 2025,Won,1000,2025-11-03,\n"
        "Yarn,Lost,500,2026-01-20,Too expensive\n"
        "Dyes,New,300,,\n"
        "No day,Won,100,,\n"
        "Later,Won,100,2099-01-01,\n"
        "Open closed,New,100,2026-01-01,\n"
        "No reason,Lost,100,2026-01-02,\n"
        "Won why,Won,100,2026-01-02,Price\n",
        encoding="utf-8",
    )
    report = ws.importer.run(path, "opportunities", workers=workers)
    assert (report.created, report.rejected) == (3, 5)
    deals = _deals(ws)
    won, lost, dyes = deals["Looms 2025"], deals["Yarn"], deals["Dyes"]
    # the start of the day in the workspace's time zone (Karachi, UTC+5)
    assert (won["status"], won["stage"], won["probability"]) == ("won", "Won", Decimal(100))
    assert won["closed_at"] == dt.datetime(2025, 11, 2, 19, 0, tzinfo=UTC)
    assert won["lost_reason"] is None
    assert (lost["status"], lost["stage"], lost["lost_reason"]) == ("lost", "Lost", "Too expensive")
    assert lost["closed_at"] == dt.datetime(2026, 1, 19, 19, 0, tzinfo=UTC)
    assert (dyes["status"], dyes["closed_at"]) == ("open", None)
    # closed as any win or loss: journaled
    assert len(_status_entries(ws, won["id"])) == len(_status_entries(ws, lost["id"])) == 1
    # the historical revenue lands in its own period, not on the import day
    november = ws.reports.run("win_loss", period_from="2025-11-01", period_to="2025-11-30")
    assert [(r.outcome, r.count, r.value) for r in november.itertuples()] == [
        ("won", 1, Decimal("1000.00"))
    ]
    today = ws.reports.run("win_loss", period_from="2026-05-15", period_to="2026-05-15")
    assert today.empty
    rejects = _rejects(tmp_path / "deals.rejects.csv")
    assert {n: (r["field"], r["reason"]) for n, r in rejects.items()} == {
        5: (
            "closed_at",
            "closed_at: is required for a won deal: the day it was won (column Closed on)",
        ),
        6: ("closed_at", "closed_at: is in the future: a deal is closed on a day that has come"),
        7: (
            "closed_at",
            "closed_at: only a won or lost deal has one: give its stage (won or lost) with it",
        ),
        8: (
            "lost_reason",
            "lost_reason: is required: a lost deal needs its reason (column Lost reason)",
        ),
        9: ("lost_reason", "lost_reason: a won deal has none"),
    }


def test_existing_deals_are_closed_by_a_reimport(ws: crm_core.Workspace, tmp_path: Path) -> None:
    """The deals exist, open: an update closes them (no "cannot start won or lost"), a
    second run finds them as the file says, a row closing a won deal the other way is
    refused with why."""
    looms = ws.pipeline.create("Looms", expected_revenue=Decimal("700"))["id"]
    yarn = ws.pipeline.create("Yarn")["id"]
    path = tmp_path / "deals.csv"
    path.write_text(
        "Name,Stage,Closed on,Lost reason\n"
        "Looms,Won,2026-03-02,\n"
        "Yarn,Lost,2026-04-07T10:30:00+00:00,No budget\n",
        encoding="utf-8",
    )
    report = ws.importer.run(path, "opportunities", mode="update")
    assert (report.updated, report.rejected) == (2, 0)
    got = ws.pipeline.get(looms)
    assert (got["status"], got["stage"]) == ("won", "Won")
    assert got["closed_at"] == dt.datetime(2026, 3, 2, tzinfo=UTC)
    got = ws.pipeline.get(yarn)
    assert (got["status"], got["lost_reason"]) == ("lost", "No budget")
    assert got["closed_at"] == dt.datetime(2026, 4, 7, 10, 30, tzinfo=UTC)
    assert len(_status_entries(ws, looms)) == 1  # journaled as any win
    with ws.transaction() as s:
        moves = s.scalars(select(StageChange).where(StageChange.opportunity_id == looms)).all()
        assert len(moves) == 2  # created in the first stage, then moved to Won
    # the same file again: nothing to change
    again = ws.importer.run(path, "opportunities", mode="update")
    assert (again.unchanged, again.updated, again.rejected) == (2, 0, 0)
    # a corrected close date is changed; a won deal is not lost by a file
    path.write_text(
        "Name,Stage,Closed on,Lost reason\nLooms,Won,2026-03-05,\nYarn,Won,2026-04-08,\n",
        encoding="utf-8",
    )
    third = ws.importer.run(path, "opportunities")
    assert (third.updated, third.rejected) == (1, 1)
    assert ws.pipeline.get(looms)["closed_at"] == dt.datetime(2026, 3, 5, tzinfo=UTC)
    (reject,) = _rejects(tmp_path / "deals.rejects.csv").values()
    assert reject["reason"] == "status: is already lost: reopen it first"
    assert ws.pipeline.get(yarn)["status"] == "lost"


def test_no_day_of_the_calendar_is_not_sent_to_another_order(
    ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "deals.csv"
    path.write_text(
        "Name,Close date\nFeb,31/02/2027\nXmas,25/12/2026\n",
        encoding="utf-8",
    )
    for order in ("YMD", "DMY"):
        ws.importer.run(path, "opportunities", dates=order)
        rejects = _rejects(tmp_path / "deals.rejects.csv")
        assert rejects[2]["reason"].startswith("expected_close: is no day of the calendar")
        assert "import it with dates" not in rejects[2]["reason"]
    # a real day written day/month/year still names the option that reads it
    ws.importer.run(path, "opportunities")
    assert _rejects(tmp_path / "deals.rejects.csv")[3]["reason"] == (
        "expected_close: is not a date in YYYY-MM-DD form: "
        "this file writes day/month/year: import it with dates DMY"
    )


def test_cells_past_the_header_are_kept_as_the_file_wrote_them(
    ws: crm_core.Workspace, tmp_path: Path
) -> None:
    """The testers' row: an unquoted formula whose comma makes five cells of four; and
    a row with three cells past the header, one quoted, one blank."""
    path = tmp_path / "people.csv"
    path.write_text(
        "Name,Email,City,Notes\n"
        '=HYPERLINK("http://evil","x"),f1@bad,Karachi,+cmd|calc\n'
        'Ali,ali@example.pk,Lahore,note,"a,b",,last\n',
        encoding="utf-8",
    )
    report = ws.importer.run(path, "contacts")
    assert report.rejected == 2
    out = tmp_path / "people.rejects.csv"
    rows = _rejects(out)
    first, second = rows[2], rows[3]
    # the row's own cells under their columns (a formula escaped, as every rejects cell)
    assert (first["Name"], first["Email"], first["City"], first["Notes"]) == (
        '\'=HYPERLINK("http://evil"',
        "x)",
        "f1@bad",
        "Karachi",
    )
    # the cells past the header as the file writes them, not a Python list
    assert first["value"] == "'+cmd|calc"
    assert first["reason"].startswith(
        "the row has 5 cells and the header 4: cell 5 '+cmd|calc' under no column"
    )
    assert second["value"] == '"a,b",,last'
    assert second["reason"].startswith(
        "the row has 7 cells and the header 4: cell 5 'a,b', cell 7 'last' under no column"
    )
    # the value cell reads as the cells the file had past its header; the rejects file
    # imports again (its own columns left out): Ali's row, its four cells, now goes in
    assert next(csv.reader([second["value"]])) == ["a,b", "", "last"]
    back = ws.importer.run(out, "contacts", dry_run=True)
    assert (back.created, back.rejected) == (1, 1)
