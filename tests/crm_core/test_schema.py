"""The workspace's schema: atomic migrations, no silent upgrades, backups and restores,
one line for a newer workspace, and two processes creating one workspace at once.

Each test runs on a database of its own (a SQLite file, or a PostgreSQL database made
for it), since they create, downgrade, migrate and restore whole schemas.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import crm_core
from crm_core import backups, db
from crm_core.cli import app, load_plugins
from tests.conftest import PG_ADMIN_URL, _pg_unavailable

runner = CliRunner()
HEAD = db.head_revision()


def _new_pg_database() -> tuple[str, str]:
    name = f"crmbook_schema_{uuid.uuid4().hex[:8]}"
    try:
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
    except Exception as exc:
        _pg_unavailable(str(exc).splitlines()[0])
    return name, make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def location(request, tmp_path) -> Iterator[str]:
    """Where a new workspace goes: a SQLite file not yet made, or an empty database."""
    if request.param == "sqlite":
        yield str(tmp_path / "crm.sqlite")
        return
    name, url = _new_pg_database()
    yield url
    _drop_pg_database(name)


@pytest.fixture
def pg_pair() -> Iterator[tuple[str, str]]:
    """Two empty PostgreSQL databases (a workspace and a restore target)."""
    first, first_url = _new_pg_database()
    second, second_url = _new_pg_database()
    yield first_url, second_url
    _drop_pg_database(first)
    _drop_pg_database(second)


def _fill(location: str) -> dict:
    """A few records with values that must come back exactly; returns them."""
    with crm_core.open(location) as ws:
        company = ws.companies.create(name="Indus Textiles (Pvt) Ltd", city="Karachi")
        contact = ws.contacts.create(
            name="ثنا خان", email="sana@indus.example", company=company["id"]
        )
        deal = ws.pipeline.create(
            "Uniforms 2027",
            company=company["id"],
            expected_revenue="1234567.89",
            currency="PKR",
        )
        ws.pipeline.move(deal["id"], "Qualified")
        return {"company": company["id"], "contact": contact["id"], "deal": deal["id"]}


def _snapshot(location: str) -> dict:
    with crm_core.open(location) as ws:
        with ws.transaction() as s:
            rows = {
                table: s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("companies", "contacts", "opportunities", "journal", "stages")
            }
            rows["revenue"] = s.execute(
                text("SELECT expected_revenue FROM opportunities")
            ).scalar_one()
            rows["names"] = sorted(s.execute(text("SELECT name FROM contacts")).scalars())
            rows["stage"] = s.execute(
                text("SELECT s.name FROM opportunities o JOIN stages s ON s.id = o.stage_id")
            ).scalar_one()
        return rows


def _revision(location: str) -> str | None:
    engine = db.make_engine(location)
    try:
        return db.current_revision(engine)
    finally:
        engine.dispose()


def _columns(location: str, table: str) -> set[str]:
    engine = db.make_engine(location)
    try:
        return {c["name"] for c in inspect(engine).get_columns(table)}
    finally:
        engine.dispose()


def _tables(location: str) -> set[str]:
    engine = db.make_engine(location)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _make_0005(location: str) -> dict:
    """A workspace with data, taken back to schema 0005 (as an older crmbook left it)."""
    ids = _fill(location)
    engine = db.make_engine(location)
    db.downgrade(engine, "0005")
    engine.dispose()
    assert _revision(location) == "0005"
    return ids


def _backups_beside(location: str) -> list[Path]:
    folder = Path(location).parent
    return sorted(folder.glob("*.backup-*"))


# -- a new workspace ---------------------------------------------------------------------
def test_a_new_workspace_gets_schema_pipeline_and_version_in_one_go(location):
    with crm_core.open(location) as ws:
        assert ws.info()["pipelines"] == 1
        assert ws.pipeline.stages()["name"].tolist() == [
            "New",
            "Qualified",
            "Proposition",
            "Negotiation",
            "Won",
            "Lost",
        ]
        assert len(ws.pipeline.lost_reasons()) == 5
        with ws.transaction() as s:
            by = s.execute(
                text("SELECT value FROM settings WHERE key = 'schema_written_by'")
            ).scalar_one()
        assert by == crm_core.__version__
    assert _revision(location) == HEAD


# -- an older workspace ------------------------------------------------------------------
def test_an_older_workspace_is_not_upgraded_silently(location, tmp_path):
    _make_0005(location)
    with pytest.raises(crm_core.SchemaError) as refused:
        crm_core.open(location)
    assert "has schema 0005" in str(refused.value)
    assert "crmbook migrate -w" in str(refused.value)
    assert refused.value.command is not None and "crmbook migrate" in refused.value.command
    assert _revision(location) == "0005"
    assert "unvalidated" not in _columns(location, "contacts")


def test_open_with_migrate_backs_up_then_upgrades(location, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a PostgreSQL dump goes to the current folder
    ids = _make_0005(location)
    with crm_core.open(location, migrate=True) as ws:
        assert ws.companies.get(ids["company"])["name"] == "Indus Textiles (Pvt) Ltd"
        assert ws.info()["pipelines"] == 1  # upgrading seeds nothing
    assert _revision(location) == HEAD
    assert "unvalidated" in _columns(location, "contacts")
    made = sorted(tmp_path.glob("*.backup-*"))
    assert len(made) == 1
    assert stat.S_IMODE(made[0].stat().st_mode) == 0o600


def _broken_scripts(tmp_path: Path) -> Path:
    """crm_core's migrations with 0006 failing after all of its DDL has run."""
    scripts = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    step = scripts / "versions" / "0006_nothing_lost.py"
    source = step.read_text()
    marker = "def downgrade() -> None:"
    broken = source.replace(
        marker,
        "def _fail():\n    raise RuntimeError('step 0006 broke at its end')\n\n\n" + marker,
    )
    # the last statement of upgrade() is followed by the failure
    broken = broken.replace(
        "    op.execute(\"DELETE FROM sync_state WHERE key LIKE 'push:retry:%'\")\n",
        "    op.execute(\"DELETE FROM sync_state WHERE key LIKE 'push:retry:%'\")\n    _fail()\n",
    )
    assert broken.count("_fail()") == 2
    step.write_text(broken)
    return scripts


def test_a_failing_migration_leaves_the_previous_schema_intact(location, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _make_0005(location)
    before = _snapshot_0005(location)
    real = db.MIGRATIONS
    monkeypatch.setattr(db, "MIGRATIONS", _broken_scripts(tmp_path))
    with pytest.raises(RuntimeError, match="step 0006 broke"):
        crm_core.migrate(location)
    monkeypatch.setattr(db, "MIGRATIONS", real)
    # Every DDL statement of 0006 ran before the failure, and none of it stayed.
    assert _revision(location) == "0005"
    assert "unvalidated" not in _columns(location, "contacts")
    assert "heartbeat_at" not in _columns(location, "sync_runs")
    assert "sync_failures" not in _tables(location)
    assert _snapshot_0005(location) == before
    # and the real migration then goes through
    assert crm_core.migrate(location) is not None
    assert _revision(location) == HEAD
    assert "sync_failures" in _tables(location)


def _snapshot_0005(location: str) -> dict:
    """Row counts and values read with plain SQL (the models are at the new schema)."""
    engine = db.make_engine(location)
    try:
        with engine.connect() as conn:
            return {
                "counts": [
                    conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in ("companies", "contacts", "opportunities", "journal", "stages")
                ],
                "revenue": conn.execute(
                    text("SELECT expected_revenue FROM opportunities")
                ).scalar_one(),
                "names": sorted(conn.execute(text("SELECT name FROM contacts")).scalars()),
            }
    finally:
        engine.dispose()


def test_a_failed_new_workspace_leaves_nothing_half_made(location, tmp_path, monkeypatch):
    real = db.MIGRATIONS
    monkeypatch.setattr(db, "MIGRATIONS", _broken_scripts(tmp_path))
    with pytest.raises(RuntimeError, match="step 0006 broke"):
        crm_core.open(location)
    monkeypatch.setattr(db, "MIGRATIONS", real)
    assert _tables(location) == set()
    with crm_core.open(location) as ws:  # the next open makes it whole
        assert ws.info()["pipelines"] == 1
        assert len(ws.pipeline.stages()) == 6


# -- a newer workspace -------------------------------------------------------------------
def _make_newer(location: str) -> None:
    crm_core.open(location).close()
    engine = db.make_engine(location)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
        conn.execute(text("UPDATE settings SET value = '7.3' WHERE key = 'schema_written_by'"))
    engine.dispose()


NEWER = "this workspace was made by crmbook 7.3 (schema 0099); this is crmbook {}: upgrade crmbook"


def test_a_newer_workspace_gets_one_line(location):
    _make_newer(location)
    expected = NEWER.format(crm_core.__version__)
    for call in (
        lambda: crm_core.open(location),
        lambda: crm_core.open(location, migrate=True),
        lambda: crm_core.migrate(location),
    ):
        with pytest.raises(crm_core.SchemaError) as refused:
            call()
        assert str(refused.value) == expected
    assert _revision(location) == "0099"


def _crmbook(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("crmbook")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "crm_core.cli"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "60"},
        timeout=300,
    )


def test_the_cli_prints_the_newer_workspace_line_alone(tmp_path):
    path = tmp_path / "new.sqlite"
    _make_newer(str(path))
    expected = "error: " + NEWER.format(crm_core.__version__)
    for args in (["info", "-w", "new.sqlite"], ["migrate", "-w", "new.sqlite"]):
        done = _crmbook(*args, cwd=tmp_path)
        assert done.returncode == 1
        # one line, however narrow the terminal, and no traceback
        assert done.stderr.splitlines() == [expected], done.stderr
        assert done.stdout == ""


# -- commands that only read ----------------------------------------------------------------
READING = [
    ["info"],
    ["contacts", "search", "khan"],
    ["report"],
    ["report", "funnel"],
    ["user", "list"],
    ["sync", "status"],
    ["export", "contacts", "--xlsx", "out.xlsx"],
]


@pytest.mark.parametrize("command", READING, ids=lambda c: " ".join(c[:2]))
def test_reading_commands_never_migrate(command, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    load_plugins()
    path = tmp_path / "old.sqlite"
    _make_0005(str(path))
    size = path.stat().st_size
    result = runner.invoke(app, [*command, "-w", str(path)], env={"COLUMNS": "300"})
    assert result.exit_code == 1, result.output
    assert "has schema 0005" in result.output
    assert f"crmbook migrate -w {path}" in result.output
    assert "Traceback" not in result.output
    assert _revision(str(path)) == "0005"
    assert path.stat().st_size == size
    assert _backups_beside(str(path)) == []
    assert not (tmp_path / "out.xlsx").exists()


def test_reading_commands_do_not_create_a_workspace(location):
    if "://" in location:
        result = runner.invoke(app, ["info", "-w", location])
        assert result.exit_code == 1
        assert "no workspace at" in result.output and "crmbook init" in result.output
        assert _tables(location) == set()
    with pytest.raises(crm_core.SchemaError, match="no workspace at"):
        crm_core.open(location, create=False)
    if "://" not in location:
        assert not Path(location).exists()


# -- migrate, backup, restore -------------------------------------------------------------
def test_crmbook_migrate_writes_a_backup_then_upgrades(tmp_path):
    path = tmp_path / "old.sqlite"
    _make_0005(str(path))
    before = _snapshot_0005(str(path))
    done = _crmbook("migrate", "-w", "old.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    saved = _backups_beside(str(path))
    assert len(saved) == 1
    assert saved[0].name.startswith("old.backup-") and saved[0].suffix == ".sqlite"
    assert f"backup written to {saved[0]}" in done.stdout
    assert "upgraded from schema 0005 to" in done.stdout
    assert _revision(str(path)) == HEAD
    # the backup is the workspace as it was: schema 0005, the same rows
    assert _revision(str(saved[0])) == "0005"
    assert _snapshot_0005(str(saved[0])) == before
    again = _crmbook("migrate", "-w", "old.sqlite", cwd=tmp_path)
    assert again.returncode == 0 and "nothing to do" in again.stdout
    assert len(_backups_beside(str(path))) == 1
    info = _crmbook("info", "-w", "old.sqlite", cwd=tmp_path)
    assert info.returncode == 0, info.stderr


def test_backup_and_restore_round_trip(location, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ids = _fill(location)
    before = _snapshot(location)
    saved = crm_core.backup(location, tmp_path / "saved.bak")
    assert saved == tmp_path / "saved.bak"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with crm_core.open(location) as ws:  # changes after the backup
        ws.companies.archive(ids["company"])
        ws.companies.create(name="Made after the backup")
        with ws.transaction() as s:
            s.execute(text("UPDATE opportunities SET expected_revenue = 1"))
    assert _snapshot(location) != before
    with pytest.raises(backups.BackupError, match="not empty"):
        crm_core.restore(saved, location)
    crm_core.restore(saved, location, force=True)
    after = _snapshot(location)
    assert after == before
    assert Decimal(str(after["revenue"])) == Decimal("1234567.89")
    assert after["names"] == ["ثنا خان"]
    assert after["stage"] == "Qualified"
    with crm_core.open(location) as ws:
        assert ws.companies.search("made after")["name"].tolist() == []
        assert ws.companies.get(ids["company"])["active"]


def test_cli_backup_and_restore_into_a_new_workspace(tmp_path):
    path = tmp_path / "shop.sqlite"
    _fill(str(path))
    before = _snapshot(str(path))
    done = _crmbook("backup", "-w", "shop.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    (saved,) = _backups_beside(str(path))
    assert f"backup written to {saved}" in done.stdout
    named = _crmbook("backup", "-w", "shop.sqlite", "copy.sqlite", cwd=tmp_path)
    assert named.returncode == 0 and (tmp_path / "copy.sqlite").exists()
    into = _crmbook("restore", saved.name, "-w", "restored.sqlite", cwd=tmp_path)
    assert into.returncode == 0, into.stderr
    assert _snapshot(str(tmp_path / "restored.sqlite")) == before
    refused = _crmbook("restore", "copy.sqlite", "-w", "shop.sqlite", cwd=tmp_path)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--force" in refused.stderr
    forced = _crmbook("restore", "copy.sqlite", "-w", "shop.sqlite", "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert _snapshot(str(path)) == before
    junk = tmp_path / "junk.bak"
    junk.write_bytes(b"not a database at all")
    bad = _crmbook("restore", "junk.bak", "-w", "other.sqlite", cwd=tmp_path)
    assert bad.returncode == 1 and "not a SQLite workspace backup" in bad.stderr
    assert not (tmp_path / "other.sqlite").exists()


def test_restore_of_an_older_backup_says_to_migrate(tmp_path):
    old = tmp_path / "old.sqlite"
    _make_0005(str(old))
    done = _crmbook("restore", "old.sqlite", "-w", "back.sqlite", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(schema 0005)" in done.stdout and "crmbook migrate -w back.sqlite" in done.stdout
    assert _revision(str(tmp_path / "back.sqlite")) == "0005"


@pytest.mark.postgres
def test_postgresql_restore_into_another_database(pg_pair, tmp_path):
    location, pg_second = pg_pair
    _fill(location)
    before = _snapshot(location)
    saved = crm_core.backup(location, tmp_path / "shop.dump")
    assert saved.read_bytes()[:5] == b"PGDMP"
    crm_core.restore(saved, pg_second)
    assert _snapshot(pg_second) == before
    with crm_core.open(pg_second) as ws:  # sequences restored: new rows get new ids
        assert ws.companies.create(name="Next Ltd")["id"] > 1


def test_pg_dump_older_than_the_server_is_named(tmp_path, monkeypatch, request):
    url = request.getfixturevalue("pg_url")
    fake = tmp_path / "bin"
    fake.mkdir()
    script = fake / "pg_dump"
    script.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 9.6.24'\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(backups.BackupError) as refused:
        crm_core.backup(url, tmp_path / "x.dump")
    message = str(refused.value)
    assert message.startswith("pg_dump 9 is older than the PostgreSQL ")
    assert "postgresql-client-" in message
    assert not (tmp_path / "x.dump").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bin"]


def test_backup_target_names():
    import datetime as dt

    at = dt.datetime(2026, 12, 4, 9, 15, 0, tzinfo=dt.UTC)
    sqlite = backups.default_target("/tmp/nowhere/crm.sqlite", at)
    assert sqlite == Path("/tmp/nowhere/crm.backup-20261204-091500.sqlite")
    pg = backups.default_target("postgresql+psycopg://u:secret@h/shop", at)
    assert pg == Path("shop.backup-20261204-091500.dump")
    assert backups._major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)") == 15
    assert backups._major("pg_dump (PostgreSQL) 17beta1") == 17


# -- two processes, one new workspace -------------------------------------------------------
def _open_and_count(location: str, barrier, out) -> None:
    try:
        barrier.wait(timeout=60)
        with crm_core.open(location) as ws:
            out.put(("ok", ws.info()["pipelines"], len(ws.pipeline.stages())))
    except BaseException as exc:  # reported to the test, which fails on it
        out.put(("error", type(exc).__name__, str(exc)[:300]))


def test_processes_opening_a_new_workspace_at_once_all_succeed(location):
    processes = 4
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes)
    out = spawn.Queue()
    workers = [
        spawn.Process(target=_open_and_count, args=(location, barrier, out))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    results = [out.get(timeout=240) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert results == [("ok", 1, 6)] * processes
    with crm_core.open(location) as ws:
        info = ws.info()
        assert info["pipelines"] == 1
        assert info["journal"] == 12  # one pipeline, six stages, five lost reasons
        assert len(ws.pipeline.lost_reasons()) == 5
