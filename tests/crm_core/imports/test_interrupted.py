"""An import interrupted (Ctrl-C) says what it wrote: the batches before stay, the
re-run goes on. It exited 130 saying nothing (5,000 to 15,000 rows already in), and
once printed a traceback from the worker pool shut down while being collected."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import crm_core
from crm_core.imports import ImportInterrupted, ImportReport


def _people(path: Path, rows: int) -> Path:
    lines = ["Name,E-mail"] + [f"Person {i},p{i}@example.com" for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("workers", [0, 1])
def test_an_interrupted_import_counts_the_batches_it_wrote(
    ws: crm_core.Workspace, tmp_path: Path, workers: int
) -> None:
    people = _people(tmp_path / "people.csv", 50)
    calls = []

    def progress(report: ImportReport, _fraction: float | None) -> None:
        calls.append(report.rows)
        if len(calls) == 2:  # Ctrl-C after the second batch was written
            raise KeyboardInterrupt

    with pytest.raises(ImportInterrupted) as stopped:
        ws.importer.run(people, "contacts", batch_size=10, progress=progress, workers=workers)
    assert stopped.value.written == {"created": 20, "line": 21}
    assert str(stopped.value) == (
        "interrupted: the rows up to line 21 were written (20 created); run the same "
        "import again to go on (those rows come back unchanged)"
    )
    assert ws.contacts.count() == 20
    again = ws.importer.run(people, "contacts", workers=0)
    assert (again.unchanged, again.created) == (20, 30)


def test_an_interrupted_dry_run_wrote_nothing(ws: crm_core.Workspace, tmp_path: Path) -> None:
    people = _people(tmp_path / "people.csv", 30)

    def progress(_report: ImportReport, _fraction: float | None) -> None:
        raise KeyboardInterrupt

    with pytest.raises(ImportInterrupted, match=r"^interrupted: nothing was written$"):
        ws.importer.run(people, "contacts", batch_size=10, progress=progress, dry_run=True)
    assert ws.contacts.count() == 0


def test_ctrl_c_on_the_command_line_says_what_was_written(tmp_path: Path) -> None:
    people = _people(tmp_path / "people.csv", 200_000)
    base = tmp_path / "crm.sqlite"
    crm_core.open(base).close()
    command = [sys.executable, "-m", "crm_core.cli", "import", "contacts", str(people)]
    running = subprocess.Popen(
        [*command, "-w", str(base)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and running.poll() is None:  # a batch is in
        with sqlite3.connect(base, timeout=30) as db:
            if db.execute("SELECT count(*) FROM contacts").fetchone()[0]:
                break
        time.sleep(0.2)
    running.send_signal(signal.SIGINT)
    _out, err = running.communicate(timeout=120)
    assert running.returncode == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err
    said = err.strip().splitlines()[-1]
    with sqlite3.connect(base) as db:
        written = db.execute("SELECT count(*) FROM contacts").fetchone()[0]
    assert written % 5000 == 0 and 0 < written < 200_000
    assert said == (
        f"error: interrupted: the rows up to line {written + 1} were written ({written} "
        "created); run the same import again to go on (those rows come back unchanged)"
    )
