"""A mapping the user gives wins over the guess from the headers, and one naming a
custom field that does not exist is refused before anything is read."""

from __future__ import annotations

from pathlib import Path

import pytest

import crm_core
from crm_core.errors import ImportRefused
from crm_core.imports import mapping as m


def test_a_given_mapping_wins_over_a_guessed_header(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "m.csv"
    path.write_text("Name,Email\nAli Hassan,ali@x.org\n", encoding="utf-8")

    plan = sqlite_ws.importer.columns(path, "contacts", map=["Email=name"])
    shown = dict(zip(plan["column"], plan["field"], strict=True))
    assert shown["Email"] == "name"
    assert shown["Name"] == "(ignored: name is filled by 'Email', as --map says)"

    report = sqlite_ws.importer.run(path, "contacts", map=["Email=name"], workers=0)
    assert (report.created, report.rejected) == (1, 0)
    assert report.ignored_columns == ["Name"]
    assert list(sqlite_ws.contacts.search()["name"]) == ["ali@x.org"]


def test_the_guess_still_fills_what_the_given_mapping_leaves() -> None:
    plan = m.guess("contact", ["Name", "Email", "Mobile"], given={"Mobile": "phone"})
    assert plan.fields == {"Name": "name", "Email": "email", "Mobile": "phone"}
    # Two columns given the same field: the first fills it.
    plan = m.guess("contact", ["A", "B"], given={"A": "name", "B": "name"})
    assert (plan.fields, plan.repeated) == ({"A": "name"}, {"B": "name"})


def test_an_unknown_custom_field_is_refused_before_the_run(
    sqlite_ws: crm_core.Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "n.csv"
    path.write_text("Name,Notes\nAli,hello\n", encoding="utf-8")
    with pytest.raises(ImportRefused, match=r"no contact custom field 'newfield'.*--custom"):
        sqlite_ws.importer.run(path, "contacts", map=["Notes=custom.newfield"])
    assert sqlite_ws.contacts.count() == 0
    assert not (tmp_path / "n.rejects.csv").exists()

    # With --custom it is defined, and the value kept.
    report = sqlite_ws.importer.run(
        path, "contacts", map=["Notes=custom.newfield"], custom=True, workers=0
    )
    assert (report.created, report.custom_fields_defined) == (1, ["newfield"])
    ali = sqlite_ws.contacts.get(int(sqlite_ws.contacts.search()["id"][0]))
    assert ali["custom"] == {"newfield": "hello"}
    # Once defined, no --custom is needed.
    again = sqlite_ws.importer.run(path, "contacts", map=["Notes=custom.newfield"], workers=0)
    assert (again.unchanged, again.rejected) == (1, 0)
