"""Rows find the records they stand for: updated, left alone, or refused with a reason."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

import crm_core
from crm_core.errors import AccessDenied, ImportRefused
from crm_core.models import Company, Contact, ExternalLink, JournalEntry, Opportunity
from tests.crm_core.test_bulk import _drop_refusal, _refuse_name


def _write(path: Path, rows: list[dict[str, object]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _rejects(path: Path) -> dict[int, dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return {int(r["line"]): r for r in csv.DictReader(f)}


def _counts(ws: crm_core.Workspace) -> dict[str, int]:
    with ws.transaction() as s:
        return {
            m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Company, Contact, Opportunity, JournalEntry)
        }


@pytest.fixture
def pk(ws: crm_core.Workspace) -> crm_core.Workspace:
    ws.set_setting("phone_region", "PK")
    return ws


def test_matched_rows_update_only_what_differs_and_say_by_what(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    imran = pk.contacts.create(name="Imran Khan", email="imran@indus.pk", tags=["vip"])
    sana = pk.contacts.create(name="Sana Mir", mobile="+923001234567", city="Lahore")
    path = _write(
        tmp_path / "c.csv",
        [
            # by e-mail (other case); blank city leaves the city alone; a tag is added
            {
                "name": "Imran Khan",
                "email": "IMRAN@indus.pk",
                "mobile": "",
                "city": "",
                "tags": "lead",
            },
            # by mobile in national format; nothing differs
            {
                "name": "Sana Mir",
                "email": "",
                "mobile": "0300 1234567",
                "city": "Lahore",
                "tags": "",
            },
            {"name": "New Person", "email": "new@x.pk", "mobile": "", "city": "Multan", "tags": ""},
        ],
    )
    report = pk.importer.run(path, "contacts")
    assert (report.created, report.updated, report.unchanged, report.rejected) == (1, 1, 1, 0)
    assert dict(report.matched_by) == {"email": 1, "phone": 1}
    after = pk.contacts.get(imran["id"])
    assert after["email"] == "imran@indus.pk"  # the same address: kept as it was written
    assert after["city"] is None
    assert sorted(after["tags"]) == ["lead", "vip"]
    assert after["version"] == imran["version"] + 1
    assert pk.contacts.get(sana["id"])["version"] == sana["version"]
    # Journaled under the file's name.
    origins = {e for (e,) in _origins(pk, imran["id"])}
    assert origins == {None, f"import:{path}"}


def _origins(ws: crm_core.Workspace, record_id: int) -> list:
    with ws.transaction() as s:
        return list(
            s.execute(
                select(JournalEntry.origin).where(
                    JournalEntry.entity == "contacts", JournalEntry.record_id == record_id
                )
            ).all()
        )


def test_a_row_matching_two_records_is_refused_naming_both(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    a = pk.contacts.create(name="Ali", email="ali@x.pk")
    b = pk.contacts.create(name="Ali R", mobile="+923001112223")
    path = _write(
        tmp_path / "a.csv", [{"name": "Ali", "email": "ali@x.pk", "mobile": "0300 1112223"}]
    )
    report = pk.importer.run(path, "contacts")
    assert report.rejected == 1
    reason = _rejects(tmp_path / "a.rejects.csv")[2]["reason"]
    assert f"contact #{a['id']} (same e-mail)" in reason
    assert f"contact #{b['id']} (same phone)" in reason
    # Matching on the e-mail alone finds one.
    report = pk.importer.run(path, "contacts", match="email")
    assert report.updated == 1
    assert pk.contacts.get(a["id"])["mobile"] == "+923001112223"


def test_modes(pk: crm_core.Workspace, tmp_path: Path) -> None:
    pk.contacts.create(name="Old", email="old@x.pk")
    path = _write(
        tmp_path / "m.csv",
        [
            {"name": "Old", "email": "old@x.pk", "city": "Quetta"},
            {"name": "New", "email": "new@x.pk", "city": ""},
        ],
    )
    created = pk.importer.run(path, "contacts", mode="create")
    assert (created.created, created.rejected) == (1, 1)
    assert (
        "mode 'create' only adds new records" in _rejects(tmp_path / "m.rejects.csv")[2]["reason"]
    )
    pk.contacts.update(int(pk.contacts.search(q="New")["id"][0]), city="Sukkur")
    updated = pk.importer.run(path, "contacts", mode="update")
    assert (updated.updated, updated.unchanged) == (1, 1)
    assert list(pk.contacts.search(q="Old")["city"]) == ["Quetta"]
    with pytest.raises(ImportRefused, match="mode 'merge'"):
        pk.importer.run(path, "contacts", mode="merge")
    with pytest.raises(ImportRefused, match="choose among erp_id, email, phone, name"):
        pk.importer.run(path, "contacts", match="vat")


def test_erp_id_and_vat_find_companies(pk: crm_core.Workspace, tmp_path: Path) -> None:
    linked = pk.companies.create(name="Indus Textiles")
    taxed = pk.companies.create(name="Mehran Foods", vat="NTN 1234567-8")
    with pk.transaction() as s:
        s.add(
            ExternalLink(
                backend="odoo",
                entity="company",
                local_id=linked["id"],
                remote_model="res.partner",
                remote_id=77,
                synced={},
                synced_at=pk.clock(),
            )
        )
    path = _write(
        tmp_path / "co.csv",
        [
            {"Company": "Indus Textiles Ltd", "ERP id": "77", "VAT": ""},
            {"Company": "Mehran Foods (Pvt)", "ERP id": "", "VAT": "ntn12345678"},
            {"Company": "X", "ERP id": "seventy", "VAT": ""},
        ],
    )
    report = pk.importer.run(path, "companies")
    assert (report.updated, report.rejected) == (2, 1)
    assert dict(report.matched_by) == {"erp_id": 1, "vat": 1}
    assert pk.companies.get(linked["id"])["name"] == "Indus Textiles Ltd"
    assert pk.companies.get(taxed["id"])["name"] == "Mehran Foods (Pvt)"
    assert _rejects(tmp_path / "co.rejects.csv")[4]["field"] == "erp_id"


def test_deals_by_name_within_their_company_move_stage_on_update(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    rows = [
        {
            "Deal": "Looms",
            "Customer": "Indus Textiles",
            "Stage": "New",
            "Amount": "1500000.50",
            "Currency": "PKR",
        },
        {
            "Deal": "Looms",
            "Customer": "Mehran Foods",
            "Stage": "New",
            "Amount": "900",
            "Currency": "EUR",
        },
    ]
    path = _write(tmp_path / "d.csv", rows)
    first = pk.importer.run(path, "opportunities")
    assert (first.created, first.rejected, first.companies_created) == (2, 0, 2)
    stages = list(pk.pipeline.stages()["name"])
    rows[0]["Stage"] = stages[1]
    _write(path, rows)
    second = pk.importer.run(path, "deals")
    assert (second.updated, second.unchanged) == (1, 1)
    deals = pk.pipeline.search().set_index("company")
    assert deals.loc["Indus Textiles", "stage"] == stages[1]
    assert Decimal(str(deals.loc["Indus Textiles", "expected_revenue"])) == Decimal("1500000.50")
    history = pk.pipeline.history(int(deals.loc["Indus Textiles", "id"]))
    assert len(history) == 2
    assert pk.companies.count() == 2


def test_a_refused_batch_is_rolled_back_and_its_rows_rejected(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    rows = [{"name": f"Person {i}", "email": f"p{i}@x.pk"} for i in range(6)]
    rows[4]["name"] = "Boom"
    path = _write(tmp_path / "b.csv", rows)
    _refuse_name(pk, "Boom")
    try:
        report = pk.importer.run(path, "contacts", batch_size=3)
    finally:
        _drop_refusal(pk)
    assert (report.created, report.rejected) == (3, 3)
    rejects = _rejects(tmp_path / "b.rejects.csv")
    assert sorted(rejects) == [5, 6, 7]
    assert "lines 5-7" in rejects[5]["reason"] and "refused by test" in rejects[5]["reason"]
    again = pk.importer.run(path, "contacts", batch_size=3)
    assert (again.created, again.unchanged) == (3, 3)


def test_a_dry_run_writes_nothing_but_counts_the_same(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    pk.contacts.create(name="Old", email="old@x.pk")
    path = _write(
        tmp_path / "dry.csv",
        [
            {"name": "Old", "email": "old@x.pk", "company": "Brand New Co"},
            {"name": "New", "email": "new@x.pk", "company": "Brand New Co"},
            {"name": "Bad", "email": "bad@", "company": ""},
        ],
    )
    before = _counts(pk)
    dry = pk.importer.run(path, "contacts", dry_run=True)
    assert _counts(pk) == before
    real = pk.importer.run(path, "contacts")
    assert (
        (dry.created, dry.updated, dry.unchanged, dry.rejected, dry.companies_created)
        == (
            real.created,
            real.updated,
            real.unchanged,
            real.rejected,
            real.companies_created,
        )
        == (1, 1, 0, 1, 1)
    )


def test_a_dataframe_and_a_sales_user(pk: crm_core.Workspace) -> None:
    frame = pd.DataFrame({"Name": ["Ravi", "Olga"], "Email": ["ravi@x.in", None]})
    report = pk.importer.run(frame, "contacts")
    assert (report.created, report.rejected) == (2, 0)
    assert pk.importer.run(frame, "contacts").unchanged == 2
    pk.users.add("Bilal Ahmed", "bilal", role="sales", password="bilal-pass-1")
    with pytest.raises(AccessDenied):
        pk.as_user("bilal").importer.run(frame, "contacts")


def test_a_worker_process_prepares_batches_with_the_same_result(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    rows = []
    for i in range(40):
        rows.append(
            {
                "name": f"Person {i % 30}",  # ten names twice
                "email": f"p{i % 35}@x.pk" if i % 7 else "bad@",
                "company": f"Company {i % 4}",  # new companies, named in every batch
            }
        )
    path = _write(tmp_path / "w.csv", rows)
    inline = pk.importer.run(path, "contacts", batch_size=6, dry_run=True)
    parallel = pk.importer.run(path, "contacts", batch_size=6, workers=1)
    assert (parallel.created, parallel.updated, parallel.unchanged, parallel.rejected) == (
        inline.created,
        inline.updated,
        inline.unchanged,
        inline.rejected,
    )
    assert parallel.created > 20 and parallel.rejected > 5
    assert pk.companies.count() == 4  # each created once, though prepared ahead
    assert pk.importer.run(path, "contacts", batch_size=6, workers=1).unchanged == (
        parallel.created
    )
