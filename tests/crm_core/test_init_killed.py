"""``kill -9`` during ``crmbook init``, at many points: the workspace is then either
not there (nothing, or an empty database the next open makes whole) or complete, and
it always opens again with exactly one pipeline and its stages.

The kills are real SIGKILLs of real ``crmbook init`` processes: at the SQL statement
number N (a child that counts the statements SQLAlchemy sends, and the commits, and
kills itself at the Nth: every moment between two statements gets a kill on a spread
of N), and after wall-clock delays spread over the command's whole run.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import crm_core
from crm_core import db
from tests.conftest import PG_ADMIN_URL, _pg_unavailable

# The child: `crmbook init LOCATION`, killing itself (SIGKILL) at statement KILL_AT
# (0: never; it then reports how many it sent).
CHILD = """
import os, signal, sys
from sqlalchemy import event
from sqlalchemy.engine import Engine

kill_at, location = int(sys.argv[1]), sys.argv[2]
count = 0


def tick(*_args, **_kw):
    global count
    count += 1
    if count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)


event.listen(Engine, "before_cursor_execute", tick)
event.listen(Engine, "commit", tick)
from crm_core.cli import main

sys.argv = ["crmbook", "init", location]
try:
    main()
finally:
    sys.stderr.write(f"statements={count}\\n")
"""

KILL_POINTS = 20
TIMED_KILLS = 8
STAGES = ["New", "Qualified", "Proposition", "Negotiation", "Won", "Lost"]


def _child(kill_at: int, location: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CHILD, str(kill_at), location],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _statements(location: str, cwd: Path) -> tuple[int, float]:
    """Statements a full `crmbook init` sends, and how long it takes."""
    start = time.monotonic()
    done = _child(0, location, cwd)
    took = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    return int(done.stderr.strip().rsplit("statements=", 1)[1]), took


def _spread(total: int, points: int) -> list[int]:
    return sorted({1 + round(i * (total - 1) / (points - 1)) for i in range(points)})


def _sqlite_state(path: Path) -> str:
    """'absent', 'empty' (no table at all) or 'complete' (head and one pipeline); any
    other state fails the test."""
    if not path.exists():
        return "absent"
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables:
            return "empty"
        revision = conn.execute("SELECT version_num FROM alembic_version").fetchall()
        pipelines = conn.execute("SELECT count(*) FROM pipelines").fetchone()[0]
        stages = conn.execute("SELECT count(*) FROM stages").fetchone()[0]
    finally:
        conn.close()
    assert revision == [(db.head_revision(),)], f"half-made: revision {revision}"
    assert (pipelines, stages) == (1, 6), f"half-made: {pipelines} pipelines, {stages} stages"
    return "complete"


def _reopens_whole(location: str) -> None:
    with crm_core.open(location) as ws:
        assert ws.info()["pipelines"] == 1
        assert ws.pipeline.stages()["name"].tolist() == STAGES
        assert len(ws.pipeline.lost_reasons()) == 5


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@pytest.mark.slow
def test_init_killed_at_many_points_on_sqlite(tmp_path: Path):
    path = tmp_path / "crm.sqlite"
    total, took = _statements(str(path), tmp_path)
    assert total > 100  # the whole schema, the pipeline, the settings
    _reopens_whole(str(path))
    seen: dict[str, int] = {}
    for kill_at in _spread(total, KILL_POINTS):
        _fresh(path)
        done = _child(kill_at, str(path), tmp_path)
        assert done.returncode == -signal.SIGKILL, (kill_at, done.stderr)
        state = _sqlite_state(path)
        seen[state] = seen.get(state, 0) + 1
        _reopens_whole(str(path))
    # and the real command, killed after delays spread over its run
    exe = Path(sys.executable).with_name("crmbook")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "crm_core.cli"]
    for i in range(1, TIMED_KILLS + 1):
        _fresh(path)
        proc = subprocess.Popen([*command, "init", str(path)], cwd=tmp_path)
        time.sleep(took * 1.5 * i / TIMED_KILLS)  # the last ones after the run's end
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        state = _sqlite_state(path)
        seen[state] = seen.get(state, 0) + 1
        _reopens_whole(str(path))
    # the kills fell before, during and after the schema's transaction (a quiet machine
    # once left one kill only after it: the timed kills now reach past the run's end)
    assert seen.get("complete", 0) >= 2
    assert seen.get("absent", 0) + seen.get("empty", 0) >= 2
    assert sum(seen.values()) == len(_spread(total, KILL_POINTS)) + TIMED_KILLS


@pytest.mark.postgres
@pytest.mark.slow
def test_init_killed_on_postgresql(tmp_path: Path):
    name = f"crmbook_kill_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        _pg_unavailable(str(exc).splitlines()[0])
    url = make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        total, _took = _statements(url, tmp_path)
        with admin.connect() as conn:  # back to an empty database
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        # in the middle of the schema's transaction: tables created, not committed
        done = _child(total // 2, url, tmp_path)
        assert done.returncode == -signal.SIGKILL, done.stderr
        engine = db.make_engine(url)
        with engine.connect() as conn:
            tables = conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            ).scalar_one()
        engine.dispose()
        assert tables == 0
        _reopens_whole(url)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_kill_points_spread_over_the_run():
    assert _spread(101, 5) == [1, 26, 51, 76, 101]
    assert len(_spread(400, KILL_POINTS)) == KILL_POINTS
    assert os.name == "posix"  # SIGKILL
