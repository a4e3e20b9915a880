"""Backups of a workspace, and restoring one.

SQLite: SQLite's online backup API (a consistent copy while others read and write),
to a file beside the workspace named with the time. PostgreSQL: a ``pg_dump`` custom
format dump, restored with ``pg_restore --clean --if-exists`` in one transaction. A
backup is written to a temporary name and renamed when complete, owner-only (it holds
every contact); a restore replaces the workspace in one transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import URL, make_url

from crm_core import db
from crm_core.errors import CrmError

#: Milliseconds a backup or restore waits for a workspace another process is writing.
BUSY_MS = 10_000
_SQLITE_MAGIC = b"SQLite format 3\x00"
_PG_MAGIC = b"PGDMP"


class BackupError(CrmError):
    """A backup or restore could not be made; the message says why and what to do."""


def default_target(location: str | Path, now: dt.datetime | None = None) -> Path:
    """Where a backup of ``location`` goes when no file is named: beside a SQLite
    workspace (``crm.sqlite`` -> ``crm.backup-20261204-091500.sqlite``), else in the
    current folder (``<database>.backup-20261204-091500.dump``). A name already taken
    gets a counter."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    url = make_url(db.database_url(location))
    if url.get_backend_name() == "sqlite":
        path = Path(url.database or "workspace.sqlite")
        base, suffix = path.with_suffix(""), path.suffix or ".sqlite"
    else:
        base, suffix = Path(f"{url.database or 'workspace'}"), ".dump"
    target = Path(f"{base}.backup-{stamp}{suffix}")
    n = 1
    while target.exists():
        n += 1
        target = Path(f"{base}.backup-{stamp}-{n}{suffix}")
    return target


def backup(location: str | Path | Engine, target: str | Path | None = None) -> Path:
    """Write a backup of the workspace at ``location`` to ``target`` (default:
    :func:`default_target`) and return its path.

    The file appears only once complete (written under a temporary name first) and
    only its owner may read it. Raises :class:`BackupError` when the workspace does not
    exist or the backup cannot be written.
    """
    url = _url(location)
    out = Path(target) if target is not None else default_target(_location(url))
    out = out.expanduser().resolve()
    if out.is_dir():
        raise BackupError(f"{out} is a folder; name the backup file")
    part = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        # Owner-only from the first byte: a backup holds every contact.
        os.close(os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        if url.get_backend_name() == "sqlite":
            _sqlite_backup(_sqlite_path(url), part)
        else:
            _pg_dump(url, part)
        os.replace(part, out)
    except OSError as exc:
        raise BackupError(f"cannot write the backup {out}: {exc.strerror or exc}") from None
    finally:
        part.unlink(missing_ok=True)
    return out


def restore(source: str | Path, location: str | Path, *, force: bool = False) -> None:
    """Replace the workspace at ``location`` with the backup ``source``.

    Refuses (:class:`BackupError`) when the workspace holds any table, unless
    ``force``. The restore is one transaction: it completes, or the workspace is
    left as it was. A SQLite backup restores into a SQLite workspace, a PostgreSQL
    dump into a PostgreSQL database.
    """
    src = Path(source).expanduser()
    if not src.is_file():
        raise BackupError(f"no backup file at {src}")
    with src.open("rb") as f:
        magic = f.read(16)
    url = _url(location)
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite and not magic.startswith(_SQLITE_MAGIC):
        raise BackupError(f"{src} is not a SQLite workspace backup (made by `crmbook backup`)")
    if not sqlite and not magic.startswith(_PG_MAGIC):
        raise BackupError(f"{src} is not a PostgreSQL dump (pg_dump custom format)")
    where = _location(url)
    if not force and not _empty(url):
        raise BackupError(
            f"the workspace {where} is not empty; restoring would replace it: "
            "add --force (crm_core.restore(..., force=True)) to replace it"
        )
    if sqlite:
        _sqlite_restore(src, _sqlite_path(url))
    else:
        _pg_restore(url, src)


# -- SQLite ------------------------------------------------------------------------------
def _sqlite_path(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("an in-memory SQLite database has no file to back up or restore")
    return Path(url.database)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=BUSY_MS / 1000)
    conn.execute(f"PRAGMA busy_timeout={BUSY_MS}")
    return conn


def _sqlite_backup(path: Path, part: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        raise BackupError(f"no workspace at {path}")
    # A connection of its own, not one of the engine's: the migration holds the write
    # lock on one of those while the backup is taken (WAL lets this one read). Not
    # mode=ro either: a read-only connection cannot remove the -wal and -shm files.
    src = _connect(path)
    dst = sqlite3.connect(part)
    try:
        src.backup(dst)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot back up {path}: {exc}") from None
    finally:
        dst.close()
        src.close()


def _sqlite_restore(src: Path, path: Path) -> None:
    source = _connect(src)
    try:
        ok = source.execute("PRAGMA quick_check").fetchone()
        tables = {r[0] for r in source.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        source.close()
        raise BackupError(f"{src} is not a readable SQLite database: {exc}") from None
    if ok != ("ok",) or "alembic_version" not in tables:
        source.close()
        what = "damaged" if ok != ("ok",) else "not a crmbook workspace"
        raise BackupError(f"{src} is {what}; nothing was restored")
    path.parent.mkdir(parents=True, exist_ok=True)
    target = _connect(path)
    try:
        # The backup API writes every page of the target in one transaction, through
        # the target's own journal (or WAL): other connections see the old workspace
        # or the restored one, a crash leaves the old one, and no stale -wal file can
        # be replayed onto a replaced file (which a rename over it would risk).
        source.backup(target)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot restore into {path}: {exc}") from None
    finally:
        target.close()
        source.close()


# -- PostgreSQL --------------------------------------------------------------------------
def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """The libpq URI of ``url`` without its password, and an environment carrying the
    password (never on a command line, where other users see it)."""
    env = dict(os.environ)
    if url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} not found: PostgreSQL backups need the PostgreSQL client tools "
            "(apt-get install postgresql-client)"
        )
    return found


def _major(version_text: str) -> int:
    """The major version in ``pg_dump (PostgreSQL) 15.20 (Debian ...)`` (0 if none)."""
    match = re.search(r"\)\s*(\d+)", version_text)
    return int(match.group(1)) if match else 0


def _check_version(tool: str, url: URL) -> None:
    """pg_dump refuses a newer server: say which client to install before it fails."""
    out = subprocess.run([tool, "--version"], capture_output=True, text=True, check=False)
    client = _major(out.stdout)
    engine = _engine(url)
    try:
        db.reachable(engine)  # a server down or a database missing: one line naming it
        with engine.connect() as conn:
            server = int(conn.execute(text("SHOW server_version_num")).scalar_one()) // 10000
    finally:
        engine.dispose()
    if client and client < server:
        name = Path(tool).name
        raise BackupError(
            f"{name} {client} is older than the PostgreSQL {server} server and cannot dump "
            f"it: install the version {server} client (apt-get install "
            f"postgresql-client-{server})"
        )


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        detail = "; ".join(lines[-3:]) or f"exit status {done.returncode}"
        raise BackupError(f"{what} failed: {detail}")


def _pg_dump(url: URL, part: Path) -> None:
    tool = _tool("pg_dump")
    _check_version(tool, url)
    uri, env = _libpq(url)
    _run(
        [tool, "--format=custom", "--no-owner", "--no-privileges", f"--file={part}", uri],
        env,
        "pg_dump",
    )


def _pg_restore(url: URL, src: Path) -> None:
    tool = _tool("pg_restore")
    uri, env = _libpq(url)
    _run(
        [
            tool,
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            # all or nothing (it implies --exit-on-error)
            "--single-transaction",
            f"--dbname={uri}",
            str(src),
        ],
        env,
        "pg_restore",
    )


# -- both --------------------------------------------------------------------------------
def _url(location: str | Path | Engine) -> URL:
    if isinstance(location, Engine):
        return location.url
    return make_url(db.database_url(location))


def _engine(url: URL) -> Engine:
    return db.make_engine(url.render_as_string(hide_password=False))


def _location(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ""
    return url.render_as_string(hide_password=True)


def _empty(url: URL) -> bool:
    """Whether the workspace at ``url`` has no table at all (or does not exist)."""
    if url.get_backend_name() == "sqlite":
        path = _sqlite_path(url)
        if not path.exists() or path.stat().st_size == 0:
            return True
        raw = _connect(path)
        try:
            return raw.execute("SELECT count(*) FROM sqlite_master").fetchone() == (0,)
        finally:
            raw.close()
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return not inspect(conn).get_table_names()
    finally:
        engine.dispose()
