"""``crmbook import`` of a big contacts file, beside a raw load of the same file.

    python bench/import.py [--rows 1000000] [--folder PATH] [--postgres URL]

Writes a CSV file of generated contacts as a business would hand it over (headers
"Name", "E-mail", "Phone", "Mobile", "City", "Country", "Language", "Job title";
Latin, Cyrillic, Urdu, Bengali and Tamil names; national and international phones of
seven countries; one row in a thousand bad: an e-mail, a phone, a name, a country; one
in five hundred a second row of an earlier contact, which the import must find), then
measures, each in a process of its own so that peak memory is its own:

- crmbook: ``ws.importer.run(file, "contacts", workers=1)`` (``crmbook import``'s
  default on two cores) into a new workspace: header mapping, validation (in a second
  process), matching against what is there and what the file already brought, the
  journal, the search index and the rejects file; peak memory is that of the importing
  process plus its worker;
- the peer: ``pandas.read_csv`` in chunks of 50,000 and ``executemany`` of the same
  columns into the same table of a new workspace, unvalidated, unmatched, unjournaled.

Prints rows/s of each, their ratio and the peak resident memory of each process, and
what bounds crmbook's rate (SQLite): the rows its import wrote (contacts, their journal
entries and search terms) inserted again, prebuilt, with ``executemany`` into a new
workspace (no Python work at all: the most any import that journals and indexes could
reach), and the time the ``phonenumbers`` library takes to check the file's phones.
Targets (PASS/FAIL): crmbook at least 0.33x the peer's rate; its peak under 400 MB.
Figures also go to ``bench/out/import.json``. Quick run: ``--rows 50000``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from core_scale import contact_ok, contact_row

import crm_core

OUT = Path(__file__).with_name("out")
RATIO_TARGET = 0.33
MEMORY_TARGET_MB = 400.0
HEADERS = {
    "name": "Name",
    "email": "E-mail",
    "phone": "Phone",
    "mobile": "Mobile",
    "city": "City",
    "country": "Country",
    "language": "Language",
    "job_title": "Job title",
}
#: One row in this many repeats an earlier contact (its e-mail, another spelling).
REPEAT = 500
#: Worker processes validating while the import writes (``crmbook import``'s default
#: on a machine of two cores or more).
WORKERS = 1


def write_file(path: Path, rows: int) -> dict[str, int]:
    """The contacts file; returns how many rows of each kind it holds."""
    counts = {"rows": 0, "good": 0, "bad": 0, "repeats": 0}
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADERS.values())
        for i in range(rows):
            earlier = i // 2
            if (
                i % REPEAT == REPEAT - 1
                and contact_ok(earlier)
                and earlier % REPEAT != REPEAT - 1  # itself a repeat, never written
            ):
                row = contact_row(earlier)  # an earlier contact again, name in capitals
                row["name"] = row["name"].upper()
                counts["repeats"] += 1
            else:
                row = contact_row(i)
                counts["good" if contact_ok(i) else "bad"] += 1
            writer.writerow(row[k] for k in HEADERS)
            counts["rows"] += 1
    return counts


def fresh(location: str) -> crm_core.Workspace:
    if "://" not in location:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{location}{suffix}").unlink(missing_ok=True)
    ws = crm_core.open(location)
    ws.set_setting("phone_region", "PK")
    return ws


def run_crmbook(location: str, path: Path) -> dict[str, Any]:
    ws = fresh(location)
    started = time.perf_counter()
    report = ws.importer.run(
        path, "contacts", rejects=path.with_suffix(".rejects.csv"), workers=WORKERS
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "rejected": report.rejected,
    }


def run_raw(location: str, path: Path) -> dict[str, Any]:
    import pandas as pd

    ws = fresh(location)
    now = dt.datetime.now(dt.UTC).isoformat()
    columns = list(HEADERS)
    insert = (
        "INSERT INTO contacts (name, email, phone, mobile, city, country, language, job_title,"
        " name_key, active, custom, version, created_at, updated_at)"
        f" VALUES ({', '.join(['%s' if '://' in location else '?'] * 14)})"
    )
    started = time.perf_counter()
    rows = 0
    with ws.engine.begin() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        cursor = raw.cursor()
        for chunk in pd.read_csv(path, chunksize=50_000, dtype=str, keep_default_na=False):
            chunk.columns = columns
            values = [
                (*cells, cells[0], True, "{}", 1, now, now)
                for cells in chunk.itertuples(index=False, name=None)
            ]
            cursor.executemany(insert, values)
            rows += len(values)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows}


#: The tables crmbook's import of contacts writes to.
WRITTEN = ("contacts", "journal", "search_terms")


def run_floor(location: str, path: Path) -> dict[str, Any]:
    """The rows the crmbook side wrote to the SQLite file ``location``, inserted again,
    prebuilt, into a new workspace; and the phone checks of the file, timed alone."""
    import sqlite3

    from crm_core import validation

    with sqlite3.connect(location) as src:
        tables = {}
        for table in WRITTEN:
            cursor = src.execute(f"SELECT * FROM {table}")
            tables[table] = ([c[0] for c in cursor.description], cursor.fetchall())
    copy = f"{location}.floor"
    fresh(copy).close()
    conn = sqlite3.connect(copy)
    conn.execute("DELETE FROM journal")
    started = time.perf_counter()
    for table, (columns, rows) in tables.items():
        marks = ", ".join("?" * len(columns))
        conn.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)
    conn.commit()
    seconds = time.perf_counter() - started
    conn.close()
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        next(reader)
        phones = [cell for row in reader for cell in row[2:4] if cell]
    started = time.perf_counter()
    for cell in phones:
        with contextlib.suppress(validation.Reject):
            validation.phone(cell, "PK")
    checks = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": len(tables["contacts"][1]),
        "written": {table: len(rows) for table, (_, rows) in tables.items()},
        "phones": len(phones),
        "phone_seconds": checks,
    }


def side(args: argparse.Namespace) -> None:
    """One measured side, in this process: prints its figures as JSON."""
    path = Path(args.file)
    run = {"crmbook": run_crmbook, "raw": run_raw, "floor": run_floor}[args.side]
    figures = run(args.location, path)
    scale = 1 if sys.platform == "darwin" else 1024
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * scale / 2**20
    figures["peak_mb"] = own + workers
    print(json.dumps(figures))


def measure(which: str, location: str, path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--side", which, "--location", location, "--file", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, default=None)
    parser.add_argument("--postgres", default=None, help="also measure on this database URL")
    parser.add_argument("--side", choices=("crmbook", "raw", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--location", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        side(args)
        return
    folder = args.folder or Path(tempfile.mkdtemp(prefix="crmbook-import-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "contacts.csv"
    kinds = write_file(path, args.rows)
    print(
        f"{kinds['rows']:,} rows ({kinds['bad']:,} bad, {kinds['repeats']:,} repeats of "
        f"earlier rows), {path.stat().st_size / 2**20:.0f} MB, Python {platform.python_version()}"
    )
    targets = [("sqlite", str(folder / "crm.sqlite"))]
    if args.postgres:
        targets.append(("postgresql", args.postgres))
    results: dict[str, Any] = {"rows": kinds}
    ok = True
    for name, location in targets:
        raw = measure("raw", location, path)
        ours = measure("crmbook", location, path)
        raw_rate = raw["rows"] / raw["seconds"]
        our_rate = ours["rows"] / ours["seconds"]
        ratio = our_rate / raw_rate
        expected = (kinds["good"], kinds["repeats"], kinds["bad"])
        right = (ours["created"], ours["unchanged"] + ours["updated"], 0) == (
            expected[0],
            0,
            0,
        ) or (ours["created"], ours["rejected"]) == (expected[0], expected[1] + expected[2])
        passed = ratio >= RATIO_TARGET and ours["peak_mb"] < MEMORY_TARGET_MB and right
        ok &= passed
        print(
            f"{name}: crmbook {our_rate:,.0f} rows/s ({ours['seconds']:.0f} s, peak "
            f"{ours['peak_mb']:.0f} MB; {ours['created']:,} created, {ours['rejected']:,} "
            f"rejected) vs raw load {raw_rate:,.0f} rows/s ({raw['seconds']:.0f} s, peak "
            f"{raw['peak_mb']:.0f} MB): {ratio:.2f}x  "
            f"[target >= {RATIO_TARGET}x, < {MEMORY_TARGET_MB:.0f} MB, counts right: {right}] "
            f"{'PASS' if passed else 'FAIL'}"
        )
        results[name] = {"crmbook": ours, "raw": raw, "ratio": ratio, "pass": passed}
        if name == "sqlite":
            floor = measure("floor", location, path)
            floor_rate = floor["rows"] / floor["seconds"]
            per_row = floor["phone_seconds"] / kinds["rows"] * 1e6
            print(
                f"  what bounds it: the {sum(floor['written'].values()):,} rows the import "
                f"wrote ({', '.join(f'{n:,} {t}' for t, n in floor['written'].items())}) "
                f"inserted again, prebuilt: {floor_rate:,.0f} contacts/s "
                f"({floor_rate / raw_rate:.2f}x raw); checking the file's "
                f"{floor['phones']:,} phones with phonenumbers alone: "
                f"{floor['phone_seconds']:.0f} s, {per_row:.0f} us per row "
                f"(at most {1e6 / per_row:,.0f} rows/s for one process)"
            )
            results[name]["floor"] = floor
    OUT.mkdir(exist_ok=True)
    (OUT / "import.json").write_text(json.dumps(results, indent=2))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
