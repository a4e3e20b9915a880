"""A record merged into another one is archived, not a live record: an import never
matches it. A row carrying one of its keys (its e-mail, its phone, its name) finds the
record it was merged into, following the merges; a row naming a merged-away company
joins the company it was merged into. A merge undone makes the record live again; a
record archived by hand (not merged) is still found, as before."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

import crm_core
from crm_core.imports.matching import survivors
from crm_core.models import Company, Contact


@pytest.fixture
def pk(ws: crm_core.Workspace) -> crm_core.Workspace:
    ws.set_setting("phone_region", "PK")
    return ws


def _run(ws: crm_core.Workspace, entity: str, **columns: list[Any]) -> Any:
    return ws.importer.run(pd.DataFrame(columns), entity)


def _outcomes(report: Any) -> list[tuple[str, int | None, str]]:
    """(outcome, record id, detail) of every row, in line order."""
    rows = [(e.line, o, e.record_id, e.detail) for o, ex in report.examples.items() for e in ex]
    return [(o, rid, detail) for _, o, rid, detail in sorted(rows)]


def _merged_pair(ws: crm_core.Workspace, **dropped: Any) -> tuple[int, int]:
    kept = ws.contacts.create(name="Kept Person", email="kept@x.example.pk")["id"]
    gone = ws.contacts.create(name="Kept Person", email="old@x.example.pk", **dropped)["id"]
    ws.duplicates.merge("contacts", kept, gone, choose={"email": "keep"})
    return kept, gone


def test_merged_away_email_finds_the_survivor_without_rewriting_its_email(
    pk: crm_core.Workspace,
) -> None:
    kept, gone = _merged_pair(pk)
    report = _run(pk, "contacts", name=["Kept Person"], email=["old@x.example.pk"], city=["Quetta"])
    assert _outcomes(report) == [("updated", kept, "city")]
    survivor = pk.contacts.get(kept)
    # The e-mail the merge kept stays: the row found the record by the other one's.
    assert (survivor["email"], survivor["city"], survivor["active"]) == (
        "kept@x.example.pk",
        "Quetta",
        True,
    )
    archived = pk.contacts.get(gone)
    assert (archived["city"], archived["active"]) == (None, False)


def test_phone_both_merged_records_hold_is_one_candidate(pk: crm_core.Workspace) -> None:
    kept, gone = _merged_pair(pk, phone="0300 1110001")
    # The kept record took the phone; the archived one still holds it too.
    assert pk.contacts.get(kept)["phone"] == pk.contacts.get(gone)["phone"] == "+923001110001"
    report = _run(pk, "contacts", name=["Kept Person"], phone=["03001110001"], city=["Sukkur"])
    assert _outcomes(report) == [("updated", kept, "city")]


def test_value_found_through_a_merge_fills_an_empty_field(pk: crm_core.Workspace) -> None:
    kept = pk.contacts.create(name="Kept Person", email="kept@x.example.pk")["id"]
    gone = pk.contacts.create(name="Kept Person", phone="0300 1110002")["id"]
    pk.duplicates.merge("contacts", kept, gone, choose={"phone": "keep"})
    assert pk.contacts.get(kept)["phone"] is None
    report = _run(pk, "contacts", name=["Kept Person"], phone=["03001110002"])
    assert _outcomes(report) == [("updated", kept, "phone")]
    assert pk.contacts.get(kept)["phone"] == "+923001110002"


def test_merges_are_followed_to_the_live_record(pk: crm_core.Workspace) -> None:
    kept, gone = _merged_pair(pk)
    last = pk.contacts.create(name="Kept Person", email="last@x.example.pk")["id"]
    pk.duplicates.merge("contacts", last, kept, choose={"email": "keep"})
    report = _run(pk, "contacts", name=["Kept Person"], email=["old@x.example.pk"], city=["Quetta"])
    assert _outcomes(report) == [("updated", last, "city")]
    with pk.transaction() as s:
        assert survivors(s, Contact, [gone, kept, last]) == {gone: last, kept: last}


def test_undone_merge_makes_the_record_live_again(pk: crm_core.Workspace) -> None:
    kept = pk.contacts.create(name="Kept Person", email="kept@x.example.pk")["id"]
    gone = pk.contacts.create(name="Kept Person", email="old@x.example.pk")["id"]
    merge_id = pk.duplicates.merge("contacts", kept, gone, choose={"email": "keep"})["merge_id"]
    pk.duplicates.undo(merge_id)
    with pk.transaction() as s:
        assert survivors(s, Contact, [kept, gone]) == {}
    report = _run(pk, "contacts", name=["Kept Person"], email=["old@x.example.pk"], city=["Quetta"])
    assert _outcomes(report) == [("updated", gone, "city")]


def test_record_archived_by_hand_is_still_found(pk: crm_core.Workspace) -> None:
    gone = pk.contacts.create(name="Former Customer", email="former@x.example.pk")["id"]
    pk.contacts.archive(gone)
    report = _run(
        pk, "contacts", name=["Former Customer"], email=["former@x.example.pk"], city=["Sukkur"]
    )
    assert _outcomes(report) == [("updated", gone, "city")]


def test_contact_row_naming_a_merged_away_company_joins_the_survivor(
    pk: crm_core.Workspace,
) -> None:
    kept = pk.companies.create(name="Lucky Cement", vat="PK-1234567.8")["id"]
    gone = pk.companies.create(name="Lucky Cement Ltd")["id"]
    twin = pk.companies.create(name="Lucky Cement")["id"]  # same name as the kept one
    pk.duplicates.merge("companies", kept, gone, choose={"name": "keep"})
    pk.duplicates.merge("companies", kept, twin, choose={"name": "keep"})
    report = _run(
        pk,
        "contacts",
        name=["Zahid", "Yasir"],
        email=["z@x.example.pk", "y@x.example.pk"],
        company=["Lucky Cement Ltd", "lucky cement"],
    )
    assert [o for o, _, _ in _outcomes(report)] == ["created", "created"]
    assert report.companies_created == 0
    assert [pk.contacts.get(rid)["company_id"] for _, rid, _ in _outcomes(report)] == [kept, kept]
    with pk.transaction() as s:
        assert survivors(s, Company, [kept, gone, twin]) == {gone: kept, twin: kept}


def test_company_row_with_a_merged_away_name_updates_the_survivor(
    pk: crm_core.Workspace,
) -> None:
    kept = pk.companies.create(name="Lucky Cement")["id"]
    gone = pk.companies.create(name="Lucky Cement Ltd")["id"]
    pk.duplicates.merge("companies", kept, gone, choose={"name": "keep"})
    report = _run(pk, "companies", name=["Lucky Cement Ltd"], city=["Karachi"])
    assert _outcomes(report) == [("updated", kept, "city")]
    assert pk.companies.get(kept)["name"] == "Lucky Cement"


def test_an_activity_naming_a_merged_away_contact_goes_to_the_survivor(
    pk: crm_core.Workspace,
) -> None:
    kept, gone = _merged_pair(pk)
    report = _run(
        pk,
        "activities",
        subject=["Call back"],
        due_date=["2026-12-10"],
        contact=["old@x.example.pk"],
    )
    assert (report.created, report.rejected) == (1, 0)
    assert len(pk.activities.for_record(contact_id=kept)) == 1
    assert pk.activities.for_record(contact_id=gone).empty
