"""Excel export speed and memory: crmbook's WorkbookBuilder beside a raw xlsxwriter loop.

    python bench/export_xlsx.py [--sizes 200000,1000000] [--rounds 1] [--skip-openpyxl]
                                [--contacts 0]

For each size N (rows of 10 columns: an int id, a multi-script name, an e-mail, a
city, a Decimal amount, an int quantity, a percent, a date, a datetime and a note
that sometimes starts with "=" or "-"), in one run, each variant in a fresh
subprocess so that its peak memory is its own:

1. **crmbook**: ``WorkbookBuilder.add_table`` on a row generator (constant_memory,
   typed cells, cover, widths, autofilter, formula guard);
2. **raw** (the peer, the limit): an xlsxwriter ``constant_memory`` loop writing the
   same rows with per-cell typed calls (``write_number`` / ``write_string`` /
   ``write_datetime`` with the same number formats): the target's peer. Beside it,
   "raw write_row": ``write_row(r, 0, row)`` per row (no per-column formats, so its
   dates come out in xlsxwriter's default format), for reference;
3. **pandas+xlsxwriter**: ``DataFrame(rows).to_excel(engine="xlsxwriter")``;
4. **pandas+openpyxl**: the same with ``engine="openpyxl"`` (``--skip-openpyxl``: it
   is slow at a million rows);
5. with ``--contacts N`` (once, beside the first size): ``ws.export.xlsx(path,
   "contacts")`` of a SQLite workspace holding N generated contacts (database reads,
   tag lookups and phone formatting included).

Every child first imports the same modules (xlsxwriter, openpyxl, pandas, crm_core),
then generates and writes; the time counts generation and writing (for pandas, also
building the DataFrame, as a pandas user would); CPU seconds are shown beside the
wall-clock ones, since a busy machine stretches the latter. Peak memory is the
child's peak resident set (``VmHWM`` on Linux: ``ru_maxrss`` of a child carries the
parent's high-water mark over fork + exec; ``ru_maxrss`` elsewhere); "idle" is a
child that only imports, its baseline, and "net" is the peak above it. Targets
(PASS/FAIL): crmbook >= 0.9x the raw loop's rows/s and <= 1.3x its peak memory. With
``--rounds`` > 1 the variants alternate and the medians are compared. Figures also
go to ``bench/out/export_xlsx.json``; the workbooks are written to a temporary folder
and removed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

OUT = Path(__file__).with_name("out")
SPEED_TARGET = 0.9
MEMORY_TARGET = 1.3

NAMES = [
    "Imran Khan",
    "Анна Петрова",
    "রবীন্দ্রনাথ ঠাকুর",
    "தமிழ் செல்வி",
    "عمران خان",
    "Zoë Müller",
    "Nguyễn Văn An",
    "Søren Kierkegaard",
]
CITIES = ["Karachi", "Москва", "ঢাকা", "சென்னை", "لاہور", "München", "Hà Nội", "København"]
NOTES = ["", "=SUM(A1)", "-call back", "follow up next week", "+92 300 1234567", "@team"]
HEADER = [
    ("id", "int"),
    ("name", "text"),
    ("email", "text"),
    ("city", "text"),
    ("amount", "money"),
    ("quantity", "int"),
    ("discount", "percent"),
    ("ordered_on", "date"),
    ("updated_at", "datetime"),
    ("note", "text"),
]
FORMATS = {
    "int": "0",
    "money": "#,##0.00",
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm:ss",
}


def rows(n: int) -> Iterator[tuple[Any, ...]]:
    """``n`` deterministic rows of the 10 columns (no random module: the same rows in
    every child, cheap to make)."""
    day0 = dt.date(2020, 1, 1)
    t0 = dt.datetime(2024, 1, 1, 8, 0)
    one_day = dt.timedelta(days=1)
    one_minute = dt.timedelta(minutes=1)
    cents = Decimal("0.01")
    for i in range(n):
        yield (
            i + 1,
            NAMES[i % 8],
            f"customer{i}@example.com",
            CITIES[(i * 3) % 8],
            Decimal(i * 7919 % 10_000_000) * cents,
            i % 97,
            (i % 20) / 100,
            day0 + one_day * (i % 2000),
            t0 + one_minute * i,
            NOTES[i % 6] or None,
        )


# -- the variants (run in a child) -------------------------------------------------------------
def run_crmbook(n: int, path: Path) -> None:
    from crm_core.export.workbook import WorkbookBuilder
    from crm_core.reports import Column

    columns = [Column(name, kind) for name, kind in HEADER]
    with WorkbookBuilder(
        path,
        title="Bench",
        parameters={"rows": n},
        generated_at=dt.datetime(2026, 5, 15, tzinfo=dt.UTC),
    ) as book:
        book.add_table("Data", columns, rows(n), total_rows=n)


def run_raw(n: int, path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Data")
    bold = book.add_format({"bold": True})
    fmt = {kind: book.add_format({"num_format": f}) for kind, f in FORMATS.items()}
    for c, (name, _kind) in enumerate(HEADER):
        sheet.write_string(0, c, name, bold)
    number, string, when = sheet.write_number, sheet.write_string, sheet.write_datetime
    f_int, f_money, f_pct, f_date, f_dt = (
        fmt["int"],
        fmt["money"],
        fmt["percent"],
        fmt["date"],
        fmt["datetime"],
    )
    r = 0
    for r, row in enumerate(rows(n), start=1):
        number(r, 0, row[0], f_int)
        string(r, 1, row[1])
        string(r, 2, row[2])
        string(r, 3, row[3])
        number(r, 4, float(row[4]), f_money)
        number(r, 5, row[5], f_int)
        number(r, 6, row[6], f_pct)
        when(r, 7, row[7], f_date)
        when(r, 8, row[8], f_dt)
        if row[9] is not None:
            string(r, 9, row[9])
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, r, len(HEADER) - 1)
    book.close()


def run_raw_row(n: int, path: Path) -> None:
    import xlsxwriter

    book = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    sheet = book.add_worksheet("Data")
    sheet.write_row(0, 0, [name for name, _ in HEADER], book.add_format({"bold": True}))
    write_row = sheet.write_row
    r = 0
    for r, row in enumerate(rows(n), start=1):
        write_row(r, 0, row)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, r, len(HEADER) - 1)
    book.close()


def run_pandas(n: int, path: Path, engine: str) -> None:
    import pandas as pd

    frame = pd.DataFrame(rows(n), columns=[name for name, _ in HEADER])
    frame.to_excel(path, engine=engine, index=False, sheet_name="Data")


def run_contacts(n: int, path: Path, db: Path) -> None:
    import crm_core

    ws = crm_core.open(db)
    ws.export.xlsx(path, "contacts")
    ws.close()


def make_contacts_db(n: int, db: Path) -> None:
    """A workspace with ``n`` contacts (names, e-mails, phones, cities, a tag each
    tenth), inserted in bulk."""
    from sqlalchemy import insert

    import crm_core
    from crm_core.models import Contact, Tag
    from crm_core.models.party import contact_tags

    ws = crm_core.open(db)
    now = dt.datetime(2026, 5, 15, tzinfo=dt.UTC)
    with ws.transaction() as s:
        s.add(Tag(name="VIP", name_key="vip"))
    batch = 20_000
    with ws.engine.begin() as conn:
        for start in range(0, n, batch):
            values = [
                {
                    "name": NAMES[i % 8],
                    "name_key": NAMES[i % 8].casefold(),
                    "email": f"customer{i}@example.com",
                    "email_key": f"customer{i}@example.com",
                    "phone": f"+9230012{i % 100000:05d}",
                    "city": CITIES[i % 8],
                    "country": "PK",
                    "active": True,
                    "custom": {},
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(start, min(n, start + batch))
            ]
            conn.execute(insert(Contact), values)
        conn.execute(
            insert(contact_tags),
            [{"contact_id": i, "tag_id": 1} for i in range(1, n + 1, 10)],
        )
    ws.close()


def child(variant: str, n: int, path: Path, db: Path | None) -> None:
    # The same imports in every variant, so their baselines are alike.
    import openpyxl  # noqa: F401
    import pandas  # noqa: F401
    import xlsxwriter  # noqa: F401

    import crm_core.export.workbook  # noqa: F401

    baseline = _peak_mb()
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    if variant == "crmbook":
        run_crmbook(n, path)
    elif variant == "raw":
        run_raw(n, path)
    elif variant == "raw write_row":
        run_raw_row(n, path)
    elif variant == "pandas+xlsxwriter":
        run_pandas(n, path, "xlsxwriter")
    elif variant == "pandas+openpyxl":
        run_pandas(n, path, "openpyxl")
    elif variant == "contacts":
        assert db is not None
        run_contacts(n, path, db)
    elif variant == "make-contacts-db":
        assert db is not None
        make_contacts_db(n, db)
    elif variant != "idle":
        raise SystemExit(f"unknown variant {variant}")
    seconds, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
    size = path.stat().st_size if path.exists() else 0
    print(
        json.dumps(
            {
                "seconds": seconds,
                "cpu_seconds": cpu,
                "peak_mb": _peak_mb(),
                "baseline_mb": baseline,
                "file_mb": size / 1e6,
            }
        )
    )


def _peak_mb() -> float:
    """This process's peak resident memory, in MB.

    On Linux it is ``VmHWM`` of /proc/self/status: ``ru_maxrss`` would not do there,
    since a child started by fork + exec inherits the parent's high-water mark (a
    child of a 300 MB parent reports at least 300 MB). Elsewhere ``ru_maxrss``."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB elsewhere
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1024 / 1024


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- the parent ----------------------------------------------------------------------------------
def measure(variant: str, n: int, tmp: Path, db: Path | None = None) -> dict[str, Any]:
    path = tmp / f"{variant.replace('+', '_').replace(' ', '_')}-{n}.xlsx"
    cmd = [sys.executable, __file__, "--child", variant, "--rows", str(n), "--path", str(path)]
    if db is not None:
        cmd += ["--db", str(db)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{variant} at {n} rows failed:\n{done.stderr}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    path.unlink(missing_ok=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,1000000", help="row counts, comma-separated")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each variant (median)")
    parser.add_argument("--skip-openpyxl", action="store_true", help="leave out pandas+openpyxl")
    parser.add_argument(
        "--contacts", type=int, default=0, help="also export a contacts table of this many rows"
    )
    parser.add_argument("--json", type=Path, default=OUT / "export_xlsx.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.rows, args.path, args.db)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    variants = ["crmbook", "raw", "raw write_row", "pandas+xlsxwriter"]
    if not args.skip_openpyxl:
        variants.append("pandas+openpyxl")
    # The parent stays small (no pandas, no crm_core): the children are the measured.
    print(
        f"Python {platform.python_version()}, xlsxwriter {version('xlsxwriter')}, "
        f"pandas {version('pandas')}, openpyxl {version('openpyxl')}, "
        f"{platform.machine()} ({os.cpu_count()} CPUs)"
    )
    results: dict[str, Any] = {"sizes": {}, "rounds": args.rounds}
    verdicts: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="crmbook-bench-") as tmp_name:
        tmp = Path(tmp_name)
        idle = measure("idle", 0, tmp)
        print(f"idle child (imports only): peak {idle['peak_mb']:.1f} MB")
        results["idle_mb"] = idle["peak_mb"]
        for n in sizes:
            runs: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
            for _ in range(args.rounds):
                for variant in variants:  # alternate, so drift hits every variant alike
                    runs[variant].append(measure(variant, n, tmp))
            table = {v: _summary(n, figures) for v, figures in runs.items()}
            if args.contacts and n == sizes[0]:
                db = tmp / "contacts.sqlite"
                measure("make-contacts-db", args.contacts, tmp, db)
                table["contacts table"] = _summary(
                    args.contacts, [measure("contacts", args.contacts, tmp, db)]
                )
            results["sizes"][n] = table
            print()
            print(f"{n:,} rows x 10 columns")
            print(
                f"  {'variant':<20} {'seconds':>8} {'rows/s':>9} {'CPU s':>8} {'peak MB':>8} "
                f"{'net MB':>7} {'file MB':>8}"
            )
            for variant, row in table.items():
                print(
                    f"  {variant:<20} {row['seconds']:>8.2f} {row['rows_per_s']:>9,.0f} "
                    f"{row['cpu_seconds']:>8.2f} {row['peak_mb']:>8.1f} {row['net_mb']:>7.1f} "
                    f"{row['file_mb']:>8.1f}"
                )
            ours, peer = table["crmbook"], table["raw"]
            speed = ours["rows_per_s"] / peer["rows_per_s"]
            memory = ours["peak_mb"] / peer["peak_mb"]
            net = f"x{ours['net_mb'] / peer['net_mb']:.2f}" if peer["net_mb"] >= 1 else "n/a"
            ok_speed, ok_memory = speed >= SPEED_TARGET, memory <= MEMORY_TARGET
            verdicts += [ok_speed, ok_memory]
            cpu_speed = ours["rows_per_cpu_s"] / peer["rows_per_cpu_s"]
            table["ratios"] = {"speed": speed, "memory": memory, "cpu_speed": cpu_speed}
            print(
                f"  crmbook/raw: speed x{speed:.2f} {'PASS' if ok_speed else 'FAIL'} "
                f"(>= {SPEED_TARGET}x), peak memory x{memory:.2f} "
                f"{'PASS' if ok_memory else 'FAIL'} (<= {MEMORY_TARGET}x); above the "
                f"imports: crmbook {ours['net_mb']:.1f} MB, raw {peer['net_mb']:.1f} MB ({net})"
            )
            print(f"  crmbook/raw by CPU time (less sensitive to a busy machine): x{cpu_speed:.2f}")
            for other in variants[2:]:
                print(
                    f"  crmbook/{other}: speed x"
                    f"{ours['rows_per_s'] / table[other]['rows_per_s']:.2f}, peak memory x"
                    f"{ours['peak_mb'] / table[other]['peak_mb']:.2f}"
                )
    OUT.mkdir(exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    return 0 if all(verdicts) else 1


def _summary(n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    seconds = statistics.median(r["seconds"] for r in runs)
    peak = statistics.median(r["peak_mb"] for r in runs)
    baseline = statistics.median(r["baseline_mb"] for r in runs)
    cpu = statistics.median(r["cpu_seconds"] for r in runs)
    return {
        "seconds": seconds,
        "rows_per_s": n / seconds,
        "cpu_seconds": cpu,
        "rows_per_cpu_s": n / cpu,
        "peak_mb": peak,
        "net_mb": peak - baseline,
        "file_mb": statistics.median(r["file_mb"] for r in runs),
        "runs_seconds": [round(r["seconds"], 2) for r in runs],
    }


if __name__ == "__main__":
    sys.exit(main())
