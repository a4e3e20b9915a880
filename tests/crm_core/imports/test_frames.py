"""``ws.importer.run(DataFrame, ...)`` takes what pandas gives: a phone read as a
number, a date read as a Timestamp, NaN for an empty cell; and the rows it refuses
are on the report when no rejects file was asked for."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

import crm_core


@pytest.fixture
def pk(sqlite_ws: crm_core.Workspace) -> crm_core.Workspace:
    sqlite_ws.set_setting("phone_region", "PK")
    return sqlite_ws


def test_a_frame_read_by_pandas_from_excel_imports(pk: crm_core.Workspace, tmp_path: Path) -> None:
    path = tmp_path / "people.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Name", "Phone", "Birthday", "Notes"])
    sheet.append(["Ali Raza", 3001234567, dt.datetime(1990, 1, 2), "vip"])
    sheet.append(["Sana Mir", None, None, None])  # NaN phone, NaT birthday
    sheet.append(["Omar Farooq", 923211234567, dt.datetime(1985, 12, 31), None])
    book.save(path)
    frame = pd.read_excel(path)
    assert frame["Phone"].dtype.kind == "f"  # a NaN made the column float
    assert frame["Birthday"].dtype.kind == "M"  # Timestamps

    report = pk.importer.run(frame, "contacts", workers=0)

    assert (report.created, report.rejected) == (3, 0), report.summary()
    people = pk.contacts.search().set_index("name")
    assert people.loc["Ali Raza", "phone"] == "+923001234567"
    assert people.loc["Omar Farooq", "phone"] == "+923211234567"
    ali = pk.contacts.get(int(people.loc["Ali Raza", "id"]))
    assert str(ali["birthday"]) == "1990-01-02"
    sana = pk.contacts.get(int(people.loc["Sana Mir", "id"]))
    assert (sana["phone"], sana["birthday"], sana["notes"]) == (None, None, None)
    # The same frame again: nothing changes.
    again = pk.importer.run(frame, "contacts", workers=0)
    assert (again.unchanged, again.rejected) == (3, 0)


def test_numpy_and_pandas_scalars(pk: crm_core.Workspace) -> None:
    frame = pd.DataFrame(
        {
            "name": ["Ali", "Sara"],
            "mobile": pd.array([3001234567, pd.NA], dtype="Int64"),
            "birthday": [pd.Timestamp("1990-01-02"), pd.NaT],
            "notes": [np.nan, None],
        }
    )
    report = pk.importer.run(frame, "contacts", workers=0)
    assert (report.created, report.rejected) == (2, 0), report.summary()
    assert sorted(pk.contacts.search()["mobile"].dropna()) == ["+923001234567"]


def test_a_frames_rejected_rows_are_on_the_report(pk: crm_core.Workspace) -> None:
    frame = pd.DataFrame(
        {
            "Name": ["Ali", "Zed", None],
            "Email": ["ali@x.pk", "bad@", "c@x.pk"],
            "Birthday": [pd.Timestamp("1990-01-02"), pd.Timestamp("1991-03-04 10:30"), pd.NaT],
        }
    )
    report = pk.importer.run(frame, "contacts", workers=0)
    assert (report.created, report.rejected) == (1, 2)
    assert report.rejects_path is None
    rejects = report.rejects
    assert rejects is not None
    assert list(rejects.columns) == [
        "Name",
        "Email",
        "Birthday",
        "line",
        "field",
        "value",
        "reason",
    ]
    assert list(rejects["line"]) == [3, 4]
    assert list(rejects["Name"]) == ["Zed", ""]
    assert rejects["field"][0] == "email" and "e-mail" in rejects["reason"][0]
    assert rejects["field"][1] == "name"
    assert "report's .rejects" in report.summary()
