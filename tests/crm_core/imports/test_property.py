"""Whatever the file: rows in == created + updated + unchanged + rejected, every rejected
row is in the rejects file, and running the same file again changes nothing."""

from __future__ import annotations

import csv
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

import crm_core
from crm_core.models import Company, Contact, JournalEntry

NAMES = ["Imran Khan", "عمران خان", "আব্দুল করিম", "முருகன்", "Мария", "Jürgen", "", "  ", "A\x07"]
EMAILS = ["", "a@x.pk", "A@X.PK", "b@x.pk", "bad@", "c@example.ru", "@"]
PHONES = ["", "0300 1234567", "+92 300 1234567", "12", "+7 912 345-67-89", "0321 7654321", "abc"]
COMPANIES = ["", "Indus", "indus", "Mehran Foods", "7", "999999"]
CITIES = ["", "Karachi", "Москва", "ঢাকা", "=1+1"]

row = st.fixed_dictionaries(
    {
        "name": st.sampled_from(NAMES),
        "email": st.sampled_from(EMAILS),
        "mobile": st.sampled_from(PHONES),
        "company": st.sampled_from(COMPANIES),
        "city": st.sampled_from(CITIES),
    }
)


def _state(ws: crm_core.Workspace) -> tuple[int, int, int]:
    with ws.transaction() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(m)) or 0
            for m in (Contact, Company, JournalEntry)
        )


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(row, min_size=1, max_size=25), batch_size=st.sampled_from([1, 3, 1000]))
def test_every_row_counted_once_and_a_second_run_changes_nothing(
    sqlite_template: Path, rows: list[dict[str, str]], batch_size: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        shutil.copy(sqlite_template, folder / "crm.sqlite")
        path = folder / "rows.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        with crm_core.open(folder / "crm.sqlite") as ws:
            ws.set_setting("phone_region", "PK")
            first = ws.importer.run(path, "contacts", batch_size=batch_size)
            # A rejects file only when a row was rejected.
            assert (folder / "rows.rejects.csv").exists() == bool(first.rejected)
            lines = _read(folder / "rows.rejects.csv")
            assert first.rows == first.created + first.updated + first.unchanged + first.rejected
            assert first.rows == sum(1 for r in rows if any(v.strip() for v in r.values()))
            assert len(lines) == first.rejected
            assert ws.contacts.count() == first.created
            state = _state(ws)

            second = ws.importer.run(path, "contacts", batch_size=batch_size)
            assert (second.created, second.updated) == (0, 0)
            assert second.unchanged == first.created + first.updated + first.unchanged
            assert second.rejected == first.rejected
            assert _read(folder / "rows.rejects.csv") == lines
            assert _state(ws) == state


def _read(path: Path) -> list[str]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        return [r["line"] for r in csv.DictReader(f)]
