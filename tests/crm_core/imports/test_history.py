"""Activities and interactions from files: linked by name, id or e-mail; a second run
changes nothing."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


@pytest.fixture
def people(ws: crm_core.Workspace) -> dict[str, int]:
    ws.set_setting("timezone", "Asia/Karachi")
    company = ws.companies.create(name="Indus Textiles")
    imran = ws.contacts.create(name="Imran Khan", email="imran@indus.pk", company=company["id"])
    ws.contacts.create(name="Ali", email="ali1@x.pk")
    ws.contacts.create(name="Ali", email="ali2@x.pk")
    deal = ws.pipeline.create("Looms", company=company["id"])
    return {"company": company["id"], "imran": imran["id"], "deal": deal["id"]}


def test_activities(ws: crm_core.Workspace, people: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "tasks.csv"
    path.write_text(
        "Subject,Due date,Type,Contact,Deal,Notes\n"
        "Call about looms,2026-12-10,call,imran@indus.pk,Looms,first\n"
        "Send brochure,2026-12-11,,Indus Textiles,,\n"  # a company's name in Contact: no
        "Visit,2026-12-12,meeting,Ali,,\n"  # two contacts named Ali
        "Visit,2026-13-12,meeting,Imran Khan,,\n"  # no such date
        "Call about looms,2026-12-10,call,imran@indus.pk,Looms,first\n",  # line 2 again
        encoding="utf-8",
    )
    report = ws.importer.run(path, "activities")
    assert (report.created, report.rejected) == (1, 4)
    rejects = _rejects(tmp_path / "tasks.rejects.csv")
    assert "no contact has this name" in rejects[3]["reason"]
    assert "2 contact records have this name" in rejects[4]["reason"]
    assert rejects[5]["field"] == "due_date"
    assert "line 2 of this file" in rejects[6]["reason"]
    (act,) = ws.activities.for_record(contact_id=people["imran"]).to_dict("records")
    assert (act["subject"], act["kind"], act["opportunity_id"]) == (
        "Call about looms",
        "call",
        people["deal"],
    )

    path.write_text(
        "Subject,Due date,Type,Contact,Deal,Notes\n"
        "Call about looms,2026-12-10,call,imran@indus.pk,Looms,bring samples\n",
        encoding="utf-8",
    )
    again = ws.importer.run(path, "activities")
    assert (again.updated, again.created) == (1, 0)
    assert ws.activities.get(act["id"])["note"] == "bring samples"
    assert ws.importer.run(path, "activities").unchanged == 1


def test_interactions(ws: crm_core.Workspace, people: dict[str, int], tmp_path: Path) -> None:
    path = tmp_path / "calls.csv"
    path.write_text(
        "Date,Channel,Direction,Subject,Summary,Company\n"
        "2026-11-03 14:30,call,in,Price,Asked for a quote,Indus Textiles\n"
        "2026-11-04T09:00:00+00:00,email,out,Quote,,Indus Textiles\n"
        ",call,in,No date,,Indus Textiles\n"
        "2026-11-05 10:00,fax,in,Old ways,,Indus Textiles\n",
        encoding="utf-8",
    )
    report = ws.importer.run(path, "interactions")
    assert (report.created, report.rejected) == (2, 2)
    rejects = _rejects(tmp_path / "calls.rejects.csv")
    assert rejects[4]["field"] == "occurred_at" and rejects[5]["field"] == "channel"
    timeline = ws.interactions.timeline(company_id=people["company"])
    times = sorted(timeline["occurred_at"])
    # 14:30 in Karachi (UTC+5) is 09:30 UTC.
    assert times[0] == dt.datetime(2026, 11, 3, 9, 30, tzinfo=dt.UTC)
    again = ws.importer.run(path, "interactions")
    assert (again.created, again.unchanged, again.rejected) == (0, 2, 2)
    with pytest.raises(ImportRefused, match="leave out --match"):
        ws.importer.run(path, "interactions", match="email")
