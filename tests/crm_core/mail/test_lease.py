"""Two processes never fetch one mailbox at once: the lease on its row."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import func, select

from crm_core.mail import lease
from crm_core.models import Interaction, Mailbox
from tests.crm_core.mail.conftest import IMRAN, OWN, message, when

# A fetch in its own process; with a hold file, it waits in its progress callback
# (lease held) until that file exists, so the test can start a second fetch meanwhile.
FETCHER = """
import json, sys, time
from pathlib import Path
import crm_core

location, started, hold = sys.argv[1], Path(sys.argv[2]), sys.argv[3]

def progress(report, done, total):
    started.touch()
    while hold != "-" and not Path(hold).exists():
        time.sleep(0.05)

with crm_core.open(location, create=False) as ws:
    [report] = ws.mail.fetch("sales", progress=progress)
print(json.dumps({"busy": report.busy, "created": report.created, "error": report.error}))
"""


def _start(tmp_path: Path, location: str, name: str, hold: str) -> subprocess.Popen[str]:
    script = tmp_path / "fetcher.py"
    script.write_text(FETCHER)
    return subprocess.Popen(
        [sys.executable, str(script), location, str(tmp_path / f"{name}.started"), hold],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[3],
    )


def _result(proc: subprocess.Popen[str]) -> dict[str, object]:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return dict(json.loads(out.strip().splitlines()[-1]))


def test_two_processes_never_fetch_one_mailbox_at_once(crm, backend, tmp_path):
    ws, server = crm["ws"], crm["server"]
    for n in range(5):
        server.append(
            message(
                frm=IMRAN,
                to=OWN,
                subject=f"Order {n}",
                mid=f"<o{n}@k.example.com>",
                date=when(12, 9, n),
            )
        )
    release = tmp_path / "release"
    first = _start(tmp_path, backend, "first", str(release))
    deadline = time.monotonic() + 60
    while not (tmp_path / "first.started").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "the first fetch never started"
        time.sleep(0.05)

    second = _start(tmp_path, backend, "second", "-")  # while the first holds the lease
    assert _result(second) == {"busy": True, "created": 0, "error": None}
    release.touch()
    assert _result(first) == {"busy": False, "created": 5, "error": None}

    with ws.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 5
        box = s.scalars(select(Mailbox)).one()
        assert (box.lease_owner, box.lease_until) == (None, None)  # given back


def test_a_lease_left_by_a_dead_process_expires(crm, clock):
    ws, server = crm["ws"], crm["server"]
    server.append(
        message(frm=IMRAN, to=OWN, subject="Hi", mid="<h@k.example.com>", date=when(12, 9))
    )
    with ws.transaction() as s:
        box_id = s.scalar(select(Mailbox.id))
        assert lease.take(s, box_id, "crashed-host:4242:dead", clock())
    [blocked] = ws.mail.fetch("sales")
    assert blocked.busy and blocked.fetched == 0
    assert str(blocked) == (
        "sales: another process is fetching it (its lease runs to "
        f"{clock() + lease.LEASE_TTL:%Y-%m-%d %H:%M} UTC unless it goes on working: a "
        "process of another machine that stopped holds it till then); nothing done"
    )
    assert bool(ws.mail.status()["fetching"][0]) is True

    clock.advance(minutes=11)  # past the ten-minute lease
    [report] = ws.mail.fetch("sales")
    assert (report.busy, report.created) == (False, 1)
    assert bool(ws.mail.status()["fetching"][0]) is False


def test_a_lease_of_a_killed_process_of_this_machine_is_taken_over_at_once(crm, clock):
    """SIGKILLed in the middle of a fetch: the next fetch on this machine sees that no
    process has the lease's process id and fetches, without waiting ten minutes."""
    ws, server = crm["ws"], crm["server"]
    server.append(
        message(frm=IMRAN, to=OWN, subject="Hi", mid="<h@k.example.com>", date=when(12, 9))
    )
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    dead = f"{lease.holder().split(':')[0]}:{gone.stdout.strip()}:deadbeef"
    assert lease.gone(dead) and not lease.gone(lease.holder())
    with ws.transaction() as s:
        assert lease.take(s, s.scalar(select(Mailbox.id)), dead, clock())

    [report] = ws.mail.fetch("sales")

    assert (report.busy, report.created) == (False, 1)
