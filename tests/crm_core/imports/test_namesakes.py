"""Two people of one name are two people: a name finds a record only when no other
key both sides give (e-mail, VAT number, phones) says they differ, in the workspace
and inside the file; and a row whose e-mail finds one record and phone another is
refused naming both."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import crm_core


@pytest.fixture
def pk(sqlite_ws: crm_core.Workspace) -> crm_core.Workspace:
    sqlite_ws.set_setting("phone_region", "PK")
    return sqlite_ws


def _file(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _people(ws: crm_core.Workspace) -> list[tuple[str, str, str]]:
    """(name, e-mail, phone) of every contact, "" for none."""
    found = ws.contacts.search(limit=100)
    return sorted(
        (n, e if isinstance(e, str) else "", p if isinstance(p, str) else "")
        for n, e, p in zip(found["name"], found["email"], found["phone"], strict=True)
    )


@pytest.mark.parametrize("batch_size", [5000, 1])
def test_two_namesakes_with_other_phones_are_two_people(
    pk: crm_core.Workspace, tmp_path: Path, batch_size: int
) -> None:
    ali = pk.contacts.create(name="Ali Hassan", email="ali@a.pk")
    path = _file(
        tmp_path / "n.csv",
        "Name,Phone\r\nAli Hassan,0300 1000001\r\nAli Hassan,0300 1000002\r\n",
    )
    report = pk.importer.run(path, "contacts", workers=0, batch_size=batch_size)
    assert (report.updated, report.created, report.rejected) == (1, 1, 0), report.summary()
    assert report.examples["updated"][0].record_id == ali["id"]
    assert _people(pk) == [
        ("Ali Hassan", "", "+923001000002"),
        ("Ali Hassan", "ali@a.pk", "+923001000001"),
    ]
    again = pk.importer.run(path, "contacts", workers=0, batch_size=batch_size)
    assert (again.unchanged, again.rows) == (2, 2)


def test_a_name_does_not_find_a_record_another_key_says_is_someone_else(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    pk.contacts.create(name="Sana Mir", phone="0300 1111111")
    pk.contacts.create(name="Omar Butt", email="omar@a.pk")
    pk.contacts.create(name="Zara Khan")  # no key at all: the name finds her
    path = _file(
        tmp_path / "p.csv",
        "Name,Email,Phone\r\n"
        "Sana Mir,,0300 2222222\r\n"  # another phone: another Sana
        "Omar Butt,omar@b.pk,\r\n"  # another e-mail: another Omar
        "Zara Khan,zara@x.pk,0300 3333333\r\n",
    )
    report = pk.importer.run(path, "contacts", workers=0)
    assert (report.created, report.updated, report.rejected) == (2, 1, 0), report.summary()
    assert report.matched_by == {"name": 1}
    assert pk.contacts.count() == 5


def test_namesakes_inside_the_file(pk: crm_core.Workspace, tmp_path: Path) -> None:
    path = _file(
        tmp_path / "f.csv",
        "Name,Email,Phone\r\n"
        "Imran Khan,imran@a.pk,\r\n"
        "Imran Khan,imran@b.pk,\r\n"  # other e-mail: another Imran
        "Bilal Ahmed,,0300 1000001\r\n"
        "Bilal Ahmed,,0300 1000002\r\n"  # other phone: another Bilal
        "Bilal Ahmed,,\r\n",  # nothing but the name: line 4's again
    )
    report = pk.importer.run(path, "contacts", workers=0)
    assert (report.created, report.rejected) == (4, 1), report.summary()
    (rejected,) = report.examples["rejected"]
    assert rejected.line == 6 and "same name as lines 4 and 5" in rejected.detail
    again = pk.importer.run(path, "contacts", workers=0)
    assert (again.unchanged, again.rejected) == (4, 1)


def test_companies_of_one_name_and_two_vat_numbers(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    sqlite_ws.companies.create(name="Indus Traders", vat="1234567-8")
    path = _file(tmp_path / "c.csv", "Company,VAT\r\nIndus Traders,7654321-0\r\n")
    report = sqlite_ws.importer.run(path, "companies", workers=0)
    assert (report.created, report.updated) == (1, 0)
    assert sqlite_ws.companies.count() == 2


def test_an_email_of_one_and_a_phone_of_another_names_both(
    pk: crm_core.Workspace, tmp_path: Path
) -> None:
    first = pk.contacts.create(name="Sara Khan", email="sara@a.pk", phone="0300 2000001")
    second = pk.contacts.create(name="Omar Butt", email="omar@a.pk")
    path = _file(tmp_path / "b.csv", "Name,Email,Phone\r\nO. Butt,omar@a.pk,0300 2000001\r\n")
    report = pk.importer.run(path, "contacts", workers=0)
    assert (report.rejected, report.updated) == (1, 0)
    with (tmp_path / "b.rejects.csv").open(encoding="utf-8-sig", newline="") as f:
        (reject,) = csv.DictReader(f)
    assert f"contact #{first['id']} (same phone)" in reject["reason"]
    assert f"contact #{second['id']} (same e-mail)" in reject["reason"]
    # A phone alone still never finds someone whose e-mail is another's.
    other = _file(tmp_path / "o.csv", "Name,Email,Phone\r\nNew One,new@a.pk,0300 2000001\r\n")
    assert pk.importer.run(other, "contacts", workers=0).created == 1
